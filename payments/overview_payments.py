"""The overview's payment figures and new customers: whole UTC days from the day totals, partial
days from the rows.

A period and the one before it are each split into the whole UTC days they cover, read from
`PaymentDayTotal` (one row per merchant, day and currency, kept exact by database triggers:
`payments.day_total_triggers`), and the partial days at their edges (today up to now, the
previous period's last day up to the same time of day), read from the payments themselves,
one range at a time, per currency and hour: an index-only scan of `payment_overview` over at
most a day of rows each. So a request reads a few hundred totals rows and at most a few days
of payments whatever the merchant's history, and the per-hour rows of today are the "today"
chart's series as well.

The figures are those `PaymentDayTotal` sums: succeeded payments by `created_at`; gross is
`amount_captured`; kept is `amount_captured - net` where the processor reported `net`. New
customers are counted the same way from `CustomerDayCount` and the customers' own rows
(`customer_merchant_keyset` covers the partial ranges).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncHour

from accounts.models import Merchant
from payments.models import Customer, CustomerDayCount, Payment, PaymentDayTotal
from payments.state import PaymentStatus

if TYPE_CHECKING:
    from payments.overview import Period


@dataclass
class PeriodVolume:
    """Succeeded payments of one period in the overview's currency."""

    gross: int = 0
    kept: int = 0
    count: int = 0


@dataclass
class PaymentFigures:
    current: PeriodVolume = field(default_factory=PeriodVolume)
    previous: PeriodVolume = field(default_factory=PeriodVolume)
    # The current period's gross in the overview's currency per UTC day, and per hour within
    # the partial days (what the hourly chart of today shows).
    daily: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    hourly: dict[datetime, int] = field(default_factory=lambda: defaultdict(int))
    # The current period's gross in every other currency.
    other_currencies: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def whole_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days wholly inside [start, end), as [first, stop) (empty when first == stop)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if _midnight(start.date()) == start else start.date() + timedelta(days=1)
    return first, max(first, end.date())


def partial_ranges(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) outside its whole UTC days: at most one at each edge."""
    if start >= end:
        return []
    first, stop = whole_days(start, end)
    if first == stop:
        return [(start, end)]
    ranges = []
    if start < _midnight(first):
        ranges.append((start, _midnight(first)))
    if _midnight(stop) < end:
        ranges.append((_midnight(stop), end))
    return ranges


def _add(
    figures: PaymentFigures,
    *,
    is_current: bool,
    base_currency: str,
    currency: str,
    gross: int,
    kept: int,
    count: int,
) -> None:
    if currency != base_currency:
        if is_current and count:
            figures.other_currencies[currency] += gross
        return
    volume = figures.current if is_current else figures.previous
    volume.gross += gross
    volume.kept += kept
    volume.count += count


def _read_whole_days(
    figures: PaymentFigures, *, merchant: Merchant, currency: str, period: Period, using: str
) -> None:
    current = whole_days(period.start, period.end)
    previous = whole_days(period.previous_start, period.previous_end)
    spans = [(first, stop) for first, stop in (current, previous) if first < stop]
    if not spans:
        return
    within = Q()
    for first, stop in spans:
        within |= Q(day__gte=first, day__lt=stop)
    rows = (
        PaymentDayTotal.objects.using(using)
        .filter(within, merchant=merchant)
        .values_list("currency", "day", "gross", "kept", "payment_count")
    )
    for row_currency, day, gross, kept, count in rows:
        is_current = current[0] <= day < current[1]
        _add(
            figures,
            is_current=is_current,
            base_currency=currency,
            currency=row_currency,
            gross=gross,
            kept=kept,
            count=count,
        )
        if is_current and row_currency == currency:
            figures.daily[day] += gross


def _read_partial(
    figures: PaymentFigures,
    *,
    merchant: Merchant,
    currency: str,
    start: datetime,
    end: datetime,
    is_current: bool,
    using: str,
) -> None:
    succeeded = Q(status=PaymentStatus.SUCCEEDED)
    # The status is an aggregate's filter, not the query's: then the only index that fits is
    # `payment_overview` (merchant, created_at), which holds every column read (index-only).
    rows = (
        Payment.objects.using(using)
        .filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("currency", "hour")
        .annotate(
            gross=Sum("amount_captured", filter=succeeded),
            kept=Sum(F("amount_captured") - F("net"), filter=succeeded & Q(net__isnull=False)),
            count=Count("created_at", filter=succeeded),
        )
        .order_by()
    )
    for row in rows:
        gross = int(row["gross"] or 0)
        _add(
            figures,
            is_current=is_current,
            base_currency=currency,
            currency=row["currency"],
            gross=gross,
            kept=int(row["kept"] or 0),
            count=int(row["count"]),
        )
        if is_current and row["currency"] == currency:
            hour = row["hour"].astimezone(UTC)
            figures.daily[hour.date()] += gross
            figures.hourly[hour] += gross


def payment_figures(
    *, merchant: Merchant, currency: str, period: Period, using: str
) -> PaymentFigures:
    """Succeeded payments of `period` and of the one before, in `currency` and the others."""
    figures = PaymentFigures()
    _read_whole_days(figures, merchant=merchant, currency=currency, period=period, using=using)
    for is_current, start, end in (
        (True, period.start, period.end),
        (False, period.previous_start, period.previous_end),
    ):
        for part_start, part_end in partial_ranges(start, end):
            _read_partial(
                figures,
                merchant=merchant,
                currency=currency,
                start=part_start,
                end=part_end,
                is_current=is_current,
                using=using,
            )
    return figures


def new_customer_counts(*, merchant: Merchant, period: Period, using: str) -> tuple[int, int]:
    """How many customers the merchant created in `period` and in the one before."""
    counts = []
    for start, end in (
        (period.start, period.end),
        (period.previous_start, period.previous_end),
    ):
        first, stop = whole_days(start, end)
        count = 0
        if first < stop:
            whole = CustomerDayCount.objects.using(using).filter(
                merchant=merchant, day__gte=first, day__lt=stop
            )
            count += int(whole.aggregate(total=Sum("customer_count"))["total"] or 0)
        for part_start, part_end in partial_ranges(start, end):
            count += (
                Customer.objects.using(using)
                .filter(merchant=merchant, created_at__gte=part_start, created_at__lt=part_end)
                .count()
            )
        counts.append(count)
    return counts[0], counts[1]
