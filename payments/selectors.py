"""Payments reads, always scoped to one merchant; lists are keyset pages (`api.pagination`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Merchant
from api.pagination import Page, keyset_page
from inbound.models import InboundEvent
from payments.balance_selectors import balance_by_processor
from payments.exceptions import PaymentNotFoundError
from payments.gateways import DEFAULT_PROCESSOR
from payments.models import (
    BalanceTransaction,
    Customer,
    Dispute,
    DisputeEvidenceFile,
    Payment,
    PaymentLink,
    Payout,
    PayoutStatus,
    ProcessorAccount,
    Refund,
)
from payments.state import FAILED, PaymentStatus


@dataclass(frozen=True)
class PaymentFilters:
    status: str | None = None
    customer: str | None = None
    customer_email: str | None = None
    card_last4: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    amount_gte: int | None = None
    amount_lte: int | None = None
    search: str | None = None


def payment_queryset(*, merchant: Merchant, filters: PaymentFilters | None = None) -> Any:
    qs = Payment.objects.filter(merchant=merchant).select_related("customer")
    f = filters or PaymentFilters()
    if f.status == FAILED:
        qs = qs.filter(status=PaymentStatus.REQUIRES_PAYMENT_METHOD, failure_code__gt="")
    elif f.status:
        qs = qs.filter(status=f.status)
    if f.customer:
        qs = qs.filter(customer__public_id=f.customer)
    if f.customer_email:
        qs = qs.filter(customer__email=f.customer_email.strip().lower())
    if f.card_last4:
        qs = qs.filter(card_last4=f.card_last4)
    if f.created_gte:
        qs = qs.filter(created_at__gte=f.created_gte)
    if f.created_lt:
        qs = qs.filter(created_at__lt=f.created_lt)
    if f.amount_gte is not None:
        qs = qs.filter(amount__gte=f.amount_gte)
    if f.amount_lte is not None:
        qs = qs.filter(amount__lte=f.amount_lte)
    if f.search:
        term = f.search.strip()
        qs = qs.filter(Q(public_id=term) | Q(processor_payment_id=term))
    return qs


def payment_list(
    *,
    merchant: Merchant,
    filters: PaymentFilters | None = None,
    limit: int = 10,
    starting_after: str | None = None,
) -> Page[Payment]:
    return keyset_page(
        payment_queryset(merchant=merchant, filters=filters),
        limit=limit,
        starting_after=starting_after,
    )


def payment_get(*, merchant: Merchant, public_id: str) -> Payment:
    payment = (
        Payment.objects.select_related("customer", "merchant")
        .filter(merchant=merchant, public_id=public_id)
        .first()
    )
    if payment is None:
        raise PaymentNotFoundError("No such payment.", param="id")
    return payment


def refund_list(
    *, payment: Payment, limit: int = 10, starting_after: str | None = None
) -> Page[Refund]:
    return keyset_page(
        Refund.objects.filter(payment=payment).select_related("payment"),
        limit=limit,
        starting_after=starting_after,
    )


def customer_list(
    *,
    merchant: Merchant,
    email: str | None = None,
    limit: int = 10,
    starting_after: str | None = None,
) -> Page[Customer]:
    qs = Customer.objects.filter(merchant=merchant)
    if email:
        qs = qs.filter(email=email.strip().lower())
    return keyset_page(qs, limit=limit, starting_after=starting_after)


def customer_get(*, merchant: Merchant, public_id: str) -> Customer:
    customer = Customer.objects.filter(merchant=merchant, public_id=public_id).first()
    if customer is None:
        raise PaymentNotFoundError("No such customer.", param="id")
    return customer


def dispute_queryset(*, merchant: Merchant, status: str | None = None) -> QuerySet[Dispute]:
    qs = Dispute.objects.filter(merchant=merchant).select_related("payment")
    if status:
        qs = qs.filter(status=status)
    return qs


def dispute_list(
    *,
    merchant: Merchant,
    status: str | None = None,
    limit: int = 10,
    starting_after: str | None = None,
) -> Page[Dispute]:
    return keyset_page(
        dispute_queryset(merchant=merchant, status=status),
        limit=limit,
        starting_after=starting_after,
    )


def dispute_get(*, merchant: Merchant, public_id: str) -> Dispute:
    dispute = (
        Dispute.objects.select_related("payment", "payment__customer", "merchant")
        .filter(merchant=merchant, public_id=public_id)
        .first()
    )
    if dispute is None:
        raise PaymentNotFoundError("No such dispute.", param="id")
    return dispute


def dispute_evidence_file_list(*, dispute: Dispute) -> list[DisputeEvidenceFile]:
    """What was sent as evidence, without the kept bytes (read only for a download)."""
    return list(dispute.evidence_files.defer("content").order_by("created_at", "pk"))


def dispute_evidence_file_get(*, dispute: Dispute, public_id: str) -> DisputeEvidenceFile:
    """A document sent as evidence whose copy was kept, with its bytes."""
    found = dispute.evidence_files.filter(public_id=public_id, content__isnull=False).first()
    if found is None:
        raise PaymentNotFoundError("No such kept document.", param="id")
    return found


def payment_link_list(
    *, merchant: Merchant, limit: int = 10, starting_after: str | None = None
) -> Page[PaymentLink]:
    return keyset_page(
        PaymentLink.objects.filter(merchant=merchant), limit=limit, starting_after=starting_after
    )


def payment_link_get(*, merchant: Merchant, public_id: str) -> PaymentLink:
    link = PaymentLink.objects.filter(merchant=merchant, public_id=public_id).first()
    if link is None:
        raise PaymentNotFoundError("No such payment link.", param="id")
    return link


def payment_link_by_token(*, token: str) -> PaymentLink | None:
    return PaymentLink.objects.select_related("merchant").filter(token=token).first()


def processor_account_get(*, merchant: Merchant) -> ProcessorAccount | None:
    """The merchant's account at the processor onboarded from the dashboard (the default)."""
    return ProcessorAccount.objects.filter(merchant=merchant, processor=DEFAULT_PROCESSOR).first()


