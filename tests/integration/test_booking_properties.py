"""Random sequences of bookings, holds, confirmations, extensions, expiries, releases, partial
cancellations and exchanges on one departure, through the use cases on PostgreSQL. After
every step:

- no leg of a seat is held by two live tickets (active, and not an expired hold);
- what is free, leg by leg, is the capacity less those live tickets, as the readers (search,
  availability, occupancy) answer it;
- every booking's history replays to the booking as it stands.

An expiry is time passing for one hold: its expires_at is moved into the past in
PostgreSQL, whose clock decides every hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from functools import partial

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text

from domain.access import Identity
from domain.booking import BookingRequest, PassengerRequest, TicketRequest
from domain.errors import RailError
from domain.history import replay
from services import allocation, changes, holds
from services.bookings import cancel_booking, submit_booking
from storage import booking_repo, departure_repo, timetable_repo
from tasks.runtime import Runtime
from tests.conftest import unique
from tests.integration.helpers import service_data

STOPS = ("LON", "CAL", "PAR", "BRU", "AMS")
SEATS = ("A1", "A2", "N1", "N2", "N3", "N4")
ALICE = Identity("alice", "client")
NOW = dt.datetime.now(dt.UTC)

segments = st.tuples(st.integers(0, 3), st.integers(1, 4)).filter(lambda s: s[0] < s[1])
tickets = st.builds(
    lambda seg, seat: TicketRequest(STOPS[seg[0]], STOPS[seg[1]], seat),
    segments,
    st.none() | st.sampled_from(SEATS),
)
parties = st.lists(tickets, min_size=1, max_size=3)


# The tickets that hold their seats now, and time passing for one hold.
LIVE = text(
    "SELECT seat, lower(legs), upper(legs) FROM tickets WHERE service_id = :s AND date = :d"
    " AND active AND (hold_expires_at IS NULL OR hold_expires_at > now())"
)
LAPSE = text(
    "WITH b AS (UPDATE bookings SET expires_at = now() - interval '1 second'"
    " WHERE reference = :r AND status = 'held' RETURNING id, expires_at)"
    " UPDATE tickets t SET hold_expires_at = b.expires_at FROM b WHERE t.booking_id = b.id"
)


class Departure(RuleBasedStateMachine):
    """One departure (of a service of its own: 2 first, 4 second seats) changed at random."""

    engine: Engine  # set by the test
    runtime: Runtime

    @initialize()
    def new_departure(self) -> None:
        self.service = unique("P")
        with self.engine.begin() as conn:
            timetable_repo.save_service(conn, self.service, service_data())
        self.date = dt.date.today() + dt.timedelta(days=20)
        self.refs: list[str] = []

    def uow(self):  # type: ignore[no-untyped-def]
        return self.runtime.unit_of_work()

    def request(self, party: list[TicketRequest], hold: int | None = None) -> BookingRequest:
        passengers = tuple(PassengerRequest(f"P{i}", (t,)) for i, t in enumerate(party))
        return BookingRequest(self.service, self.date, "any", passengers, hold_seconds=hold)

    def submit(self, request: BookingRequest, replaces: str | None = None) -> None:
        """Submit and serve it, unless it is refused at once (then nothing was stored)."""
        s = self.runtime.settings
        try:
            submit_booking(
                self.uow(), lambda wake: None, s, ALICE, request, now=NOW, replaces=replaces
            )
        except RailError:
            return
        allocation.serve_departure(self.runtime.unit_of_work, s, self.service, self.date)
        with self.engine.connect() as conn:
            rows = booking_repo.list_bookings(
                conn, None, service_id=self.service, date=self.date, after_id=0, limit=999
            )
        self.refs = [r.reference for r in rows]

    def pick(self, data: st.DataObject, *statuses: str) -> str:
        """A booking of the departure, most often one in one of these statuses (the others
        show what is refused)."""
        with self.engine.connect() as conn:
            rows = booking_repo.list_bookings(
                conn, None, service_id=self.service, date=self.date, after_id=0, limit=999
            )
        wanted = [r.reference for r in rows if booking_repo.status_of(r) in statuses]
        if wanted and data.draw(st.integers(0, 9)):
            return data.draw(st.sampled_from(wanted))
        return data.draw(st.sampled_from(self.refs))

    @rule(party=parties, hold=st.booleans())
    def book(self, party: list[TicketRequest], hold: bool) -> None:
        self.submit(self.request(party, 600 if hold else None))

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), party=parties)
    def exchange(self, data: st.DataObject, party: list[TicketRequest]) -> None:
        self.submit(self.request(party), replaces=self.pick(data, "confirmed"))

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), action=st.sampled_from(["confirm", "extend", "release"]))
    def change_hold(self, data: st.DataObject, action: str) -> None:
        reference = self.pick(data, "held")
        with contextlib.suppress(RailError):
            if action == "confirm":
                holds.confirm(self.uow(), ALICE, reference)
            elif action == "extend":
                holds.extend(self.uow(), ALICE, self.runtime.settings, reference, 300)
            else:
                cancel_booking(self.uow(), ALICE, reference)

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def time_passes(self, data: st.DataObject) -> None:
        """A hold's expiry passes (by PostgreSQL's clock)."""
        with self.engine.begin() as conn:
            conn.execute(LAPSE, {"r": self.pick(data, "held")})

    @precondition(lambda self: self.refs)
    @rule(data=st.data(), who=st.none() | st.lists(st.integers(0, 2), min_size=1, unique=True))
    def cancel_part(self, data: st.DataObject, who: list[int] | None) -> None:
        reference = self.pick(data, "confirmed", "held")
        with self.engine.connect() as conn:
            row = booking_repo.find_booking(conn, reference, None)
            (booking,) = booking_repo.load_bookings(conn, [row])
        # Most often a stop inside one of its tickets (a cut), else any stop or none.
        inside = [
            STOPS[k]
            for p in booking.passengers
            for t in p.tickets
            for k in range(t.start + 1, t.end)
        ]
        stop = data.draw(st.sampled_from(inside) if inside else st.none())
        if data.draw(st.integers(0, 3)) == 0:
            stop = data.draw(st.none() | st.sampled_from(STOPS[1:]))
        with contextlib.suppress(RailError):
            changes.cancel_part(self.uow(), ALICE, reference, who, stop)

    @rule()
    def sweep(self) -> None:
        holds.sweep(self.runtime.unit_of_work)

    @invariant()
    def no_leg_is_sold_twice_and_the_readers_agree(self) -> None:
        if not hasattr(self, "date"):
            return
        with self.engine.connect() as conn:
            live = conn.execute(LIVE, {"s": self.service, "d": self.date}).all()
            service = timetable_repo.load_service(conn, self.service)
            loads = departure_repo.leg_loads(conn, service, self.date)
            free_on = partial(departure_repo.free_seats_between, conn, service, self.date)
            for seat in SEATS:
                ranges = sorted((a, b) for n, a, b in live if n == seat)
                assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(ranges)), seat
            for leg in range(len(STOPS) - 1):
                taken = {n for n, a, b in live if a <= leg < b}
                assert {x.number for x in free_on(leg, leg + 1, None)} == set(SEATS) - taken
                assert sum(loads[leg].values()) == len(taken)

    @invariant()
    def every_history_replays_to_its_booking(self) -> None:
        if not hasattr(self, "date"):
            return
        with self.engine.connect() as conn:
            rows = booking_repo.list_bookings(
                conn, None, service_id=self.service, date=self.date, after_id=0, limit=999
            )
            for booking in booking_repo.load_bookings(conn, rows):
                events = booking_repo.history(conn, booking.id)
                status, shown = replay((e.action, e.details) for e in events)
                if status == "held" and booking.status == "expired":
                    status = "expired"  # lapsed and not marked yet: its record is the clock
                assert status == booking.status, [e.action for e in events]
                assert shown == {
                    (p, t.position): (t.seat, t.origin, t.destination)
                    for p, passenger in enumerate(booking.passengers)
                    for t in passenger.tickets
                }


def test_random_changes_keep_the_inventory_and_the_history_true(
    engine: Engine, runtime: Runtime
) -> None:
    Departure.engine, Departure.runtime = engine, runtime
    run_state_machine_as_test(
        Departure,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,  # leave no .hypothesis directory behind in the project
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
