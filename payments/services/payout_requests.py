"""Manual payouts: on a manual schedule, owners and admins pay the available balance out now.

Money leaves once, whatever happens to the answer. The dashboard form's submission key is both
the processor's idempotency key and the reference kept with the payout, so a press after a
lost answer first looks for a payout carrying that reference (Stripe answers a key whose first
request failed with that failure again, so only reading back tells what happened) and only
re-sends, under the same key, when there is none. The payout is mirrored through
`payout_apply`, as its webhooks would mirror it, and audited in that transaction with the
person who asked; the request itself is audited before the processor hears of it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from config.exceptions import ApplicationError
from payments.exceptions import (
    InvalidPaymentRequestError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
)
from payments.gateways.base import MoneyOutGateway, PayoutState
from payments.models import Payout, ProcessorAccount
from payments.money import MoneyError, normalize_currency
from payments.services._common import audit
from payments.services.payouts import _money_out_gateway, money_out_account, payout_apply

# How far back a resumed request looks for its payout: longer than a form token lives (12 h)
# and no longer than the processor remembers an idempotency key (24 h).
FIND_WINDOW = timedelta(hours=24)


def payout_request(
    *,
    merchant: Merchant,
    amount: int,
    currency: str,
    actor: Actor,
    key: str,
    resumed: bool,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> Payout:
    """Pay `amount` (minor units) of the available `currency` balance out now; the payout.

    `key` identifies the request (at most 100 characters); `resumed` says an earlier attempt
    with it may have reached the processor.
    """
    try:
        currency = normalize_currency(currency)
    except MoneyError as exc:
        raise InvalidPaymentRequestError(str(exc), param="currency") from exc
    if amount <= 0:
        raise InvalidPaymentRequestError("The payout amount must be positive.", param="amount")
    account = money_out_account(merchant)
    if account is None:
        raise InvalidPaymentRequestError(
            "Payouts are not available for this merchant's processor account."
        )
    gateway = _money_out_gateway(account)
    if resumed:
        found = _read_back(gateway, account, key)
        if found is not None:
            return _mirror(merchant, account, found, actor=actor, request=request, step_up=step_up)
    else:
        _refuse_unless_manual(gateway, account)
        with transaction.atomic():
            audit(
                action="payout.request",
                merchant=merchant,
                actor=actor,
                request=request,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={"amount": amount, "currency": currency},
                step_up=step_up,
            )
    try:
        state = gateway.payout_create(
            account=account.processor_account_id,
            amount=amount,
            currency=currency,
            key=key,
            reference=key,
        )
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        found = _read_back(gateway, account, key)
        if found is None:
            raise
        state = found
    return _mirror(merchant, account, state, actor=actor, request=request, step_up=step_up)


def _refuse_unless_manual(gateway: MoneyOutGateway, account: ProcessorAccount) -> None:
    schedule = gateway.payout_schedule_retrieve(account=account.processor_account_id)
    if schedule.interval != "manual":
        raise InvalidPaymentRequestError(
            "Payouts go out automatically on this account's schedule; choose the manual "
            "schedule to pay out yourself.",
            param="interval",
        )


def _read_back(gateway: MoneyOutGateway, account: ProcessorAccount, key: str) -> PayoutState | None:
    """The payout an earlier attempt made, if any. A failed read leaves the outcome unknown:
    it must never read as "no payout was made"."""
    try:
        return gateway.payout_find(
            account=account.processor_account_id,
            reference=key,
            created_gte=timezone.now() - FIND_WINDOW,
        )
    except ApplicationError as exc:
        raise ProcessorOutcomeUnknownError(
            "The payment processor could not be asked whether the payout was made."
        ) from exc


def _mirror(
    merchant: Merchant,
    account: ProcessorAccount,
    state: PayoutState,
    *,
    actor: Actor,
    request: HttpRequest | None,
    step_up: bool | None,
) -> Payout:
    with transaction.atomic():
        payout = payout_apply(
            merchant=merchant, processor=account.processor, state=state, actor=actor
        )
        if payout is None:
            # Logged by payout_apply; its webhook and the reconciliation bring it in later.
            raise InvalidPaymentRequestError(
                "The processor accepted the payout but its answer could not be read; it will "
                "show on this page once the processor reports it."
            )
        audit(
            action="payout.create",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="payout",
            target_id=payout.public_id,
            payload={
                "amount": payout.amount,
                "currency": payout.currency,
                "processor_payout_id": payout.processor_payout_id,
            },
            step_up=step_up,
        )
    return payout
