"""The exclusion constraint: PostgreSQL alone refuses to sell a leg of a seat twice.

Stops of LON-AMS: LON 0, CAL 1, PAR 2, BRU 3, AMS 4; a ticket holds its seat on the
half-open legs [start, end).
"""

from __future__ import annotations

import datetime as dt

import psycopg.errors
import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from domain.booking import BookingRequest, PassengerRequest, TicketRequest
from domain.seating import Assignment
from storage import booking_repo
from storage.tables import Booking, Passenger, Ticket
from tests.integration.helpers import bookings_of, load, sell, tickets_of

LON, CAL, PAR, BRU, AMS = range(5)


def assert_double_sale(err: pytest.ExceptionInfo[IntegrityError]) -> None:
    assert isinstance(err.value.orig, psycopg.errors.ExclusionViolation)
    assert err.value.orig.diag.constraint_name == "tickets_no_double_sale"


@pytest.mark.parametrize(
    ("held", "asked"),
    [
        ((LON, AMS), (LON, AMS)),
        ((LON, PAR), (CAL, BRU)),
        ((CAL, BRU), (LON, PAR)),
        ((LON, AMS), (PAR, BRU)),
        ((PAR, BRU), (LON, AMS)),
    ],
    ids=["same-legs", "overlap-ahead", "overlap-behind", "inside", "around"],
)
def test_an_overlapping_active_ticket_on_the_same_seat_and_departure_is_rejected(
    engine: Engine, new_service, day: dt.date, held, asked
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, service, day, "A1", *held)

    with pytest.raises(IntegrityError) as err, engine.begin() as conn:
        sell(conn, service, day, "A1", *asked)

    assert_double_sale(err)
    # The refused booking left nothing behind: its booking row went with its tickets.
    assert len(bookings_of(engine, service.id, day)) == 1
    assert [(t.seat, t.legs.lower, t.legs.upper) for t in tickets_of(engine, service.id, day)] == [
        ("A1", *held)
    ]


def test_adjacent_legs_share_a_seat(engine: Engine, new_service, day: dt.date) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, service, day, "A1", LON, PAR)
    with engine.begin() as conn:
        sell(conn, service, day, "A1", PAR, AMS)
    with engine.begin() as conn:
        sell(conn, service, day, "A2", CAL, PAR)
        sell(conn, service, day, "A2", LON, CAL)
        sell(conn, service, day, "A2", PAR, BRU)

    legs = sorted((t.seat, t.legs.lower, t.legs.upper) for t in tickets_of(engine, service.id, day))
    assert legs == [
        ("A1", LON, PAR),
        ("A1", PAR, AMS),
        ("A2", LON, CAL),
        ("A2", CAL, PAR),
        ("A2", PAR, BRU),
    ]


def test_the_same_legs_on_another_date_are_accepted(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, service, day, "A1", LON, AMS)
    with engine.begin() as conn:
        sell(conn, service, day + dt.timedelta(days=1), "A1", LON, AMS)

    assert len(tickets_of(engine, service.id, day)) == 1
    assert len(tickets_of(engine, service.id, day + dt.timedelta(days=1))) == 1


def test_the_same_legs_on_another_seat_are_accepted(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, service, day, "A1", LON, AMS)
    with engine.begin() as conn:
        sell(conn, service, day, "A2", LON, AMS)
        sell(conn, service, day, "N1", LON, AMS)

    assert sorted(t.seat for t in tickets_of(engine, service.id, day)) == ["A1", "A2", "N1"]


def test_the_same_seat_and_legs_on_another_service_are_accepted(
    engine: Engine, new_service, day: dt.date
) -> None:
    one, other = load(engine, new_service()), load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, one, day, "A1", LON, AMS)
    with engine.begin() as conn:
        sell(conn, other, day, "A1", LON, AMS)

    assert len(tickets_of(engine, one.id, day)) == 1
    assert len(tickets_of(engine, other.id, day)) == 1


def test_two_overlapping_tickets_in_one_transaction_are_rejected_together(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())

    with pytest.raises(IntegrityError) as err, engine.begin() as conn:
        sell(conn, service, day, "N2", LON, BRU)
        sell(conn, service, day, "N2", BRU, AMS)  # adjacent: fine
        sell(conn, service, day, "N2", PAR, AMS)  # overlaps both

    assert_double_sale(err)
    assert bookings_of(engine, service.id, day) == []
    assert tickets_of(engine, service.id, day) == []


