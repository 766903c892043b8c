"""Reports: the home page's volume summaries and the payments CSV export, in one place.

Everything here reads through `settings.REPORTS_DB_ALIAS` (`reports`, a read replica, when
`REPORTS_DATABASE_URL` is set; else `default`), so heavy aggregates and long exports can be
moved off the primary database by configuration alone (config/db_routers.py). The pages that
show them (`payments.views`) only render what these functions return.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Merchant
from payments import selectors
from payments.models import Payment, Refund, RefundStatus
from payments.money import format_amount
from payments.state import PaymentStatus

CSV_CHUNK_SIZE = 2000
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _reports_db() -> str:
    alias: str = settings.REPORTS_DB_ALIAS
    return alias


# --- volume summaries (home page) -----------------------------------------------------------


@dataclass(frozen=True)
class DailyVolume:
    day: date
    amount: int


@dataclass(frozen=True)
class CurrencyVolume:
    currency: str
    days: list[DailyVolume]
    total: int
    refunded: int
    succeeded_count: int


@dataclass(frozen=True)
class VolumeSummary:
    """Payments created in the window: captured volume per day and currency, and outcomes."""

    start: date
    end: date
    primary: CurrencyVolume
    others: list[CurrencyVolume]
    payment_count: int
    succeeded_count: int
    failed_count: int
    success_rate: Decimal | None  # succeeded / (succeeded + failed); None with no outcomes yet


def payment_volume_summary(
    *, merchant: Merchant, days: int = 30, now: datetime | None = None
) -> VolumeSummary:
    """Volume of the last `days` days (today included), grouped by the merchant's currency.

    Success rate counts only finished attempts: succeeded against failed or canceled ones, so
    payments still in flight (3-D Secure, processing, awaiting capture) do not lower it.
    """
    now = now or timezone.now()
    end = now.date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, time.min, tzinfo=UTC)
    db = _reports_db()
    window = Payment.objects.using(db).filter(merchant=merchant, created_at__gte=since)
    daily = (
        window.filter(status=PaymentStatus.SUCCEEDED)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("currency", "day")
        .annotate(total=Sum("amount_captured"), count=Count("pk"))
    )
    refunds = (
        Refund.objects.using(db)
        .filter(merchant=merchant, created_at__gte=since, status=RefundStatus.SUCCEEDED)
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    refunded = {row["currency"]: int(row["total"] or 0) for row in refunds}
    per_currency: dict[str, dict[date, tuple[int, int]]] = {}
    for row in daily:
        per_currency.setdefault(row["currency"], {})[row["day"]] = (
            int(row["total"] or 0),
            int(row["count"]),
        )
    outcomes = window.aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(status=PaymentStatus.SUCCEEDED)),
        failed=Count(
            "pk",
            filter=Q(status=PaymentStatus.CANCELED)
            | Q(status=PaymentStatus.REQUIRES_PAYMENT_METHOD, failure_code__gt=""),
        ),
    )
    calendar = [start + timedelta(days=offset) for offset in range(days)]

    def volume(currency: str) -> CurrencyVolume:
        by_day = per_currency.get(currency, {})
        series = [DailyVolume(day=d, amount=by_day.get(d, (0, 0))[0]) for d in calendar]
        return CurrencyVolume(
            currency=currency,
            days=series,
            total=sum(point.amount for point in series),
            refunded=refunded.get(currency, 0),
            succeeded_count=sum(count for _, count in by_day.values()),
        )

    primary_code = merchant.default_currency
    other_codes = sorted((set(per_currency) | set(refunded)) - {primary_code})
    succeeded, failed = int(outcomes["succeeded"]), int(outcomes["failed"])
    finished = succeeded + failed
    return VolumeSummary(
        start=start,
        end=end,
        primary=volume(primary_code),
        others=[volume(code) for code in other_codes],
        payment_count=int(outcomes["total"]),
        succeeded_count=succeeded,
        failed_count=failed,
        success_rate=(Decimal(succeeded) / finished if finished else None),
    )


SUMMARY_CACHE_SECONDS = 60


def payment_volume_summary_cached(*, merchant: Merchant) -> VolumeSummary:
    """`payment_volume_summary` kept for a minute: the home page of a busy merchant aggregates
    tens of thousands of rows (about 0.2 s at 85,000 payments a month on PostgreSQL)."""
    key = f"payments:volume:{merchant.public_id}:{timezone.now().date().isoformat()}"
    summary = cache.get(key)
    if not isinstance(summary, VolumeSummary):
        summary = payment_volume_summary(merchant=merchant)
        cache.set(key, summary, SUMMARY_CACHE_SECONDS)
    return summary


# --- payments CSV export --------------------------------------------------------------------


CSV_COLUMNS = (
    "id",
    "created_utc",
    "status",
    "amount",
    "amount_captured",
    "amount_refunded",
    "currency",
    "amount_formatted",
    "card_brand",
    "card_last4",
    "card_country",
    "customer_id",
    "customer_email",
    "description",
    "payment_intent",
    "failure_code",
    "fee",
    "platform_fee",
    "net",
)


class _Echo:
    """A file-like object for csv.writer that returns each row instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: formula-like cells get a leading apostrophe."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_row(payment: Payment) -> list[str]:
    customer = payment.customer
    return [
        payment.public_id,
        payment.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        payment.status,
        str(payment.amount),
        str(payment.amount_captured),
        str(payment.amount_refunded),
        payment.currency,
        format_amount(payment.amount, payment.currency),
        payment.card_brand,
        payment.card_last4,
        payment.card_country,
        customer.public_id if customer else "",
        customer.email if customer else "",
        payment.description,
        payment.processor_payment_id,
        payment.failure_code,
        # Empty until the processor reports the charge's balance transaction.
        "" if payment.fee is None else str(payment.fee),
        "" if payment.platform_fee is None else str(payment.platform_fee),
        "" if payment.net is None else str(payment.net),
    ]


def _csv_lines(payments: Iterable[Payment]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for payment in payments:
        yield writer.writerow([csv_safe(cell) for cell in _csv_row(payment)])


def payment_csv_lines(
    *, merchant: Merchant, filters: selectors.PaymentFilters, currency: str | None = None
) -> Iterator[str]:
    """The merchant's payments matching `filters` as CSV lines, newest first, streamed in chunks.

    The same rows as the payments page (`selectors.payment_dashboard_queryset`), read on the
    reports database.
    """
    payments = (
        selectors.payment_dashboard_queryset(merchant=merchant, filters=filters, currency=currency)
        .using(_reports_db())
        .order_by("-created_at", "-pk")
        .iterator(chunk_size=CSV_CHUNK_SIZE)
    )
    return _csv_lines(payments)
