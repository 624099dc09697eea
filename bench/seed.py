"""Seed a benchmark database with a large, valid inventory, straight through the tables.

    python -m bench.seed [--database-url URL] [--departures 10000] [--tickets 1000000]
                         [--seed 1] [--start-date YYYY-MM-DD] [--reset] [--verify] [--force]

The timetable goes through storage.timetable_repo; bookings, passengers and
tickets are generated in memory (bench/seed_bookings.py) and written with COPY,
one transaction per chunk of departures on a few connections at once, while
the next chunks are generated.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import os
import queue
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.seed_bookings import Chunk, Layout, chunks, plan_departures
from bench.seed_timetable import ROUTES, plan_calendar, timetable_document
from settings import load_settings, sqlalchemy_url
from storage import timetable_repo

ROOT = Path(__file__).resolve().parent.parent

BOOKING_COLUMNS = "id, reference, owner, service_id, date, status, created_at, cancelled_at"
PASSENGER_COLUMNS = "booking_id, position, name"
TICKET_COLUMNS = (
    "id, booking_id, passenger, position, service_id, date, seat, legs, origin, destination, active"
)


class SeedError(RuntimeError):
    """The seed cannot run as asked; the message says why and what to do."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, seed, print figures; 0 when every row landed."""
    args = _parser().parse_args(argv)
    url = sqlalchemy_url(args.database_url or load_settings().database_url)
    database = make_url(url).database or ""
    if "bench" not in database and not args.force:
        print(
            f"seed: refusing to write to database {database!r}: its name lacks 'bench' "
            "(pass --force to seed it anyway)",
            file=sys.stderr,
        )
        return 2
    try:
        return seed(url, args)
    except SeedError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2


def seed(url: str, args: argparse.Namespace) -> int:
    """Schema, timetable, inventory, statistics; returns 1 if the database lacks rows."""
    began = time.perf_counter()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with _step("schema" + (" (dropped and rebuilt)" if args.reset else "")):
            prepare_schema(engine, url, reset=args.reset)

        services, days, short = plan_calendar(args.departures, args.services)
        start: dt.date = args.start_date
        with _step("timetable") as say:
            layouts, dates = seed_timetable(engine, args.seed, services, days, short, start)
            seats = sum(len(layout.numbers) for layout in layouts)
            say(
                f"{len(layouts)} services on {2 * len(ROUTES)} routes, {seats:,} seats, daily "
                f"{start} .. {start + dt.timedelta(days=days - 1)}"
            )

        with _step("plan") as say:
            try:
                departures = plan_departures(args.seed, layouts, dates, args.tickets)
            except ValueError as exc:
                raise SeedError(str(exc)) from None
            targets = sorted(d.target for d in departures)
            say(
                f"{len(departures):,} departures, {args.tickets:,} tickets: per departure "
                f"min {targets[0]}, median {targets[len(targets) // 2]}, max {targets[-1]}"
            )

        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with _step("inventory") as say:
            written = write_inventory(libpq, args, departures)
            say(
                f"{written['bookings']:,} bookings, {written['passengers']:,} passengers, "
                f"{written['tickets']:,} tickets"
            )
            if written["full"]:
                say(f"{written['full']:,} departures filled up; the next ones took their excess")
            if written["lost"]:
                say(f"{written['lost']:,} tickets found no seat: the last departures were full")

        with _step("vacuum analyze"):
            finish(libpq)

        ok = report(engine, written)
        if args.verify:
            with _step("verify"):
                ok = verify(engine) and ok
    finally:
        engine.dispose()
    print(f"seed: done in {time.perf_counter() - began:.1f} s", flush=True)
    return 0 if ok else 1


# -- steps -----------------------------------------------------------------------------


def prepare_schema(engine: Engine, url: str, *, reset: bool) -> None:
    """`alembic upgrade head`, after dropping everything with `reset`."""
    if reset:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    with engine.connect() as conn:
        services = conn.execute(text("SELECT count(*) FROM services")).scalar_one()
        bookings = conn.execute(text("SELECT count(*) FROM bookings")).scalar_one()
    if services or bookings:
        raise SeedError(
            f"the database already holds {services:,} services and {bookings:,} bookings: "
            "pass --reset to start over"
        )


def seed_timetable(
    engine: Engine, seed: int, services: int, days: int, short: int, start: dt.date
) -> tuple[list[Layout], list[list[dt.date]]]:
    """Load the bench timetable in one transaction; each service's layout and running dates."""
    document = timetable_document(seed, services, days, short, start)
    with engine.begin() as conn:
        timetable_repo.load_document(conn, document)
        loaded = [timetable_repo.load_service(conn, s["id"]) for s in document["services"]]
    dates = []
    for service in loaded:
        span = (service.valid_to - service.valid_from).days + 1
        days_run = (service.valid_from + dt.timedelta(days=i) for i in range(span))
        dates.append([d for d in days_run if service.runs_on(d)])
    return [Layout.of(service) for service in loaded], dates


