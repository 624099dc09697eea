"""Marshmallow schemas of the public contract (API.md), written by hand.

Request schemas validate and document; response schemas document and shape
what is sent. Station codes, seat numbers and ids are short printable strings.
One module per resource (`timetable`, `departures`, `bookings`, `batches`), and
`common` for what several share; import from the module itself.
"""
