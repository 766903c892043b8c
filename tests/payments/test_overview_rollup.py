"""The overview's payment figures and new customers, read from day totals plus the partial
days' rows, equal the same figures computed from every row, for every period and at its edges."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Merchant
from payments.models import Customer, Payment
from payments.overview import Overview, Period, overview_build, period_for
from payments.overview_payments import partial_ranges, whole_days
from payments.state import PaymentStatus
from tests.factories import MerchantFactory
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = pytest.mark.django_db

S = PaymentStatus
MICROSECOND = timedelta(microseconds=1)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _periods(now: datetime) -> list[Period]:
    today = now.date()
    customs = [
        (today, today),  # today only: partial, against yesterday's whole day
        (today - timedelta(days=9), today),  # ends now
        (today - timedelta(days=40), today - timedelta(days=3)),  # whole days only
        (today - timedelta(days=1), today - timedelta(days=1)),
    ]
    return [period_for(key, now=now) for key in ("today", "7d", "4w", "mtd")] + [
        period_for("custom", now=now, start_day=first, end_day=last) for first, last in customs
    ]


def _edges(period: Period) -> list[datetime]:
    """Moments where a wrong split between totals and raw rows would show."""
    edges = []
    for moment in (period.start, period.end, period.previous_start, period.previous_end):
        day = datetime.combine(moment.date(), datetime.min.time(), tzinfo=UTC)
        edges += [moment - MICROSECOND, moment, day - MICROSECOND, day + timedelta(days=1)]
    return edges


def _raw(period: Period, merchant: Merchant, currency: str) -> dict[str, object]:
    """Every figure the overview shows for payments, from the rows one by one."""
    figures: dict[str, object] = {}
    series: dict[datetime, int] = defaultdict(int)
    others: dict[str, int] = defaultdict(int)
    rows = Payment.objects.filter(merchant=merchant, status=S.SUCCEEDED).values_list(
        "created_at", "currency", "amount_captured", "net"
    )
    for label, start, end in (
        ("current", period.start, period.end),
        ("previous", period.previous_start, period.previous_end),
    ):
        gross = kept = count = 0
        for created_at, row_currency, captured, net in rows:
            if not start <= created_at < end:
                continue
            if row_currency != currency:
                if label == "current":
                    others[row_currency] += captured
                continue
            gross += captured
            kept += captured - net if net is not None else 0
            count += 1
            if label == "current":
                bucket = created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                series[bucket if period.hourly else bucket.replace(hour=0)] += captured
        figures[label] = (gross, gross - kept, count)
    created = list(Customer.objects.filter(merchant=merchant).values_list("created_at", flat=True))
    figures["customers"] = tuple(
        sum(1 for moment in created if start <= moment < end)
        for start, end in (
            (period.start, period.end),
            (period.previous_start, period.previous_end),
        )
    )
    figures["series"] = {at: amount for at, amount in series.items() if amount}
    figures["others"] = dict(sorted(others.items()))
    return figures


def _shown(overview: Overview) -> dict[str, object]:
    def metric(key: str) -> tuple[int, int]:
        found = overview.metric(key)
        return found.current, found.previous

    gross, net, count = metric("gross"), metric("net"), metric("payments")
    return {
        "current": (gross[0], net[0], count[0]),
        "previous": (gross[1], net[1], count[1]),
        "customers": metric("customers"),
        "series": {point.at: point.amount for point in overview.series if point.amount},
        "others": overview.other_currencies,
    }


nows = st.one_of(
    st.sampled_from([_utc(2026, 3, 31, 15, 30), _utc(2026, 3, 1), _utc(2026, 1, 1, 0, 0, 0, 1)]),
    st.integers(0, 365 * 86_400_000_000).map(
        lambda micros: _utc(2026, 1, 1) + timedelta(microseconds=micros)
    ),
)
payments = st.lists(
    st.tuples(
        st.integers(0, 1_000),  # which edge, modulo their number; or a random time
        st.integers(-80 * 86_400, 0),  # seconds before now, for a random time
        st.sampled_from([S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED, S.CANCELED]),
        st.sampled_from(["gbp", "gbp", "eur"]),
        st.integers(1, 50_000),
        st.one_of(st.none(), st.integers(0, 500)),
        st.booleans(),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(now=nows, rows=payments)
def test_the_overview_figures_equal_a_raw_computation_for_every_period(now, rows):
    """Given payments at random times and on every edge (midnights, now, the previous
    period's end, a microsecond either side), in two currencies, some with a reported net, and
    new customers among them, then for every preset and custom period the gross, net and
    count of both periods, the new customers, the chart's series and the other currencies
    equal those computed from the rows (another
    merchant's payments at the same moments never count)."""
    merchant, other = MerchantFactory(default_currency="gbp"), MerchantFactory()
    periods = _periods(now)
    edges = sorted({edge for period in periods for edge in _edges(period)})
    with transaction.atomic():
        for edge_index, seconds, status, currency, amount, fee, on_edge in rows:
            created = (
                edges[edge_index % len(edges)] if on_edge else now + timedelta(seconds=seconds)
            )
            PaymentFactory(
                merchant=merchant,
                created_at=created,
                status=status,
                currency=currency,
                amount=amount,
                net=None if fee is None else amount - fee,
            )
            PaymentFactory(merchant=other, created_at=created, amount=amount)
            if status == S.CANCELED:  # now and then a new customer at the same moment
                for owner in (merchant, other):
                    customer = CustomerFactory(merchant=owner)
                    Customer.objects.filter(pk=customer.pk).update(created_at=created)
        for period in periods:
            assert _shown(overview_build(merchant=merchant, period=period)) == _raw(
                period, merchant, "gbp"
            ), period
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("start", "end", "whole", "partial"),
    [
        # Today up to now: no whole day, one partial.
        (_utc(2026, 3, 31), _utc(2026, 3, 31, 15, 30), None, [(_utc(2026, 3, 31), None)]),
        # Seven days up to now: six whole days and today's part.
        (
            _utc(2026, 3, 25),
            _utc(2026, 3, 31, 15, 30),
            (date(2026, 3, 25), date(2026, 3, 31)),
            [(_utc(2026, 3, 31), None)],
        ),
        # Whole days only (a custom range in the past).
        (_utc(2026, 3, 1), _utc(2026, 3, 11), (date(2026, 3, 1), date(2026, 3, 11)), []),
        # Starting and ending inside days: a part at each edge.
        (
            _utc(2026, 3, 1, 12),
            _utc(2026, 3, 4, 6),
            (date(2026, 3, 2), date(2026, 3, 4)),
            [(_utc(2026, 3, 1, 12), _utc(2026, 3, 2)), (_utc(2026, 3, 4), None)],
        ),
        (_utc(2026, 3, 1), _utc(2026, 3, 1), None, []),
    ],
)
def test_a_range_splits_into_whole_utc_days_and_partial_edges(start, end, whole, partial):
    first, stop = whole_days(start, end)
    assert ((first, stop) if first < stop else None) == whole
    assert partial_ranges(start, end) == [(a, b or end) for a, b in partial]
