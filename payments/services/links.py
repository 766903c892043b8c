"""Payment links: a `/pay/<token>/` page for a fixed amount, created, closed and checked."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import InvalidPaymentRequestError, PaymentLinkUnavailableError
from payments.models import PaymentLink
from payments.services._common import audit, checked_money


def payment_link_create(
    *,
    merchant: Merchant,
    actor: Actor | None,
    amount: int,
    currency: str,
    description: str,
    reusable: bool = False,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> PaymentLink:
    currency = checked_money(amount, currency)
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidPaymentRequestError("The expiry must be in the future.", param="expires_at")
    if not description.strip():
        raise InvalidPaymentRequestError("A description is required.", param="description")
    with transaction.atomic():
        link = PaymentLink.objects.create(
            merchant=merchant,
            amount=amount,
            currency=currency,
            description=description.strip(),
            reusable=reusable,
            expires_at=expires_at,
        )
        audit(
            action="payment_link.create",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="payment_link",
            target_id=link.public_id,
            payload={"amount": amount, "currency": currency, "reusable": reusable},
            step_up=step_up,
        )
    return link


def payment_link_deactivate(
    *,
    link: PaymentLink,
    actor: Actor | None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> PaymentLink:
    with transaction.atomic():
        locked = PaymentLink.objects.select_for_update().select_related("merchant").get(pk=link.pk)
        if locked.active:
            locked.active = False
            locked.deactivated_at = timezone.now()
            locked.save(update_fields=["active", "deactivated_at"])
            audit(
                action="payment_link.deactivate",
                merchant=locked.merchant,
                actor=actor,
                request=request,
                target_type="payment_link",
                target_id=locked.public_id,
                payload={},
                step_up=step_up,
            )
    return locked


def payment_link_check_open(*, link: PaymentLink) -> None:
    if not link.active or link.completed_at is not None:
        raise PaymentLinkUnavailableError()
    if link.expires_at is not None and link.expires_at <= timezone.now():
        raise PaymentLinkUnavailableError("This payment link has expired.")
