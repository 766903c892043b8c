"""What every payments service shares: the audit entry, reconciliation scheduling, money checks
and the gateway of a merchant's processor account."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from payments.exceptions import InvalidPaymentRequestError
from payments.gateways import DEFAULT_PROCESSOR, gateway_for
from payments.gateways.base import PaymentGateway
from payments.models import Payment, ProcessorAccount
from payments.money import MoneyError, normalize_currency, validate_amount

# Processors keep idempotency keys for a day (Stripe: 24 hours); after that re-sending a create
# could charge again, so reconciliation stops re-sending well before.
PROCESSOR_KEY_SAFE_AGE = timedelta(hours=23)


def audit(
    *,
    action: str,
    merchant: Merchant,
    actor: Actor | None,
    request: HttpRequest | None,
    target_type: str,
    target_id: str,
    payload: Mapping[str, Any],
    step_up: bool | None = None,
    outcome: str = "success",
) -> None:
    """A payments audit entry in the caller's transaction; `step_up` recorded when given."""
    data = dict(payload)
    if step_up is not None:
        data["step_up"] = step_up
    audit_record(
        action=action,
        request=request,
        actor=actor,
        merchant_id=merchant.public_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        payload=data,
    )


def schedule_payment_reconcile(payment: Payment) -> None:
    from payments.tasks import payment_reconcile_enqueue

    transaction.on_commit(lambda: payment_reconcile_enqueue(payment.pk), robust=True)


def checked_money(amount: int, currency: str) -> str:
    """The normalised currency, or a 400 naming `amount`."""
    try:
        currency = normalize_currency(currency)
        validate_amount(amount, currency)
    except MoneyError as exc:
        raise InvalidPaymentRequestError(str(exc), param="amount") from exc
    return currency


def merchant_account(
    merchant_id: int, processor: str = DEFAULT_PROCESSOR
) -> tuple[ProcessorAccount, PaymentGateway]:
    """The merchant's account at `processor` and its gateway (the account must exist)."""
    account = ProcessorAccount.objects.get(merchant_id=merchant_id, processor=processor)
    return account, gateway_for(account)


def account_of(holder: Payment) -> ProcessorAccount:
    """The merchant's account at the processor that holds `holder` (a payment, a customer):
    captures, cancels, refunds and reconciliation go to the processor that charged."""
    return ProcessorAccount.objects.get(merchant_id=holder.merchant_id, processor=holder.processor)
