"""Quotas per client: defaults, a client's own values, what an operator may do for it."""

import pytest

from domain.quotas import (
    QuotaExceeded,
    QuotaOverride,
    Quotas,
    check_batch,
    check_open_jobs,
    check_passengers,
    check_seats,
    effective,
)

CLIENTS = Quotas(
    passengers_per_booking=9, bookings_per_batch=50, seats_per_departure=20, open_jobs=200
)
OPERATORS = Quotas(
    passengers_per_booking=50, bookings_per_batch=1000, seats_per_departure=1000, open_jobs=5000
)


def test_a_client_without_its_own_quotas_has_the_defaults():
    assert effective(CLIENTS, None, by_operator=False) == CLIENTS


def test_a_travel_agency_s_own_quotas_replace_only_the_fields_set():
    agency = QuotaOverride(passengers_per_booking=30, seats_per_departure=None)
    found = effective(CLIENTS, agency, by_operator=False)
    assert found.passengers_per_booking == 30
    assert found.seats_per_departure == 20


def test_an_operator_acting_for_a_client_has_at_least_the_operator_quotas():
    small = QuotaOverride(passengers_per_booking=2)
    found = effective(CLIENTS, small, by_operator=True, operator_defaults=OPERATORS)
    assert found == OPERATORS


def test_a_client_may_be_given_less_than_the_defaults():
    none = QuotaOverride(seats_per_departure=0)
    assert effective(CLIENTS, none, by_operator=False).seats_per_departure == 0


@pytest.mark.parametrize(
    ("check", "args"),
    [
        (check_passengers, (CLIENTS, 10)),
        (check_batch, (CLIENTS, 51)),
        (check_open_jobs, (CLIENTS, 199, 2)),
        (check_seats, (20, 15, 6)),
    ],
    ids=["passengers", "batch", "open-jobs", "seats"],
)
def test_one_past_a_quota_is_refused_with_quota_exceeded(check, args):
    with pytest.raises(QuotaExceeded) as refused:
        check(*args)
    assert refused.value.code == "quota_exceeded"


@pytest.mark.parametrize(
    ("check", "args"),
    [
        (check_passengers, (CLIENTS, 9)),
        (check_batch, (CLIENTS, 50)),
        (check_open_jobs, (CLIENTS, 199, 1)),
        (check_seats, (20, 15, 5)),
    ],
    ids=["passengers", "batch", "open-jobs", "seats"],
)
def test_exactly_at_a_quota_is_allowed(check, args):
    check(*args)
