"""Payments: create (card or bank debit), confirm, resume and reconcile (capture and cancel:
`payments.services.capture`).

Shape of every money-moving service (Brandur Leach's atomic phases):
1. validate, and refuse fast when the processor's breaker is open (no local side effect);
2. commit our own row first (with its audit entry), so the processor idempotency key can be
   derived from it (`<public id>_create`);
3. call the processor (through its gateway) outside any transaction (never hold row locks
   across the network);
4. lock the row and apply the processor's answer through the status machine
   (`payments.services.sync`), which never moves a payment backwards.
An answer we could not read (timeout after the call may have run) leaves the payment
`processing` and schedules `payments.tasks.payment_reconcile`: it finds the charge by our
reference or asks again with the same idempotency key. Nothing here ever charges twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import (
    CardDeclinedError,
    InvalidPaymentRequestError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
    ProcessorUnavailableError,
)
from payments.gateways import DEFAULT_PROCESSOR, gateway_for
from payments.gateways.base import Charge
from payments.models import (
    CaptureMethod,
    Customer,
    Payment,
    PaymentLink,
    PaymentMethodType,
    ProcessorAccount,
)
from payments.services._common import (
    PROCESSOR_KEY_SAFE_AGE,
    account_of,
    audit,
    checked_money,
    schedule_payment_reconcile,
)
from payments.services.accounts import chargeable_account
from payments.services.customers import customer_processor_ensure
from payments.services.platform_fees import platform_fee_amount, platform_fee_terms
from payments.services.sync import payment_apply_processor_state
from payments.state import PaymentStatus, transition_allowed

logger = logging.getLogger(__name__)


def _payment_payload(payment: Payment) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "capture_method": payment.capture_method,
    }


def _platform_fee_for(
    *, merchant: Merchant, account: ProcessorAccount, amount: int, currency: str
) -> int:
    """The platform fee the new charge asks for: the merchant's terms now, when the processor
    that charges can take one (Braintree cannot: docs/payments.md, "Platform fee")."""
    if not gateway_for(account).takes_platform_fee:
        return 0
    terms = platform_fee_terms(merchant)
    return platform_fee_amount(terms=terms, amount=amount, currency=currency)


def _payment_open(
    payment: Payment,
    *,
    actor: Actor | None,
    request: HttpRequest | None,
    on_created: Callable[[Payment], None] | None,
    step_up: bool | None = None,
) -> Payment:
    """Commit a new payment row with its audit entry, before the processor hears of it."""
    with transaction.atomic():
        payment.save(force_insert=True)
        if on_created is not None:
            on_created(payment)
        audit(
            action="payment.create",
            merchant=payment.merchant,
            actor=actor,
            request=request,
            target_type="payment",
            target_id=payment.public_id,
            payload={
                **_payment_payload(payment),
                "payment_method_type": payment.payment_method_type,
                "platform_fee_requested": payment.platform_fee_requested,
            },
            step_up=step_up,
        )
    return payment


def _account_ready(
    *, merchant: Merchant, customer: Customer | None, processor: str | None = None
) -> ProcessorAccount:
    """The merchant's chargeable account at `processor` (None: its primary), its processor
    reachable (refusing fast, before any row is written, while its breaker is open), for a
    payment of `customer` if one is given."""
    if customer is not None and customer.merchant_id != merchant.pk:
        raise InvalidPaymentRequestError("No such customer.", param="customer")
    account = chargeable_account(merchant, processor=processor)
    gateway_for(account).ensure_available()
    return account


def payment_create(
    *,
    merchant: Merchant,
    actor: Actor | None,
    amount: int,
    currency: str,
    payment_method: str,
    capture_method: str = CaptureMethod.AUTOMATIC,
    customer: Customer | None = None,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    return_url: str | None = None,
    payment_link: PaymentLink | None = None,
    request: HttpRequest | None = None,
    on_created: Callable[[Payment], None] | None = None,
    on_settled: Callable[[Payment], None] | None = None,
    processor: str | None = None,
) -> Payment:
    """Create our payment row, then create and confirm its charge at the processor.

    `processor` names which of the merchant's connected processors charges (the one whose
    card form or SDK made `payment_method`); None: the merchant's primary.

    `on_created(payment)` runs inside the transaction that inserts the row: the idempotency
    layer uses it to move its recovery point to "object created" atomically with the row.
    `on_settled(payment)` runs inside the transaction that saves the processor's answer (not
    on a decline or an unknown outcome): the idempotency layer stores its response there.
    """
    currency = checked_money(amount, currency)
    if capture_method not in CaptureMethod.values:
        raise InvalidPaymentRequestError("Unknown capture method.", param="capture_method")
    account = _account_ready(merchant=merchant, customer=customer, processor=processor)
    payment = _payment_open(
        Payment(
            merchant=merchant,
            customer=customer,
            payment_link=payment_link,
            amount=amount,
            currency=currency,
            capture_method=capture_method,
            description=description,
            metadata=dict(metadata or {}),
            processor=account.processor,
            processor_payment_method_id=payment_method,
            status=PaymentStatus.REQUIRES_CONFIRMATION,
            platform_fee_requested=_platform_fee_for(
                merchant=merchant, account=account, amount=amount, currency=currency
            ),
        ),
        actor=actor,
        request=request,
        on_created=on_created,
    )
    return payment_confirm(
        payment=payment,
        account=account,
        return_url=return_url,
        actor=actor,
        on_settled=on_settled,
    )


def payment_create_bank_debit(
    *,
    merchant: Merchant,
    actor: Actor | None,
    customer: Customer,
    amount: int,
    currency: str,
    payment_method: str,
    bank_last4: str,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
    on_created: Callable[[Payment], None] | None = None,
    on_settled: Callable[[Payment], None] | None = None,
) -> Payment:
    """An ACH debit of a bank account already at the processor (`payment_method`: the `ba_`
    source or `us_bank_account` PaymentMethod of `customer`), in USD. The caller (banking)
    checked that the account is verified. It ends `processing`; webhooks settle it."""
    currency = checked_money(amount, currency)
    if currency != "usd":
        raise InvalidPaymentRequestError(
            "Bank debits (ACH) are in USD only.", param="currency", code="currency_unsupported"
        )
    # ACH debits are Stripe's (the bank account is a Stripe source): never routed elsewhere.
    account = _account_ready(merchant=merchant, customer=customer, processor=DEFAULT_PROCESSOR)
    payment = _payment_open(
        Payment(
            merchant=merchant,
            customer=customer,
            amount=amount,
            currency=currency,
            capture_method=CaptureMethod.AUTOMATIC,
            description=description,
            metadata=dict(metadata or {}),
            payment_method_type=PaymentMethodType.US_BANK_ACCOUNT,
            processor=account.processor,
            processor_payment_method_id=payment_method,
            bank_last4=bank_last4[-4:],
            status=PaymentStatus.REQUIRES_CONFIRMATION,
            platform_fee_requested=_platform_fee_for(
                merchant=merchant, account=account, amount=amount, currency=currency
            ),
        ),
        actor=actor,
        request=request,
        on_created=on_created,
        step_up=step_up,
    )
    return payment_confirm(payment=payment, account=account, actor=actor, on_settled=on_settled)


def payment_confirm(
    *,
    payment: Payment,
    account: ProcessorAccount | None = None,
    return_url: str | None = None,
    actor: Actor | None = None,
    on_settled: Callable[[Payment], None] | None = None,
    schedule_reconcile: bool = True,
) -> Payment:
    """Create + confirm the charge for an existing row; safe to repeat (same processor key).

    Also the resume step of an interrupted request and of reconciliation (which passes
    `schedule_reconcile=False`: it is the reconciliation, and must not enqueue itself again).
    """
    account = account or account_of(payment)
    processor_customer = None
    if payment.customer is not None:
        processor_customer = customer_processor_ensure(customer=payment.customer, account=account)
    try:
        charge = _charge_send(
            payment=payment, account=account, customer=processor_customer, return_url=return_url
        )
    except CardDeclinedError as exc:
        payment_record_failure(
            payment=payment,
            failure_code=exc.code,
            decline_code=exc.decline_code,
            failure_message=exc.message,
            charge_id=exc.processor_object_id or "",
        )
        exc.payment_public_id = payment.public_id
        raise
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        # Either the answer was lost or the processor is still running the first attempt:
        # the charge may exist, so reconcile rather than fail it.
        _payment_mark_processing(payment=payment, schedule_reconcile=schedule_reconcile)
        raise
    except ProcessorUnavailableError as exc:
        # Refused before the processor saw it (breaker open, rate limited): nothing happened.
        payment_record_failure(
            payment=payment, failure_code=exc.code, decline_code="", failure_message=exc.message
        )
        raise
    except ProcessorRequestError as exc:
        payment_record_failure(
            payment=payment, failure_code=exc.code, decline_code="", failure_message=exc.message
        )
        raise
    return payment_apply_processor_state(
        payment=payment,
        charge=charge,
        actor=actor or Actor.system("payments.confirm"),
        on_applied=on_settled,
    )


def _charge_send(
    *, payment: Payment, account: ProcessorAccount, customer: str | None, return_url: str | None
) -> Charge:
    """The payment's one create-and-confirm call; the same key and parameters replay, never
    charge again. A bank debit needs the customer's bank account at the processor."""
    bank_debit = payment.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT
    if bank_debit and (customer is None or not payment.processor_payment_method_id):
        raise ProcessorRequestError(
            "The bank debit has no bank account at the processor.", code="bank_account_missing"
        )
    return gateway_for(account).charge_create(
        account=account.processor_account_id,
        key=f"{payment.public_id}_create",
        reference=payment.public_id,
        amount=payment.amount,
        currency=payment.currency,
        method_type=payment.payment_method_type,
        payment_method=payment.processor_payment_method_id,
        capture_manually=payment.capture_method == CaptureMethod.MANUAL,
        description=payment.description,
        customer=customer,
        return_url=None if bank_debit else return_url,
        # From the row, never recomputed: a resend under the same key sends the same fee.
        platform_fee=payment.platform_fee_requested,
    )


