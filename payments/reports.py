"""Reports: the overview's figures, the disputes list and the payments CSV export.

Everything here reads through `settings.REPORTS_DB_ALIAS` (`reports`, a read replica, when
`REPORTS_DATABASE_URL` is set; else `default`), so heavy aggregates and long exports can be
moved off the primary database by configuration alone (config/db_routers.py). The pages that
show them (`payments.views`) only render what these functions return.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Merchant
from payments import overview, selectors
from payments.models import Dispute, DisputeStatus, Payment
from payments.money import format_amount
from payments.state import PaymentStatus

CSV_CHUNK_SIZE = 2000
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def reports_db() -> str:
    """The alias reports read: the replica when one is configured, else `default`."""
    alias: str = settings.REPORTS_DB_ALIAS
    return alias


# --- overview (home page) and disputes list -------------------------------------------------

OVERVIEW_CACHE_SECONDS = 60


def overview_cached(*, merchant: Merchant, period: overview.Period) -> overview.Overview:
    """`overview.overview_build` kept for a minute per merchant and period: the figures read
    per-day totals and up to a few days of a busy merchant's rows, and the page says they
    refresh each minute. The key holds the period's start and kind, not `now`, so it is reused
    while the period lasts."""
    key = (
        f"payments:overview:{merchant.public_id}:{period.key}:"
        f"{period.start:%Y%m%d%H}:{period.previous_end:%Y%m%d}"
    )
    found = cache.get(key)
    if isinstance(found, overview.Overview):
        return found
    built = overview.overview_build(merchant=merchant, period=period)
    cache.set(key, built, OVERVIEW_CACHE_SECONDS)
    return built


def recent_activity_cached(*, merchant: Merchant) -> list[overview.Activity]:
    """The overview's recent activity, kept as long as its figures."""
    key = f"payments:activity:{merchant.public_id}"
    found = cache.get(key)
    if isinstance(found, list):
        return found
    items = overview.recent_activity(merchant=merchant)
    cache.set(key, items, OVERVIEW_CACHE_SECONDS)
    return items


def dispute_report_queryset(*, merchant: Merchant, status: str | None = None) -> Any:
    """The disputes list, newest first, on the reports database."""
    return selectors.dispute_queryset(merchant=merchant, status=status).using(reports_db())


def dispute_open_count(*, merchant: Merchant) -> int:
    return (
        Dispute.objects.using(reports_db())
        .filter(
            merchant=merchant,
            status__in=(DisputeStatus.NEEDS_RESPONSE, DisputeStatus.WARNING_NEEDS_RESPONSE),
        )
        .count()
    )


@dataclass(frozen=True)
class ProcessorVolume:
    """One processor's share of the merchant's recent payments (what routing sent where)."""

    processor: str
    payment_count: int
    succeeded_count: int
    failed_count: int


def payment_processor_summary(
    *, merchant: Merchant, days: int = 30, now: datetime | None = None
) -> list[ProcessorVolume]:
    """Payments of the last `days` days per processor that charged, busiest first."""
    since = (now or timezone.now()) - timedelta(days=days)
    rows = (
        Payment.objects.using(reports_db())
        .filter(merchant=merchant, created_at__gte=since)
        .values("processor")
        .annotate(
            total=Count("pk"),
            succeeded=Count("pk", filter=Q(status=PaymentStatus.SUCCEEDED)),
            failed=Count(
                "pk",
                filter=Q(status=PaymentStatus.CANCELED)
                | Q(status=PaymentStatus.REQUIRES_PAYMENT_METHOD, failure_code__gt=""),
            ),
        )
        .order_by("-total", "processor")
    )
    return [
        ProcessorVolume(
            processor=row["processor"],
            payment_count=int(row["total"]),
            succeeded_count=int(row["succeeded"]),
            failed_count=int(row["failed"]),
        )
        for row in rows
    ]


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
    # The processor that charged (refunds and disputes are at the same one).
    "processor",
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
        payment.processor,
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
        .using(reports_db())
        .order_by("-created_at", "-pk")
        .iterator(chunk_size=CSV_CHUNK_SIZE)
    )
    return _csv_lines(payments)