def write_inventory(libpq: str, args: argparse.Namespace, departures: Sequence) -> dict[str, int]:
    """COPY every chunk, one transaction each, on `args.writers` connections at once.

    The server's exclusion check dominates (a GiST probe per ticket), so writers
    work in parallel on disjoint departures, which cannot conflict, while the
    main thread generates the next chunks.
    """
    now = dt.datetime.combine(args.start_date, dt.time(), tzinfo=dt.UTC)
    totals = dict.fromkeys(("departures", "bookings", "passengers", "tickets", "full", "lost"), 0)
    began = time.perf_counter()

    def done(chunk: Chunk) -> None:
        totals["departures"] += chunk.departures
        totals["bookings"] += len(chunk.bookings)
        totals["passengers"] += len(chunk.passengers)
        totals["tickets"] += len(chunk.tickets)
        totals["full"] += chunk.full
        totals["lost"] += chunk.lost
        elapsed = time.perf_counter() - began
        print(
            f"seed:   {totals['departures']:>7,}/{len(departures):,} departures "
            f"{totals['tickets']:>10,} tickets  {elapsed:6.1f} s  "
            f"{totals['tickets'] / elapsed:,.0f} tickets/s",
            flush=True,
        )

    idle: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()

    def write(chunk: Chunk) -> Chunk:
        conn = idle.get()
        try:
            copy_chunk(conn, chunk)
        finally:
            idle.put(conn)
        return chunk

    with contextlib.ExitStack() as stack:
        for _ in range(args.writers):
            conn = stack.enter_context(psycopg.connect(libpq, application_name="rail-bench-seed"))
            conn.execute("SET synchronous_commit = off")
            conn.commit()
            idle.put(conn)
        pool = stack.enter_context(ThreadPoolExecutor(args.writers, thread_name_prefix="copy"))
        pending: collections.deque[Future[Chunk]] = collections.deque()
        for chunk in chunks(args.seed, departures, per_chunk=args.chunk, now=now):
            while len(pending) >= args.writers:
                done(pending.popleft().result())
            pending.append(pool.submit(write, chunk))
        while pending:
            done(pending.popleft().result())
    with psycopg.connect(libpq) as conn:
        for table in ("bookings", "tickets"):  # past the ids the seed chose
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"greatest((SELECT max(id) FROM {table}), 1))"
            )
    return totals


def copy_chunk(conn: psycopg.Connection, chunk: Chunk) -> None:
    """Bookings, then passengers, then tickets (the foreign keys' order), in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        for table, columns, rows in (
            ("bookings", BOOKING_COLUMNS, chunk.bookings),
            ("passengers", PASSENGER_COLUMNS, chunk.passengers),
            ("tickets", TICKET_COLUMNS, chunk.tickets),
        ):
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def finish(libpq: str) -> None:
    """VACUUM ANALYZE, so the query benchmark meets fresh statistics, a visibility map
    and set hint bits rather than an autovacuum run, then a checkpoint."""
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) bookings, passengers, tickets")
        conn.execute("ANALYZE")
        # not a superuser: the next timed checkpoint will do
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


# -- figures ---------------------------------------------------------------------------

DISTRIBUTION = """
WITH departures AS (
    SELECT s.id AS service_id, d::date AS date
    FROM services s, generate_series(s.valid_from, s.valid_to, interval '1 day') AS d
    WHERE strpos(s.days, extract(isodow FROM d)::text) > 0
), capacity AS (
    SELECT s.id AS service_id,
           (SELECT count(*) FROM seats WHERE seats.service_id = s.id)
           * (SELECT count(*) - 1 FROM route_stops WHERE route_id = s.route_id) AS seat_legs
    FROM services s
), sold AS (
    SELECT service_id, date, count(*) AS tickets,
           sum(upper(legs) - lower(legs)) FILTER (WHERE active) AS legs
    FROM tickets GROUP BY service_id, date
), per AS (
    SELECT coalesce(sold.tickets, 0) AS tickets,
           coalesce(sold.legs, 0)::float / capacity.seat_legs AS fill
    FROM departures
    JOIN capacity USING (service_id)
    LEFT JOIN sold USING (service_id, date)
)
SELECT count(*), min(tickets), avg(tickets),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY tickets),
       percentile_disc(0.99) WITHIN GROUP (ORDER BY tickets), max(tickets),
       count(*) FILTER (WHERE tickets = 0),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY fill), max(fill),
       count(*) FILTER (WHERE fill >= 0.8)
