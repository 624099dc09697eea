"""The domain as plain Python: timetables, booking requests, seat choice, quotas, refusals.

No SQLAlchemy, no Flask, no Celery, no clock: what is true of trains and seats alone.
"""
