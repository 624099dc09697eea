"""Holds and exchanges through nginx, gunicorn and real workers: an expired hold's seat is
anybody's a moment later; an exchange into a full train changes nothing; a race of
exchanges and new bookings on two departures ends consistent."""

from __future__ import annotations

import datetime as dt
import random
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

DAY = dt.date.today() + dt.timedelta(days=9)
# Time passing for one hold: it expires `s` seconds from now (by PostgreSQL's clock).
LAPSE = text(
    "WITH b AS (UPDATE bookings SET expires_at = now() + make_interval(secs => :s)"
    " WHERE reference = :r RETURNING id, expires_at) UPDATE tickets t"
    " SET hold_expires_at = b.expires_at FROM b WHERE t.booking_id = b.id"
).bindparams(s=-1)


def body(service: str, seat: str | None = None, day: dt.date = DAY, **extra) -> dict:
    passenger = {"name": "Ada Lovelace"} | ({"seat": seat} if seat else {})
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "AMS",
        "passengers": [passenger],
        **extra,
    }


def test_a_hold_that_expires_is_bookable_by_another_client_a_second_later(api, engine) -> None:
    service = api.make_service()
    held = api.book(body(service, "A1", hold={"seconds": 60}))
    assert held["status"] == "succeeded", held
    reference = held["booking"]["reference"]
    assert held["booking"]["status"] == "held"
    assert api.book(body(service, "A1"), sub="bob")["status"] == "failed"  # held: taken

    with engine.begin() as conn:  # its minute passes sooner: it expires in one second
        conn.execute(LAPSE, {"r": reference, "s": 1})
    time.sleep(2)

    taken = api.book(body(service, "A1"), sub="bob")
    assert taken["status"] == "succeeded", taken
    expired = api.get(f"/v1/bookings/{reference}").json()
    assert expired["status"] == "expired"
    refused = api.post(f"/v1/bookings/{reference}/confirm")
    assert (refused.status_code, refused.json()["code"]) == (409, "hold_expired")


def test_a_hold_is_extended_confirmed_or_released_and_counts_toward_the_quota(api) -> None:
    service = api.make_service()
    quota = api.put(
        "/v1/clients/quinn/quotas", json={"seats_per_departure": 2}, sub="o", role="operator"
    )
    assert quota.status_code == 200, quota.text
    kept = api.book(body(service, "A1", hold={"seconds": 60}), sub="quinn")["booking"]
    released = api.book(body(service, "A2", hold={"seconds": 60}), sub="quinn")["booking"]

    over = api.post("/v1/bookings", json=body(service, "A3"), sub="quinn")
    assert (over.status_code, over.json()["code"]) == (422, "quota_exceeded")  # held seats count
    extended = api.post(
        f"/v1/bookings/{kept['reference']}/extend", json={"seconds": 600}, sub="quinn"
    ).json()
    assert extended["expires_at"] > kept["expires_at"] and extended["extensions"] == 1
    confirmed = api.post(f"/v1/bookings/{kept['reference']}/confirm", sub="quinn").json()
    assert (confirmed["status"], confirmed["expires_at"]) == ("confirmed", None)
    gone = api.delete(f"/v1/bookings/{released['reference']}", sub="quinn").json()
    assert gone["status"] == "cancelled"

    assert api.book(body(service, "A2"), sub="bob")["status"] == "succeeded"  # released: free
    assert api.book(body(service, "A3"), sub="quinn")["status"] == "succeeded"  # quota: 1 held


def test_beat_marks_an_expired_hold_and_records_it(api, engine) -> None:
    service = api.make_service()
    reference = api.book(body(service, "A1", hold={"seconds": 60}))["booking"]["reference"]
    with engine.begin() as conn:  # its minute passes now
        conn.execute(LAPSE, {"r": reference})

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM bookings WHERE reference = :r"), {"r": reference}
            ).scalar_one()
        if status == "expired":
            break
        time.sleep(0.2)
    assert status == "expired"  # marked by the sweep, with no booking on its departure
    events = api.get(f"/v1/bookings/{reference}/history").json()["events"]
    assert (events[-1]["action"], events[-1]["actor"]["sub"]) == ("expired", "rail-sweeper")


def test_a_partial_cancellation_frees_its_seats_for_the_next_booking(api) -> None:
    service = api.make_service()
    party = body(service)
    party["passengers"] = [{"name": "Ada Lovelace", "seat": "A1"}, {"name": "Bob", "seat": "A2"}]
    reference = api.book(party)["booking"]["reference"]

    cut = api.post(
        f"/v1/bookings/{reference}/cancellations", json={"passengers": [0], "from": "PAR"}
    )
    assert cut.status_code == 200, cut.text
    assert [t["destination"] for t in cut.json()["passengers"][0]["tickets"]] == ["PAR"]
    whole = api.post(f"/v1/bookings/{reference}/cancellations", json={"passengers": [1]}).json()
    assert whole["status"] == "confirmed" and whole["passengers"][1]["tickets"] == []

    later = {**body(service, "A1"), "origin": "PAR"}
    assert api.book(later, sub="bob")["status"] == "succeeded"  # A1 from Paris on
    assert api.book(body(service, "A2"), sub="bob")["status"] == "succeeded"
    assert api.book(body(service, "A1"), sub="bob")["status"] == "failed"  # London-Paris kept