FROM per
"""


def report(engine: Engine, written: dict[str, int]) -> bool:
    """Print what the database holds; False when it differs from what was written."""
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("bookings", "passengers", "tickets")
        }
        cancelled = conn.execute(
            text("SELECT count(*) FROM bookings WHERE status = 'cancelled'")
        ).scalar_one()
        inactive = conn.execute(text("SELECT count(*) FROM tickets WHERE NOT active")).scalar_one()
        row = conn.execute(text(DISTRIBUTION)).one()
    ok = all(counts[t] == written[t] for t in counts)
    print(
        f"seed: database holds {counts['bookings']:,} bookings ({cancelled:,} cancelled), "
        f"{counts['passengers']:,} passengers, {counts['tickets']:,} tickets "
        f"({inactive:,} inactive){'' if ok else '  ** differs from what was written **'}"
    )
    print(
        f"seed: tickets per departure over {row[0]:,} departures: min {row[1]}, "
        f"avg {float(row[2]):.1f}, median {row[3]}, p99 {row[4]}, max {row[5]}; "
        f"{row[6]:,} empty"
    )
    print(
        f"seed: seat-legs sold per departure: median {row[7]:.0%}, max {row[8]:.0%}; "
        f"{row[9]:,} departures at least 80% full"
    )
    return ok


CHECKS = {
    "active tickets overlapping on a seat": """
        SELECT count(*) FROM tickets a JOIN tickets b
          ON a.service_id = b.service_id AND a.date = b.date AND a.seat = b.seat
         AND a.id < b.id AND a.legs && b.legs
        WHERE a.active AND b.active""",
    "tickets whose origin or destination is not their stop": """
        SELECT count(*) FROM tickets t JOIN services s ON s.id = t.service_id
        JOIN route_stops o ON o.route_id = s.route_id AND o.idx = lower(t.legs)
        JOIN route_stops d ON d.route_id = s.route_id AND d.idx = upper(t.legs)
        WHERE o.station <> t.origin OR d.station <> t.destination""",
    "tickets on a seat the service lacks": """
        SELECT count(*) FROM tickets t
        WHERE NOT EXISTS (
            SELECT FROM seats WHERE seats.service_id = t.service_id AND seats.number = t.seat)""",
    "tickets off their booking's departure": """
        SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
        WHERE (t.service_id, t.date) <> (b.service_id, b.date)""",
    "active tickets of cancelled bookings, inactive ones of confirmed": """
        SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
        WHERE t.active <> (b.status = 'confirmed')""",
    "bookings without passengers": """
        SELECT count(*) FROM bookings b
        WHERE NOT EXISTS (SELECT FROM passengers p WHERE p.booking_id = b.id)""",
    "passengers without tickets": """
        SELECT count(*) FROM passengers p
        WHERE NOT EXISTS (
            SELECT FROM tickets t
            WHERE t.booking_id = p.booking_id AND t.passenger = p.position)""",
}


def verify(engine: Engine) -> bool:
    """Run the consistency checks; each should find nothing."""
    ok = True
    with engine.connect() as conn:
        for name, query in CHECKS.items():
            found = conn.execute(text(query)).scalar_one()
            ok = ok and found == 0
            print(f"seed:   {'ok  ' if found == 0 else 'FAIL'} {found:,} {name}", flush=True)
    return ok


# -- plumbing --------------------------------------------------------------------------


class _step:
    """Print a step's name, whatever it says, and how long it took."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.began = time.perf_counter()
        print(f"seed: {self.name} ...", flush=True)
        return lambda message: print(f"seed:   {message}", flush=True)

    def __exit__(self, kind, *_: object) -> None:  # type: ignore[no-untyped-def]
        if kind is None:
            took = time.perf_counter() - self.began
            print(f"seed: {self.name}: {took:.1f} s", flush=True)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seed",
        description="Seed a benchmark database with a timetable, bookings and tickets.",
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (default: DATABASE_URL, as in settings.py)"
    )
    parser.add_argument("--departures", type=_positive, default=10_000, help="default 10000")
    parser.add_argument(
        "--tickets", type=_count, default=1_000_000, help="cancelled ones included; default 1000000"
    )
    parser.add_argument(
        "--services", type=_positive, help="default: about √departures, between 50 and 400"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--start-date",
        type=_date,
        default=dt.datetime.now(dt.UTC).date(),
        help="first departure date; bookings were made before it (default: today, UTC)",
    )
    parser.add_argument(
        "--chunk", type=_positive, default=500, help="departures per COPY transaction"
    )
    parser.add_argument(
        "--writers",
        type=_positive,
        default=min(4, os.cpu_count() or 1),
        help="parallel COPY connections (default: the CPU count, at most 4)",
    )
    parser.add_argument(
        "--reset", action="store_true", help="drop the public schema, then alembic upgrade head"
    )
    parser.add_argument(
        "--verify", action="store_true", help="check overlaps and consistency with SQL afterwards"
    )
    parser.add_argument(
        "--force", action="store_true", help="seed even if the database name lacks 'bench'"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
