"""The overview page's figures: a chosen period against the one before it, and recent activity.

Periods are UTC and end now (or, for a custom range, at the end of its last day):
- today: since midnight, against yesterday up to the same time;
- 7 days / 4 weeks: the last 7 / 28 days including today, against the 7 / 28 days before, up
  to the same time of day;
- month to date: since the 1st, against the previous month from its 1st up to the same day
  and time (clamped to that month's last day);
- custom: whole days from..to, against as many days just before.

Every figure is for the merchant's default currency (payments in other currencies are listed
apart, never added across currencies) and read through `settings.REPORTS_DB_ALIAS`. Payments
and new customers come from their per-day totals for whole days and from the rows only for
the partial days at the periods' edges (`payments.overview_payments`), so the cost does not
grow with the merchant's history; refunds and disputes are one conditional aggregate per table
over both periods.

Net volume is gross minus the fees the processor kept (captured minus `net`, for payments whose
balance transaction it has reported), refunds and disputes opened in the period.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from accounts.models import Merchant
from payments.models import Customer, Dispute, Payment, Refund, RefundStatus
from payments.overview_payments import PaymentFigures, new_customer_counts, payment_figures

MAX_CUSTOM_DAYS = 366
EARLIEST = date(2000, 1, 1)


class PeriodError(ValueError):
    """A custom range that cannot be shown; the message says why."""


@dataclass(frozen=True)
class Period:
    key: str  # today | 7d | 4w | mtd | custom
    label: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime
    hourly: bool = False

    @property
    def compare_label(self) -> str:
        end = self.previous_end - timedelta(microseconds=1)
        return f"{self.previous_start:%Y-%m-%d} to {end:%Y-%m-%d}"


PERIODS = {
    "today": "Today",
    "7d": "Last 7 days",
    "4w": "Last 4 weeks",
    "mtd": "Month to date",
    "custom": "Custom",
}
DEFAULT_PERIOD = "7d"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _months_back(moment: datetime, months: int = 1) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last))


def period_for(
    key: str, *, now: datetime, start_day: date | None = None, end_day: date | None = None
) -> Period:
    """The period `key` as of `now` (aware); `custom` needs `start_day` and `end_day`."""
    now = now.astimezone(UTC)
    today = now.date()
    if key == "today":
        start = _midnight(today)
        return Period(
            key,
            PERIODS[key],
            start,
            now,
            start - timedelta(days=1),
            now - timedelta(days=1),
            hourly=True,
        )
    if key in ("7d", "4w"):
        days = 7 if key == "7d" else 28
        start = _midnight(today - timedelta(days=days - 1))
        shift = timedelta(days=days)
        return Period(key, PERIODS[key], start, now, start - shift, now - shift)
    if key == "mtd":
        start = _midnight(today.replace(day=1))
        return Period(key, PERIODS[key], start, now, _months_back(start), _months_back(now))
    if key == "custom":
        if start_day is None or end_day is None:
            raise PeriodError("Choose both the first and the last day.")
        if start_day > end_day:
            raise PeriodError("The first day must not be after the last day.")
        if start_day < EARLIEST or end_day > today:
            raise PeriodError(f"Choose days between {EARLIEST:%Y-%m-%d} and today.")
        days = (end_day - start_day).days + 1
        if days > MAX_CUSTOM_DAYS:
            raise PeriodError(f"Choose at most {MAX_CUSTOM_DAYS} days.")
        start = _midnight(start_day)
        end = min(_midnight(end_day + timedelta(days=1)), now)
        shift = timedelta(days=days)
        label = f"{start_day:%Y-%m-%d} to {end_day:%Y-%m-%d}"
        return Period(key, label, start, end, start - shift, _midnight(start_day))
    raise PeriodError("Unknown period.")


def change_percent(current: int, previous: int) -> Decimal | None:
    """The change from `previous` to `current` in %, one decimal; None when there was nothing
    before to compare with."""
    if previous == 0:
        return None
    change = (Decimal(current - previous) * 100) / Decimal(abs(previous))
    return change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    current: int
    previous: int
    money: bool  # minor units of the overview's currency, else a count

    @property
    def change(self) -> Decimal | None:
        return change_percent(self.current, self.previous)


@dataclass(frozen=True)
class SeriesPoint:
    at: datetime
    amount: int


@dataclass(frozen=True)
class Activity:
    at: datetime
    kind: str  # payment | refund | dispute | customer
    title: str
    public_id: str
    amount: int | None
    currency: str
    status: str


@dataclass(frozen=True)
class Overview:
    period: Period
    currency: str
    metrics: list[Metric]
    series: list[SeriesPoint]
    other_currencies: dict[str, int]  # currency -> gross volume in the period

    def metric(self, key: str) -> Metric:
        return next(m for m in self.metrics if m.key == key)


def _db() -> str:
    alias: str = settings.REPORTS_DB_ALIAS
    return alias


def _split(field: str, period: Period, **conditions: Any) -> tuple[Q, Q]:
    """Filters for the current and the previous period on the datetime `field`."""
    current = Q(**{f"{field}__gte": period.start, f"{field}__lt": period.end}, **conditions)
    previous = Q(
        **{f"{field}__gte": period.previous_start, f"{field}__lt": period.previous_end},
        **conditions,
    )
    return current, previous


def _window(queryset: QuerySet[Any], period: Period) -> QuerySet[Any]:
    return queryset.filter(created_at__gte=period.previous_start, created_at__lt=period.end)


def overview_build(*, merchant: Merchant, period: Period) -> Overview:
    """The overview's figures for `period` in the merchant's default currency."""
    db = _db()
    currency = merchant.default_currency
    payments = payment_figures(merchant=merchant, currency=currency, period=period, using=db)
    cur, prev = _split("created_at", period, status=RefundStatus.SUCCEEDED, currency=currency)
    refunds = _window(Refund.objects.using(db).filter(merchant=merchant), period).aggregate(
        total=Sum("amount", filter=cur), total_prev=Sum("amount", filter=prev)
    )
    cur, prev = _split("created_at", period, currency=currency)
    disputes = _window(Dispute.objects.using(db).filter(merchant=merchant), period).aggregate(
        total=Sum("amount", filter=cur),
        total_prev=Sum("amount", filter=prev),
        count=Count("pk", filter=cur),
        count_prev=Count("pk", filter=prev),
    )
    new_customers, new_customers_prev = new_customer_counts(
        merchant=merchant, period=period, using=db
    )

    def value(row: dict[str, Any], name: str) -> int:
        return int(row[name] or 0)

    gross, gross_prev = payments.current.gross, payments.previous.gross
    # What the processor kept (its fee and the platform's), where it reported the net.
    fees, fees_prev = payments.current.kept, payments.previous.kept
    refunded, refunded_prev = value(refunds, "total"), value(refunds, "total_prev")
    disputed, disputed_prev = value(disputes, "total"), value(disputes, "total_prev")
    metrics = [
        Metric("gross", "Gross volume", gross, gross_prev, money=True),
        Metric(
            "net",
            "Net volume",
            gross - fees - refunded - disputed,
            gross_prev - fees_prev - refunded_prev - disputed_prev,
            money=True,
        ),
        Metric(
            "payments",
            "Successful payments",
            payments.current.count,
            payments.previous.count,
            money=False,
        ),
        Metric(
            "customers",
            "New customers",
            new_customers,
            new_customers_prev,
            money=False,
        ),
        Metric("refunds", "Refunds", refunded, refunded_prev, money=True),
        Metric(
            "disputes",
            "Disputes",
            value(disputes, "count"),
            value(disputes, "count_prev"),
            money=False,
        ),
    ]
    return Overview(
        period=period,
        currency=currency,
        metrics=metrics,
        series=_series(period, payments),
        other_currencies=dict(sorted(payments.other_currencies.items())),
    )


def _buckets(period: Period) -> list[datetime]:
    step = timedelta(hours=1) if period.hourly else timedelta(days=1)
    buckets = []
    at = period.start
    while at < period.end:
        buckets.append(at)
        at += step
    return buckets or [period.start]


def _series(period: Period, payments: PaymentFigures) -> list[SeriesPoint]:
    if period.hourly:
        return [SeriesPoint(at=at, amount=payments.hourly.get(at, 0)) for at in _buckets(period)]
    return [SeriesPoint(at=at, amount=payments.daily.get(at.date(), 0)) for at in _buckets(period)]


RECENT_LIMIT = 8


def recent_activity(*, merchant: Merchant, limit: int = RECENT_LIMIT) -> list[Activity]:
    """The newest payments, refunds, disputes and customers, merged newest first."""
    db = _db()

    def newest(model: type[Payment] | type[Refund] | type[Dispute] | type[Customer]) -> Any:
        return model.objects.using(db).filter(merchant=merchant).order_by("-created_at", "-pk")

    money_fields = ("public_id", "created_at", "amount", "currency", "status")
    items = [
        Activity(
            row.created_at,
            kind,
            title,
            row.public_id,
            row.amount,
            row.currency,
            row.get_status_display(),
        )
        for model, kind, title in (
            (Payment, "payment", "Payment"),
            (Refund, "refund", "Refund"),
            (Dispute, "dispute", "Dispute"),
        )
        for row in newest(model).only(*money_fields)[:limit]
    ]
    items.extend(
        Activity(customer.created_at, "customer", "New customer", customer.public_id, None, "", "")
        for customer in newest(Customer).only("public_id", "created_at")[:limit]
    )
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]