def processor_accounts_ranked(*, merchant: Merchant) -> bool:
    """Whether any of the merchant's processor accounts is ranked (takes payments)."""
    return ProcessorAccount.objects.filter(merchant=merchant, routing_rank__isnull=False).exists()


# --- Dashboard reads (summaries, timelines) -------------------------------------------------


def payment_dashboard_queryset(
    *, merchant: Merchant, filters: PaymentFilters, currency: str | None = None
) -> Any:
    """`payment_queryset` for the dashboard: the customer email is resolved within the merchant.

    Filtering on `customer__email` alone cannot use the (merchant, email) index of customers;
    the subquery names the merchant, so it becomes an index lookup and then the customer's own
    payments. `currency` narrows the list when an amount bound is expressed in it.
    """
    email = (filters.customer_email or "").strip().lower()
    base = PaymentFilters(**{**filters.__dict__, "customer_email": None})
    qs = payment_queryset(merchant=merchant, filters=base)
    if email:
        qs = qs.filter(
            customer__in=Customer.objects.filter(merchant=merchant, email=email).values("pk")
        )
    if currency:
        qs = qs.filter(currency=currency)
    return qs


def customer_payment_queryset(*, customer: Customer) -> Any:
    return Payment.objects.filter(merchant_id=customer.merchant_id, customer=customer)


def customer_queryset(*, merchant: Merchant, email: str | None = None) -> QuerySet[Customer]:
    qs = Customer.objects.filter(merchant=merchant)
    if email:
        qs = qs.filter(email=email.strip().lower())
    return qs


def payment_link_queryset(*, merchant: Merchant) -> QuerySet[PaymentLink]:
    return PaymentLink.objects.filter(merchant=merchant)


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    title: str
    amount: int | None = None
    currency: str = ""
    detail: str = ""


def payment_timeline(*, payment: Payment) -> list[TimelineEvent]:
    """What happened to a payment, oldest first, from its own rows (refunds, disputes, times).

    The audit log holds the full history, but it belongs to compliance and names objects only
    by public id; the payment page shows what the payments data itself can prove.
    """
    events = [
        TimelineEvent(
            at=payment.created_at,
            kind="created",
            title="Payment created",
            amount=payment.amount,
            currency=payment.currency,
            detail=f"Capture: {payment.get_capture_method_display().lower()}",
        )
    ]
    if payment.failure_code:
        events.append(
            TimelineEvent(
                at=payment.updated_at,
                kind="failed",
                title="Attempt failed",
                detail=payment.failure_message or payment.decline_code or payment.failure_code,
            )
        )
    for refund in Refund.objects.filter(payment=payment).order_by("created_at", "pk"):
        events.append(
            TimelineEvent(
                at=refund.created_at,
                kind=f"refund_{refund.status}",
                title=f"Refund {refund.get_status_display().lower()}",
                amount=refund.amount,
                currency=refund.currency,
                detail=refund.failure_reason or refund.reason.replace("_", " "),
            )
        )
    for dispute in Dispute.objects.filter(payment=payment).order_by("created_at", "pk"):
        due = dispute.evidence_due_by
        events.append(
            TimelineEvent(
                at=dispute.created_at,
                kind=f"dispute_{dispute.status}",
                title=f"Dispute: {dispute.get_status_display().lower()}",
                amount=dispute.amount,
                currency=dispute.currency,
                detail=(
                    f"Evidence due {due:%Y-%m-%d %H:%M} UTC" if due else dispute.reason
                ).replace("_", " "),
            )
        )
    if payment.status != PaymentStatus.REQUIRES_CONFIRMATION:
        events.append(
            TimelineEvent(
                at=payment.updated_at,
                kind=f"status_{payment.status}",
                title=f"Now {payment.get_status_display().lower()}",
                amount=payment.amount_captured or None,
                currency=payment.currency,
                detail="Last change recorded for this payment",
            )
        )
    return sorted(events, key=lambda event: event.at)