def test_an_exchange_into_a_full_train_leaves_the_old_booking_as_it_was(api) -> None:
    home = api.make_service()
    full = api.make_service(carriages=[{"code": "A", "comfort_zone": "first", "seats": 1}])
    old = api.book(body(home, "A2"))["booking"]
    assert api.book(body(full), sub="bob")["status"] == "succeeded"

    job = api.wait_job(api.submit(body(full), path=f"/v1/bookings/{old['reference']}/exchange"))

    assert (job["status"], job["error"]["code"]) == ("failed", "sold_out")
    assert api.get(f"/v1/bookings/{old['reference']}").json() == old


def test_a_race_of_exchanges_and_new_bookings_on_two_departures_ends_consistent(
    api, workers, engine
) -> None:
    workers.start("swapper", concurrency=2)  # a second worker process competes for locks
    carriages = [
        {"code": "A", "comfort_zone": "first", "seats": 20},
        {"code": "N", "comfort_zone": "second", "seats": 40},
    ]
    one, two = api.make_service(carriages=carriages), api.make_service(carriages=carriages)
    first = [body(one), body(two)] * 50
    batch = api.post("/v1/batches", json={"bookings": first}, sub="ops", role="operator")
    assert batch.status_code == 202, batch.text
    made = [api.wait_job(j["id"], sub="ops") for j in batch.json()["jobs"]]
    old = [job["booking"] for job in made]
    assert all(b is not None for b in old)

    rng = random.Random(20261130)
    # Most bookings go to the other departure (locks taken in both orders), some stay.
    swaps = []
    for b in old:
        target = rng.choice([one, two]) if rng.random() < 0.3 else other(b, one, two)
        swaps.append((b["reference"], body(target)))
    news = [body(rng.choice([one, two])) for _ in range(100)]

    def exchange(swap: tuple[str, dict]) -> str:
        return api.submit(
            swap[1], sub="ops", role="operator", path=f"/v1/bookings/{swap[0]}/exchange"
        )

    def book(request: dict) -> str:
        return api.submit(request, sub="bob")

    with ThreadPoolExecutor(max_workers=24) as pool:
        swap_jobs = list(pool.map(exchange, swaps))
        new_jobs = list(pool.map(book, news))
        swapped = list(pool.map(lambda j: api.wait_job(j, sub="ops", timeout=180), swap_jobs))
        booked = list(pool.map(lambda j: api.wait_job(j, sub="bob", timeout=180), new_jobs))

    assert {j["error"]["code"] for j in swapped + booked if j["status"] == "failed"} <= {"sold_out"}
    assert any(j["status"] == "succeeded" for j in swapped)
    for (reference, _), job in zip(swaps, swapped, strict=True):
        now = api.get(f"/v1/bookings/{reference}", sub="ops", role="operator").json()
        if job["status"] == "succeeded":  # the old one retired with it, never both or neither
            assert (now["status"], now["replaced_by"]) == ("exchanged", job["booking"]["reference"])
            assert job["booking"]["replaces"] == reference
        else:
            assert (now["status"], now["replaced_by"]) == ("confirmed", None)
    with engine.connect() as conn:
        overlaps = conn.execute(
            text(
                "SELECT count(*) FROM tickets a JOIN tickets b ON a.service_id = b.service_id"
                " AND a.date = b.date AND a.seat = b.seat AND a.id < b.id AND a.legs && b.legs"
                " AND a.active AND b.active WHERE a.service_id IN (:one, :two)"
            ),
            {"one": one, "two": two},
        ).scalar_one()
        holding = conn.execute(
            text(
                "SELECT b.status, count(t.id) FROM bookings b LEFT JOIN tickets t ON"
                " t.booking_id = b.id AND t.active WHERE b.service_id IN (:one, :two)"
                " GROUP BY b.status"
            ),
            {"one": one, "two": two},
        ).all()
    assert overlaps == 0
    confirmed = sum(1 for j in swapped + booked if j["status"] == "succeeded")
    confirmed += sum(1 for j in swapped if j["status"] == "failed")  # the old ones stayed
    counts = dict(holding)  # active tickets by booking status: one seat per booking
    assert counts.pop("confirmed") == confirmed
    assert counts == {"exchanged": 0}


def other(booking: dict, one: str, two: str) -> str:
    return two if booking["service"] == one else one