def payment_record_failure(
    *,
    payment: Payment,
    failure_code: str,
    decline_code: str,
    failure_message: str,
    charge_id: str = "",
) -> Payment:
    """A failed attempt: back to requires_payment_method with the reason, if still allowed."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if not transition_allowed(locked.status, PaymentStatus.REQUIRES_PAYMENT_METHOD):
            return locked
        locked.status = PaymentStatus.REQUIRES_PAYMENT_METHOD
        locked.failure_code = failure_code[:64]
        locked.decline_code = decline_code[:64]
        locked.failure_message = failure_message[:500]
        if charge_id and not locked.processor_payment_id:
            locked.processor_payment_id = charge_id
        locked.save()
        audit(
            action="payment.failed",
            merchant=locked.merchant,
            actor=Actor.system("payments.confirm"),
            request=None,
            target_type="payment",
            target_id=locked.public_id,
            payload={"failure_code": locked.failure_code, "decline_code": locked.decline_code},
            outcome="failure",
        )
    payment.__dict__.update({k: getattr(locked, k) for k in ("status", "failure_code")})
    return locked


def _payment_mark_processing(*, payment: Payment, schedule_reconcile: bool = True) -> None:
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status == PaymentStatus.REQUIRES_CONFIRMATION:
            locked.status = PaymentStatus.PROCESSING
            locked.save(update_fields=["status", "updated_at"])
            audit(
                action="payment.outcome_unknown",
                merchant=locked.merchant,
                actor=Actor.system("payments.confirm"),
                request=None,
                target_type="payment",
                target_id=locked.public_id,
                payload={"status": locked.status},
            )
        if schedule_reconcile:
            schedule_payment_reconcile(locked)


def payment_reconcile(*, payment: Payment) -> Payment:
    """Settle a payment whose processor outcome we never saw, without ever charging twice."""
    payment.refresh_from_db()
    account = account_of(payment)
    if payment.processor_payment_id:
        charge = gateway_for(payment).charge_retrieve(
            account=account.processor_account_id, charge=payment.processor_payment_id
        )
        return payment_apply_processor_state(
            payment=payment, charge=charge, actor=Actor.system("payments.reconcile")
        )
    if payment.status not in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_CONFIRMATION):
        return payment
    try:
        return _payment_send_or_find(
            payment=payment, account=account, actor=Actor.system("payments.reconcile")
        )
    except (CardDeclinedError, ProcessorRequestError):
        payment.refresh_from_db()
        return payment


# How far before our row's creation the processor's clock may put the charge it created.
_FIND_CLOCK_MARGIN = timedelta(hours=1)


def _payment_send_or_find(
    *,
    payment: Payment,
    account: ProcessorAccount,
    actor: Actor,
    return_url: str | None = None,
) -> Payment:
    """A committed payment whose charge we never heard of: find it, or send it (same key).

    The server may have died after the processor charged (or the processor may have answered
    a 500 it stores under the key, which a resend would only repeat): so first look for a
    charge that names this payment. Only when there is none is the create resent, with the
    payment's own key, so a first request still in flight is joined, not doubled.
    """
    found = gateway_for(payment).charge_find(
        account=account.processor_account_id,
        reference=payment.public_id,
        created_since=payment.created_at - _FIND_CLOCK_MARGIN,
    )
    if found is not None:
        return payment_apply_processor_state(payment=payment, charge=found, actor=actor)
    if timezone.now() - payment.created_at > PROCESSOR_KEY_SAFE_AGE:
        # Re-sending could charge again once the processor forgot the key: a person decides.
        logger.error("Payment %s needs manual reconciliation", payment.public_id)
        return payment
    return payment_confirm(
        payment=payment,
        account=account,
        return_url=return_url,
        actor=actor,
        schedule_reconcile=False,
    )


def payment_resume(*, payment: Payment, return_url: str | None = None) -> Payment:
    """Continue a request that stopped after its row was committed (idempotency recovery).

    The processor call is repeated with the same key, so it replays rather than re-charges.
    """
    payment.refresh_from_db()
    if payment.processor_payment_id:
        if payment.status == PaymentStatus.PROCESSING:
            return payment_reconcile(payment=payment)
        return payment
    never_sent = payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD and (
        payment.failure_code == ProcessorUnavailableError.code
    )
    if payment.status in (PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.PROCESSING) or (
        never_sent
    ):
        gateway_for(payment).ensure_available()
        account = account_of(payment)
        return _payment_send_or_find(
            payment=payment,
            account=account,
            actor=Actor.system("payments.confirm"),
            return_url=return_url,
        )
    return payment
