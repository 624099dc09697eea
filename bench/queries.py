"""Query benchmark: server-side time of the read endpoints on a seeded inventory.

    python -m bench.queries --database-url postgresql+psycopg://postgres@127.0.0.1:5432/rail_bench
    python -m bench.queries --scales 10000 100000 1000000   # reseeds with bench.seed per scale

Each endpoint is called through the real Flask app in this process (WSGI, no
network), on random departures that hold tickets, and the time from request to
finished response is recorded: p50 and p99 per endpoint. `--explain` prints the
plans of the per-departure queries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import make_url, text

from settings import Settings, load_settings
from web import create_app
from web.auth import issue_token


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _sample_departures(conn: Any, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Random departures that hold tickets, with their stops and a booked seat."""
    rows = conn.execute(
        text(
            """
            SELECT t.service_id, t.date, t.seat, b.reference
            FROM tickets t JOIN bookings b ON b.id = t.booking_id
            WHERE t.active ORDER BY random() LIMIT :n
            """
        ),
        {"n": count},
    ).all()
    stops: dict[str, list[str]] = {}
    sample = []
    for service_id, date, seat, reference in rows[:count]:
        if service_id not in stops:
            stops[service_id] = list(
                conn.execute(
                    text(
                        "SELECT rs.station FROM route_stops rs JOIN services s "
                        "ON s.route_id = rs.route_id WHERE s.id = :s ORDER BY rs.idx"
                    ),
                    {"s": service_id},
                ).scalars()
            )
        sample.append(
            {
                "service": service_id,
                "date": date.isoformat(),
                "seat": seat,
                "reference": reference,
                "stops": stops[service_id],
            }
        )
    return sample


def _endpoints(rng: random.Random) -> dict[str, Callable[[dict[str, Any]], str]]:
    def segment(d: dict[str, Any]) -> tuple[str, str]:
        i, j = sorted(rng.sample(range(len(d["stops"])), 2))
        return d["stops"][i], d["stops"][j]

    def base(d: dict[str, Any]) -> str:
        return f"/v1/departures/{d['service']}/{d['date']}"

    def search(d: dict[str, Any]) -> str:
        o, t = segment(d)
        return f"/v1/departures?origin={o}&destination={t}&date={d['date']}"

    def availability(d: dict[str, Any]) -> str:
        o, t = segment(d)
        return f"{base(d)}/availability?origin={o}&destination={t}"

    return {
        "search": search,
        "availability": availability,
        "manifest": lambda d: f"{base(d)}/manifest?station={rng.choice(d['stops'])}",
        "passengers": lambda d: f"{base(d)}/passengers?limit=100",
        "passengers (segment)": lambda d: "{}/passengers?from={}&to={}&limit=100".format(
            base(d), *segment(d)
        ),
        "seat at station": lambda d: (
            f"{base(d)}/seats/{d['seat']}?at={rng.choice(d['stops'][:-1])}"
        ),
        "seat timeline": lambda d: f"{base(d)}/seats/{d['seat']}",
        "occupancy": lambda d: f"{base(d)}/occupancy",
        "booking": lambda d: f"/v1/bookings/{d['reference']}",
    }


def bench_settings(database_url: str) -> Settings:
    """Settings for the in-process app: a throwaway secret unless JWT_SECRET is set."""
    secret = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(48)
    return load_settings(database_url=database_url, jwt_secret=secret)


def run(database_url: str, samples: int, seed: int) -> dict[str, tuple[float, float, int]]:
    """p50, p99 (ms) and count per endpoint, through the app in this process."""
    settings = bench_settings(database_url)
    app = create_app(settings)
    client = app.test_client()
    token = issue_token(settings.jwt_secret, "bench", "operator", dt.timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(seed)
    with app.extensions["rail"]["engine"].connect() as conn:
        departures = _sample_departures(conn, samples, rng)
    results = {}
    for name, path_of in _endpoints(rng).items():
        timings = []
        for d in departures:  # steady state: warm the timetable cache, the pool, the buffers
            client.get(path_of(d), headers=headers)
        for d in departures:
            path = path_of(d)
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.get_data(True)}")
        results[name] = (statistics.median(timings), _percentile(timings, 0.99), len(timings))
    app.extensions["rail"]["engine"].dispose()
    return results


def explain(database_url: str, seed: int) -> None:
    """EXPLAIN ANALYZE of the per-departure queries, to show they use the indexes."""
    settings = bench_settings(database_url)
    app = create_app(settings)
    engine = app.extensions["rail"]["engine"]
    rng = random.Random(seed)
    with engine.connect() as conn:
        d = _sample_departures(conn, 1, rng)[0]
        queries = {
            "manifest (boarding or alighting at a stop)": (
                "SELECT t.* FROM tickets t WHERE t.service_id = :s AND t.date = :d AND t.active "
                "AND (lower(t.legs) = 1 OR upper(t.legs) = 1)"
            ),
            "on board a leg / occupancy / availability": (
                "SELECT t.seat, t.legs FROM tickets t WHERE t.service_id = :s AND t.date = :d "
                "AND t.active AND t.legs && int4range(1, 3)"
            ),
            "seat": (
                "SELECT t.* FROM tickets t WHERE t.service_id = :s AND t.date = :d "
                "AND t.active AND t.seat = :seat"
            ),
        }
        for title, sql in queries.items():
            plan = conn.execute(
                text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}"),
                {"s": d["service"], "d": d["date"], "seat": d["seat"]},
            ).scalars()
            print(f"\n-- {title}")
            for line in plan:
                print("  ", line)
    engine.dispose()


def _ticket_count(database_url: str) -> int:
    settings = bench_settings(database_url)
    app = create_app(settings)
    with app.extensions["rail"]["engine"].connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
    app.extensions["rail"]["engine"].dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL")
    parser.add_argument(
        "--scales",
        type=int,
        nargs="*",
        default=[],
        help="reseed (python -m bench.seed --reset) at each ticket count before measuring",
    )
    parser.add_argument("--samples", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    url = args.database_url or load_settings().database_url
    if "bench" not in (make_url(url).database or ""):
        raise SystemExit("refusing: the benchmark database's name must contain 'bench'")
    table: dict[int, dict[str, tuple[float, float, int]]] = {}
    for scale in args.scales or [None]:
        if scale is not None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.seed",
                    "--reset",
                    "--database-url",
                    url,
                    "--tickets",
                    str(scale),
                ],
                check=True,
            )
        tickets = _ticket_count(url)
        table[tickets] = run(url, args.samples, args.seed)
        if args.explain:
            explain(url, args.seed)
    scales = sorted(table)
    names = list(next(iter(table.values())))
    print("\nserver-side time per request, ms (p50 / p99)")
    print(f"{'endpoint':<22}" + "".join(f"{f'{n:,} tickets':>22}" for n in scales))
    for name in names:
        cells = "".join(f"{table[n][name][0]:>10.2f} / {table[n][name][1]:>7.2f}  " for n in scales)
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    main()
