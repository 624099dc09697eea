"""The batch use case: up to 1,000 booking requests, each accepted as a job or refused
on its own, in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import metrics
from domain.access import Identity
from domain.booking import BookingRequest
from domain.errors import Code, RailError
from domain.job import AcceptedBooking, WakeUp
from services.admission import Admission
from services.bookings import Sender, admit, requested, send_quietly
from services.unit_of_work import UnitOfWork
from settings import Settings
from storage.batch_repo import compact_rejection


@dataclass(frozen=True)
class BatchItem:
    """One booking of a batch as the web read it: a request (and the client it is for,
    when an operator names one), or why it could not be read at all."""

    request: BookingRequest | None = None
    client: str | None = None
    invalid: dict[str, list[str]] | None = None  # field → messages


@dataclass
class SubmittedBatch:
    id: uuid.UUID
    total: int
    jobs: dict[int, uuid.UUID] = field(default_factory=dict)  # position → job
    rejected: dict[int, dict[str, Any]] = field(default_factory=dict)  # position → refusal


def submit_batch(
    uow: UnitOfWork,
    send: Sender,
    settings: Settings,
    caller: Identity,
    items: list[BatchItem],
    *,
    now: dt.datetime,
) -> SubmittedBatch:
    """Queue every booking that passes admission; keep each refusal with its position."""
    rejected: dict[int, dict[str, Any]] = {}
    accepted: list[AcceptedBooking] = []
    with uow:
        quotas = Admission(uow, caller, settings)
        quotas.batch(len(items))
        for index, item in enumerate(items):
            if item.request is None:
                rejected[index] = refusal(
                    Code.VALIDATION_ERROR, "The booking is not valid.", item.invalid
                )
                continue
            try:
                owner = caller.owner_of(item.client)
                admit(uow, item.request, now, settings)
                seat_quota = quotas.booking(owner, item.request)
            except RailError as refused:
                rejected[index] = refusal(refused.code, refused.detail, refused.errors)
            else:
                accepted.append(AcceptedBooking(index, owner, item.request, seat_quota))
        batch_id, job_ids = uow.batches.add(len(items), rejected, accepted, caller)
        for a in accepted:
            uow.events.add(requested(caller, a.owner, job_ids[a.index], a.request))
        uow.commit()
    metrics.JOBS_ACCEPTED.inc(len(accepted))
    send_quietly(send, wake_ups(accepted, job_ids))
    return SubmittedBatch(batch_id, len(items), job_ids, rejected)


def refusal(code: Code, detail: str, errors: dict[str, list[str]] | None) -> dict[str, Any]:
    """A refused booking as the batch keeps it (a few short lines, whatever the body held);
    web/problems.py shows it as a problem."""
    return compact_rejection({"code": str(code), "detail": detail, "errors": errors})


def wake_ups(accepted: list[AcceptedBooking], job_ids: dict[int, uuid.UUID]) -> list[WakeUp]:
    """One wake-up per departure, not one per job: the worker that serves a departure
    serves every job of its queue (and asks again when its time is up)."""
    first: dict[tuple[str, dt.date], WakeUp] = {}
    for a in accepted:
        departure = (a.request.service, a.request.date)
        if departure not in first:
            first[departure] = WakeUp(job_ids[a.index], *departure)
    return list(first.values())
