"""Payments reads, always scoped to one merchant, with keyset pagination (newest first).

The cursor is the public id of the last object seen; it is turned into its (created_at, id)
position, so a page costs one index range scan at any depth (no OFFSET).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet

from accounts.models import Merchant
from payments.exceptions import InvalidPaymentRequestError, PaymentNotFoundError
from payments.models import Customer, Payment, PaymentLink, ProcessorAccount, Refund

M = TypeVar("M", bound=Model)
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_more: bool


def keyset_page(queryset: QuerySet[M], *, limit: int, starting_after: str | None = None) -> Page[M]:
    """Newest-first page of `queryset` after the object with public id `starting_after`."""
    if starting_after:
        anchor = queryset.filter(public_id=starting_after).values("created_at", "pk").first()
        if anchor is None:
            raise InvalidPaymentRequestError(
                "starting_after does not name an object in this list.",
                code="resource_missing",
                param="starting_after",
            )
        queryset = queryset.filter(
            Q(created_at__lt=anchor["created_at"])
            | Q(created_at=anchor["created_at"], pk__lt=anchor["pk"])
        )
    rows = list(queryset.order_by("-created_at", "-pk")[: limit + 1])
    return Page(items=rows[:limit], has_more=len(rows) > limit)


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
    if f.status:
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
        qs = qs.filter(Q(public_id=term) | Q(stripe_payment_intent_id=term))
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
    return ProcessorAccount.objects.filter(merchant=merchant).first()