def test_a_cancelled_booking_no_longer_blocks_its_seat(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        first = sell(conn, service, day, "A1", LON, AMS, owner="carol")
    reference = bookings_of(engine, service.id, day)[0].reference

    with engine.begin() as conn:
        assert booking_repo.cancel_booking(conn, reference, "carol") == (
            first,
            "carol",
            "confirmed",
        )
        cancelled = booking_repo.find_booking(conn, reference, None)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None

    with engine.begin() as conn:
        second = sell(conn, service, day, "A1", CAL, PAR)

    assert [(t.booking_id, t.seat) for t in tickets_of(engine, service.id, day)] == [(second, "A1")]
    with engine.connect() as conn:
        kept = conn.execute(
            select(Ticket.__table__.c.active).where(Ticket.__table__.c.booking_id == first)
        ).scalars()
        assert list(kept) == [False]  # the cancelled ticket is kept, inactive


def test_cancelling_twice_keeps_the_first_cancellation(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        sell(conn, service, day, "A1", LON, AMS, owner="carol")
    reference = bookings_of(engine, service.id, day)[0].reference
    with engine.begin() as conn:
        assert booking_repo.cancel_booking(conn, reference, "carol")[2] == "confirmed"
        once = booking_repo.find_booking(conn, reference, None)
    with engine.begin() as conn:
        assert booking_repo.cancel_booking(conn, reference, None)[2] is None  # nothing to do
        twice = booking_repo.find_booking(conn, reference, None)

    assert twice.status == "cancelled"
    assert twice.cancelled_at == once.cancelled_at


def test_the_constraint_holds_for_raw_inserts_that_bypass_the_repository(
    engine: Engine, new_service, day: dt.date
) -> None:
    service_id = new_service()
    bookings, passengers, tickets = Booking.__table__, Passenger.__table__, Ticket.__table__

    def raw_ticket(conn, reference: str, seat: str, legs: Range[int], active: bool = True) -> None:
        booking_id = conn.execute(
            insert(bookings)
            .values(reference=reference, owner="raw", service_id=service_id, date=day)
            .returning(bookings.c.id)
        ).scalar_one()
        conn.execute(insert(passengers).values(booking_id=booking_id, position=0, name="Raw"))
        conn.execute(
            insert(tickets).values(
                booking_id=booking_id,
                passenger=0,
                position=0,
                service_id=service_id,
                date=day,
                seat=seat,
                legs=legs,
                origin="x",
                destination="y",
                active=active,
            )
        )

    with engine.begin() as conn:
        raw_ticket(conn, f"R{service_id}a", "A1", Range(1, 3, bounds="[)"))
        raw_ticket(conn, f"R{service_id}b", "A1", Range(3, 4, bounds="[)"))
        # An inactive ticket never takes part in the constraint.
        raw_ticket(conn, f"R{service_id}c", "A1", Range(0, 4, bounds="[)"), active=False)
    with pytest.raises(IntegrityError) as err, engine.begin() as conn:
        # The closed [0, 2] is [0, 3) as an int4range: it overlaps [1, 3).
        raw_ticket(conn, f"R{service_id}d", "A1", Range(0, 2, bounds="[]"))

    assert_double_sale(err)
    assert len(tickets_of(engine, service_id, day)) == 2


def test_a_booking_is_written_whole_with_its_passengers_and_their_tickets(
    engine: Engine, new_service, day: dt.date
) -> None:
    service = load(engine, new_service())
    seats = service.seat_by_number
    req = BookingRequest(
        service=service.id,
        date=day,
        seating="any",
        passengers=(
            PassengerRequest(
                "Mary", (TicketRequest("LON", "PAR", "A1"), TicketRequest("PAR", "AMS", "A2"))
            ),
            PassengerRequest("Ada", (TicketRequest("CAL", "BRU", "N1"),)),
        ),
        hold_seconds=120,
    )
    given = [
        Assignment(0, 0, seats["A1"], LON, PAR),
        Assignment(0, 1, seats["A2"], PAR, AMS),
        Assignment(1, 0, seats["N1"], CAL, BRU),
    ]
    with engine.begin() as conn:
        booking_id = booking_repo.insert_booking(conn, "alice", service, req, given)
    with engine.connect() as conn:
        row = booking_repo.bookings_by_id(conn, [booking_id])[booking_id]
        (booking,) = booking_repo.load_bookings(conn, [row])

    assert (booking.owner, booking.status, booking.service, booking.date) == (
        "alice",
        "held",
        service.id,
        day,
    )
    assert [
        (p.name, [(t.origin, t.destination, t.seat, t.start, t.end) for t in p.tickets])
        for p in booking.passengers
    ] == [
        ("Mary", [("LON", "PAR", "A1", LON, PAR), ("PAR", "AMS", "A2", PAR, AMS)]),
        ("Ada", [("CAL", "BRU", "N1", CAL, BRU)]),
    ]
    # Every ticket of a hold carries its expiry, which PostgreSQL set from the hold's length.
    tickets = tickets_of(engine, service.id, day)
    assert {t.hold_expires_at for t in tickets} == {booking.expires_at}
    assert (
        dt.timedelta(seconds=119) < booking.expires_at - row.created_at <= dt.timedelta(seconds=121)
    )


def test_a_reference_already_taken_is_drawn_again_and_nothing_is_written_twice(
    engine: Engine, new_service, day: dt.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = load(engine, new_service())
    with engine.begin() as conn:
        first = sell(conn, service, day, "A1", LON, PAR)
        taken = booking_repo.bookings_by_id(conn, [first])[first].reference
    drawn = iter([taken, "NEWREF23"])
    monkeypatch.setattr(booking_repo, "new_reference", lambda: next(drawn))

    with engine.begin() as conn:
        second = sell(conn, service, day, "A2", LON, PAR)

    assert [b.reference for b in bookings_of(engine, service.id, day)] == [taken, "NEWREF23"]
    assert [(t.booking_id, t.seat) for t in tickets_of(engine, service.id, day)] == [
        (first, "A1"),
        (second, "A2"),
    ]