def inbound_event_recent(
    *, merchant: Merchant, status: str | None = None, limit: int = 25
) -> list[InboundEvent]:
    """The merchant's newest processor events, for the Developers page (the API pages all)."""
    events = InboundEvent.objects.filter(merchant=merchant)
    if status:
        events = events.filter(status=status)
    return list(events.order_by("-received_at", "-pk")[:limit])


# --- Money out: balance, payouts, balance transactions --------------------------------------
# Published for other pages (the overview shows `balance_summary` and `payout_next`). Each
# reads through `using` (the pages and exports pass `settings.REPORTS_DB_ALIAS`: the reports
# replica when there is one, else the default database).


@dataclass(frozen=True)
class CurrencyBalance:
    """The merchant's processor balance in one currency, in minor units."""

    currency: str
    available: int
    pending: int


def balance_summary(
    *, merchant: Merchant, using: str = "default", now: datetime | None = None
) -> list[CurrencyBalance]:
    """Available and pending per currency (the merchant's default currency first), every
    processor added up (`balance_selectors.balance_by_processor` has each one's share)."""
    found: dict[str, CurrencyBalance] = {}
    for part in balance_by_processor(merchant=merchant, using=using, now=now or timezone.now()):
        held = found.get(part.currency)
        found[part.currency] = CurrencyBalance(
            currency=part.currency,
            available=part.available + (held.available if held else 0),
            pending=part.pending + (held.pending if held else 0),
        )
    found.setdefault(
        merchant.default_currency,
        CurrencyBalance(currency=merchant.default_currency, available=0, pending=0),
    )
    primary = merchant.default_currency
    return sorted(found.values(), key=lambda b: (b.currency != primary, b.currency))


def payout_queryset(*, merchant: Merchant, using: str = "default") -> QuerySet[Payout]:
    return Payout.objects.using(using).filter(merchant=merchant)


def payout_next(*, merchant: Merchant, using: str = "default") -> Payout | None:
    """The next payout on its way (pending or in transit), soonest arrival first."""
    return (
        payout_queryset(merchant=merchant, using=using)
        .filter(status__in=(PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT))
        .order_by("arrival_date", "pk")
        .first()
    )


def payout_list(
    *,
    merchant: Merchant,
    limit: int = 10,
    starting_after: str | None = None,
    status: str | None = None,
    using: str = "default",
) -> Page[Payout]:
    qs = payout_queryset(merchant=merchant, using=using)
    if status:
        qs = qs.filter(status=status)
    return keyset_page(
        qs, limit=limit, starting_after=starting_after, order_field="processor_created_at"
    )


def payout_get(*, merchant: Merchant, public_id: str, using: str = "default") -> Payout:
    payout = payout_queryset(merchant=merchant, using=using).filter(public_id=public_id).first()
    if payout is None:
        raise PaymentNotFoundError("No such payout.", param="id")
    return payout


def balance_transaction_queryset(
    *, merchant: Merchant, payout: Payout | None = None, using: str = "default"
) -> QuerySet[BalanceTransaction]:
    qs = BalanceTransaction.objects.using(using).filter(merchant=merchant)
    if payout is not None:
        qs = qs.filter(payout=payout)
    return qs.select_related("payment", "refund", "dispute", "payout")


def balance_transaction_list(
    *,
    merchant: Merchant,
    payout: Payout | None = None,
    limit: int = 10,
    starting_after: str | None = None,
    using: str = "default",
) -> Page[BalanceTransaction]:
    return keyset_page(
        balance_transaction_queryset(merchant=merchant, payout=payout, using=using),
        limit=limit,
        starting_after=starting_after,
        order_field="processor_created_at",
    )
