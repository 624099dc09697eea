"""What a scenario measured, and how it is printed.

`Job` is one booking request as the client saw it; `summarize` turns a scenario's
jobs into a `Result` (counts, rates, percentiles). `print_result` prints a scenario
as it ends; `print_table` and `print_ratios` print the summary of the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.load_system import CpuMeter

TERMINAL = ("succeeded", "failed")


# -- what one scenario measures ----------------------------------------------------------


@dataclass
class Job:
    """One booking request, from the POST to the end seen by polling."""

    sent: float  # monotonic, when the POST was handed to the client
    intended: float | None = None  # open loop: when it was due
    answered: float | None = None  # the POST's answer arrived
    http_status: int | None = None
    job_id: str | None = None
    ended: float | None = None  # a terminal status was seen
    status: str | None = None  # succeeded / failed / None (not accepted, or timed out)
    error: str | None = None  # the failed job's code, or the refusal's
    server_seconds: float | None = None  # finished_at - submitted_at
    polls: int = 0


@dataclass
class Result:
    scenario: str
    mode: str
    batch_size: int | None
    variant: str = ""  # the system's configuration, when several are compared (run.py)
    offered: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # http status or error -> count
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    fail_codes: dict[str, int] = field(default_factory=dict)
    accepted_per_s: float = 0.0
    completed_per_s: float = 0.0
    client_p50: float | None = None
    client_p99: float | None = None
    post_p50: float | None = None  # the POST's own round trip (queueing at the API included)
    post_p99: float | None = None
    server_p50: float | None = None
    server_p99: float | None = None
    polls_per_job: float = 0.0
    send_lag_max: float = 0.0  # open loop: how late the client sent a request
    loop_lag_max: float = 0.0  # how late the client's event loop woke up at worst
    seconds: float = 0.0
    batch_accept_s: float | None = None
    batch_complete_s: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    db: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarize(result: Result, jobs: list[Job]) -> Result:
    result.offered = len(jobs)
    result.accepted = sum(1 for j in jobs if j.job_id)
    for j in jobs:
        if not j.job_id:
            key = f"{j.http_status or 'no answer'} {j.error or ''}".strip()
            result.refused[key] = result.refused.get(key, 0) + 1
        elif j.status == "succeeded":
            result.succeeded += 1
        elif j.status == "failed":
            result.failed += 1
            result.fail_codes[j.error or "?"] = result.fail_codes.get(j.error or "?", 0) + 1
        else:
            result.unfinished += 1
    if not jobs:
        return result
    first = min(j.sent for j in jobs)
    answers = [j.answered for j in jobs if j.job_id and j.answered]
    if answers:
        result.accepted_per_s = result.accepted / max(max(answers) - first, 1e-9)
    ends = [j.ended for j in jobs if j.status in TERMINAL and j.ended]
    if ends:
        result.completed_per_s = len(ends) / max(max(ends) - first, 1e-9)
        result.seconds = max(ends) - first
    client = [j.ended - j.sent for j in jobs if j.status in TERMINAL and j.ended]
    server = [j.server_seconds for j in jobs if j.server_seconds is not None]
    result.client_p50, result.client_p99 = percentile(client, 50), percentile(client, 99)
    posts = [j.answered - j.sent for j in jobs if j.job_id and j.answered]
    result.post_p50, result.post_p99 = percentile(posts, 50), percentile(posts, 99)
    result.server_p50, result.server_p99 = percentile(server, 50), percentile(server, 99)
    followed = [j.polls for j in jobs if j.job_id]
    result.polls_per_job = sum(followed) / len(followed) if followed else 0.0
    lags = [j.sent - j.intended for j in jobs if j.intended is not None]
    result.send_lag_max = max(lags) if lags else 0.0
    return result


# -- printing ----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_result(r: Result) -> None:
    tag = f"  [{r.variant}]" if r.variant else ""
    if r.batch_size:
        tag += f"  [ALLOCATION_BATCH_SIZE={r.batch_size}]"
    print(f"\n== {r.scenario}: {r.mode}{tag}")
    print(
        f"  requests offered {r.offered}, accepted {r.accepted}"
        + (f", refused {r.refused}" if r.refused else "")
    )
    if r.scenario == "batch":
        print(
            f"  batch accepted in {_s(r.batch_accept_s)} s ({r.accepted_per_s:.0f} jobs/s),"
            f" all ended after {_s(r.batch_complete_s)} s ({r.completed_per_s:.0f} jobs/s)"
        )
    else:
        print(
            f"  accepted/s {r.accepted_per_s:.1f}, completed bookings/s {r.completed_per_s:.1f}"
            f" over {r.seconds:.1f} s"
        )
    print(
        f"  succeeded {r.succeeded}, failed {r.failed}"
        + (f" {r.fail_codes}" if r.fail_codes else "")
        + (f", NOT ENDED {r.unfinished}" if r.unfinished else "")
    )
    if r.scenario != "batch":
        print(
            f"  submit->end p50/p99: client {_ms(r.client_p50)}/{_ms(r.client_p99)} ms"
            f" ({r.polls_per_job:.1f} polls per job),"
            f" server {_ms(r.server_p50)}/{_ms(r.server_p99)} ms;"
            f" the POST alone {_ms(r.post_p50)}/{_ms(r.post_p99)} ms"
        )
    else:
        print(
            f"  submit->end p50/p99 (server timestamps) {_ms(r.server_p50)}/{_ms(r.server_p99)} ms"
        )
    db = r.db
    if db:
        jpt = db["jobs_per_transaction"]
        print(
            f"  server: queue wait p50/p99 {_ms(db['queue_wait_p50'])}/{_ms(db['queue_wait_p99'])}"
            f" ms, {db['transactions']} allocation transactions"
            f" ({'-' if jpt is None else f'{jpt:.1f}'} jobs each), {db['retried']} jobs retried"
        )
        verdict = "OK" if db["double_sold_pairs"] == 0 else "DOUBLE SALE"
        print(
            f"  check: {db['double_sold_pairs']} seat legs sold twice ({verdict}),"
            f" {db['tickets']} active tickets, {db['pending']} jobs still pending"
        )
    if r.cpu:
        parts = ", ".join(f"{k} {r.cpu[k]:.2f}" for k in CpuMeter.PARTS)
        print(
            f"  CPU (cores busy on average): {parts}; machine {r.cpu['machine']:.2f}"
            f" of {r.cpu['ncpu']:.0f}"
        )
        done = r.succeeded + r.failed
        if done:
            per = ", ".join(
                f"{k} {r.cpu[k] * r.cpu['wall'] / done * 1000:.1f}"
                for k in ("web", "worker", "postgres", "redis", "client")
            )
            print(f"  CPU ms per ended job: {per}")
    lag = f"  client: event loop late by {r.loop_lag_max * 1000:.0f} ms at worst"
    if r.send_lag_max:
        lag += f", open-loop sends late by {r.send_lag_max * 1000:.0f} ms at worst"
    print(lag)


COLUMNS = (
    ("variant", lambda r: r.variant or "-"),
    ("scenario", lambda r: r.scenario),
    ("mode", lambda r: _short_mode(r.mode)),
    ("batch", lambda r: str(r.batch_size or "-")),
    ("offered", lambda r: str(r.offered)),
    ("acc/s", lambda r: f"{r.accepted_per_s:.0f}"),
    ("done/s", lambda r: f"{r.completed_per_s:.0f}"),
    ("ok", lambda r: str(r.succeeded)),
    ("failed", lambda r: str(r.failed)),
    ("lost", lambda r: str(r.unfinished + sum(r.refused.values()))),
    ("cli p50", lambda r: _ms(r.client_p50)),
    ("cli p99", lambda r: _ms(r.client_p99)),
    ("srv p50", lambda r: _ms(r.server_p50)),
    ("srv p99", lambda r: _ms(r.server_p99)),
    ("accept s", lambda r: _s(r.batch_accept_s)),
    ("done s", lambda r: _s(r.batch_complete_s)),
    ("jobs/tx", lambda r: _f1(r.db.get("jobs_per_transaction"))),
    ("sold 2x", lambda r: str(r.db.get("double_sold_pairs", "-"))),
    ("CPU ms/job web/wrk/pg", lambda r: _cpu_per_job(r)),
)


def _short_mode(mode: str) -> str:
    words = mode.split()
    if words[0] == "closed":
        return f"closed {words[1]}"
    if words[0] == "open":
        return f"open {words[1]}"
    return "batch"


def _f1(value: float | None) -> str:
    return "-" if not value else f"{value:.1f}"


def _cpu_per_job(r: Result) -> str:
    done = r.succeeded + r.failed
    if not r.cpu or not done:
        return "-"
    return "/".join(
        f"{r.cpu[k] * r.cpu['wall'] / done * 1000:.0f}" for k in ("web", "worker", "postgres")
    )


def print_table(results: list[Result], title: str) -> None:
    rows = [[name for name, _ in COLUMNS]] + [[f(r) for _, f in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print(
        "  (latencies in ms from submit to end: cli = seen by polling, srv = the job's timestamps;"
        " lost = refused or not ended in time; CPU ms per ended job)"
    )


def print_ratios(results: list[Result]) -> None:
    by = {(r.scenario, r.variant, r.batch_size, _short_mode(r.mode)): r for r in results}
    for (scenario, variant, size, mode), r in by.items():
        spread = by.get(("spread", variant, size, mode))
        if scenario == "hot" and spread and spread.completed_per_s:
            print(
                f"  hot / spread completed/s, {variant or '-'}, batch {size or '-'}:"
                f" {r.completed_per_s / spread.completed_per_s:.0%}"
            )
    first = results[0].variant if results else ""
    firsts = {(r.scenario, _short_mode(r.mode)): r for r in results if r.variant == first}
    for r in results:
        base = firsts.get((r.scenario, _short_mode(r.mode)))
        if r.variant != first and base and r.completed_per_s and r.scenario != "batch":
            print(
                f"  {r.scenario}: {first} completes {base.completed_per_s / r.completed_per_s:.1f}x"
                f" the bookings/s of {r.variant}"
            )
