"""Payments writes: onboarding, payments, captures, cancels, refunds, customers, payment links.

Shape of every money-moving service (Brandur Leach's atomic phases):
1. validate, and refuse fast when the processor's breaker is open (no local side effect);
2. commit our own row first (with its audit entry), so the processor idempotency key can be
   derived from it (`<public id>_create`);
3. call the processor outside any transaction (never hold row locks across the network);
4. lock the row (`select_for_update`) and apply the processor's answer through the status
   machine, which never moves a payment backwards.
An answer we could not read (timeout after the call may have run) leaves the payment
`processing` and schedules `payments.tasks.payment_reconcile`: it asks again with the same
idempotency key and settles the row. Nothing here ever charges twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from payments.exceptions import (
    CardDeclinedError,
    InvalidPaymentRequestError,
    MerchantNotReadyError,
    PaymentLinkUnavailableError,
    PaymentStateError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
    ProcessorUnavailableError,
    RefundAmountError,
)
from payments.gateways import stripe as gateway
from payments.models import (
    CaptureMethod,
    Customer,
    Payment,
    PaymentLink,
    PaymentMethodType,
    ProcessorAccount,
    Refund,
    RefundStatus,
)
from payments.money import MoneyError, format_amount, normalize_currency, validate_amount
from payments.state import CANCELABLE, PaymentStatus, transition_allowed

logger = logging.getLogger(__name__)

# Stripe keeps idempotency keys for 24 hours; after that re-sending a create could charge
# again, so reconciliation stops re-sending well before.
PROCESSOR_KEY_SAFE_AGE = timedelta(hours=23)
_REFUND_RESERVING = (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION, RefundStatus.SUCCEEDED)


def _audit(
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


def _schedule_reconcile(payment: Payment) -> None:
    from payments.tasks import payment_reconcile_enqueue

    transaction.on_commit(lambda: payment_reconcile_enqueue(payment.pk), robust=True)


# --- Merchant onboarding --------------------------------------------------------------------


def merchant_connect_account_ensure(
    *, merchant: Merchant, actor: Actor | None = None, request: HttpRequest | None = None
) -> ProcessorAccount:
    """The merchant's connected account, created through the Connect API on first use.

    Concurrent first calls share one Stripe idempotency key, so Stripe creates one account.
    """
    existing = ProcessorAccount.objects.filter(merchant=merchant).first()
    if existing is not None:
        return existing
    data = gateway.account_create(
        country=merchant.country, idempotency_key=f"{merchant.public_id}_connect_account"
    )
    try:
        with transaction.atomic():
            account = ProcessorAccount.objects.create(
                merchant=merchant,
                processor_account_id=data.id,
                charges_enabled=data.charges_enabled,
                payouts_enabled=data.payouts_enabled,
                details_submitted=data.details_submitted,
            )
            _audit(
                action="merchant.processor_account_create",
                merchant=merchant,
                actor=actor or Actor.system("payments.onboarding"),
                request=request,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={"charges_enabled": data.charges_enabled},
            )
    except IntegrityError:
        # Another request stored the same account first.
        return ProcessorAccount.objects.get(merchant=merchant)
    return account


def merchant_account_refresh(*, merchant: Merchant) -> ProcessorAccount:
    """Pull the account's capabilities (also what the `account.updated` handler calls)."""
    account = ProcessorAccount.objects.get(merchant=merchant)
    data = gateway.account_retrieve(stripe_account=account.processor_account_id)
    return processor_account_apply(
        account=account,
        charges_enabled=data.charges_enabled,
        payouts_enabled=data.payouts_enabled,
        details_submitted=data.details_submitted,
    )


def processor_account_apply(
    *,
    account: ProcessorAccount,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
) -> ProcessorAccount:
    with transaction.atomic():
        locked = ProcessorAccount.objects.select_for_update().get(pk=account.pk)
        locked.charges_enabled = charges_enabled
        locked.payouts_enabled = payouts_enabled
        locked.details_submitted = details_submitted
        locked.save(
            update_fields=["charges_enabled", "payouts_enabled", "details_submitted", "updated_at"]
        )
    return locked


def _chargeable_account(merchant: Merchant) -> ProcessorAccount:
    account = merchant_connect_account_ensure(merchant=merchant)
    if not account.charges_enabled:
        raise MerchantNotReadyError()
    return account


# --- Customers ------------------------------------------------------------------------------


def customer_create(
    *,
    merchant: Merchant,
    actor: Actor | None,
    email: str = "",
    name: str = "",
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    request: HttpRequest | None = None,
) -> Customer:
    """A local customer; its Stripe twin is created when it first pays (see below)."""
    with transaction.atomic():
        customer = Customer.objects.create(
            merchant=merchant,
            email=email.strip().lower(),
            name=name.strip(),
            description=description.strip(),
            metadata=dict(metadata or {}),
        )
        _audit(
            action="customer.create",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="customer",
            target_id=customer.public_id,
            payload={},
        )
    return customer


def customer_update(
    *,
    customer: Customer,
    actor: Actor | None,
    fields: Mapping[str, Any],
    request: HttpRequest | None = None,
) -> Customer:
    allowed = {"email", "name", "description", "metadata"}
    changes = {key: value for key, value in fields.items() if key in allowed}
    if "email" in changes:
        changes["email"] = str(changes["email"]).strip().lower()
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        for key, value in changes.items():
            setattr(locked, key, value)
        locked.save()
        _audit(
            action="customer.update",
            merchant=locked.merchant,
            actor=actor,
            request=request,
            target_type="customer",
            target_id=locked.public_id,
            payload={"fields": sorted(changes)},
        )
    if locked.processor_customer_id and changes:
        account = ProcessorAccount.objects.get(merchant_id=locked.merchant_id)
        remote = {k: v for k, v in changes.items() if k in {"email", "name", "description"}}
        if remote:
            gateway.customer_update(
                stripe_account=account.processor_account_id,
                customer_id=locked.processor_customer_id,
                fields=remote,
            )
    return locked


def _customer_processor_ensure(*, customer: Customer, account: ProcessorAccount) -> str:
    if customer.processor_customer_id:
        return customer.processor_customer_id
    data = gateway.customer_create(
        stripe_account=account.processor_account_id,
        idempotency_key=f"{customer.public_id}_create",
        email=customer.email,
        name=customer.name,
        description=customer.description,
        metadata={"ledgerline_customer": customer.public_id},
    )
    Customer.objects.filter(pk=customer.pk, processor_customer_id="").update(
        processor_customer_id=data.id
    )
    customer.processor_customer_id = data.id
    return data.id


def customer_processor_bank_account_attach(
    *, customer: Customer, token: str, idempotency_key: str
) -> gateway.BankSourceData:
    """Attach a one-time bank-account token (Plaid's `btok_`) to the customer's Stripe twin
    on the merchant's connected account. Moves no money; the caller keeps the `ba_` id."""
    account = _chargeable_account(customer.merchant)
    gateway.ensure_available()
    stripe_customer = _customer_processor_ensure(customer=customer, account=account)
    return gateway.customer_bank_account_attach(
        stripe_account=account.processor_account_id,
        customer_id=stripe_customer,
        token=token,
        idempotency_key=idempotency_key,
    )


def customer_processor_bank_setup_create(
    *, customer: Customer, idempotency_key: str, metadata: Mapping[str, str] | None = None
) -> gateway.BankSetupData:
    """A SetupIntent on the merchant's connected account for Stripe to collect and verify
    (by micro-deposits) a bank account of the customer. Moves no money."""
    account = _chargeable_account(customer.merchant)
    gateway.ensure_available()
    stripe_customer = _customer_processor_ensure(customer=customer, account=account)
    return gateway.setup_intent_create_bank(
        stripe_account=account.processor_account_id,
        customer_id=stripe_customer,
        idempotency_key=idempotency_key,
        metadata=metadata,
    )


def merchant_bank_setup_retrieve(*, merchant: Merchant, intent_id: str) -> gateway.BankSetupData:
    account = ProcessorAccount.objects.get(merchant=merchant)
    return gateway.setup_intent_retrieve(
        stripe_account=account.processor_account_id, intent_id=intent_id
    )


def merchant_bank_setup_verify(
    *, merchant: Merchant, intent_id: str, descriptor_code: str, idempotency_key: str
) -> gateway.BankSetupData:
    gateway.ensure_available()
    account = ProcessorAccount.objects.get(merchant=merchant)
    return gateway.setup_intent_verify_microdeposits(
        stripe_account=account.processor_account_id,
        intent_id=intent_id,
        descriptor_code=descriptor_code,
        idempotency_key=idempotency_key,
    )


# --- Payments -------------------------------------------------------------------------------


def _payment_payload(payment: Payment) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "capture_method": payment.capture_method,
    }


def _checked_money(amount: int, currency: str) -> str:
    """The normalised currency, or a 400 naming `amount`."""
    try:
        currency = normalize_currency(currency)
        validate_amount(amount, currency)
    except MoneyError as exc:
        raise InvalidPaymentRequestError(str(exc), param="amount") from exc
    return currency


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
        _audit(
            action="payment.create",
            merchant=payment.merchant,
            actor=actor,
            request=request,
            target_type="payment",
            target_id=payment.public_id,
            payload={
                **_payment_payload(payment),
                "payment_method_type": payment.payment_method_type,
            },
            step_up=step_up,
        )
    return payment


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
) -> Payment:
    """Create our payment row, then create and confirm its PaymentIntent.

    `on_created(payment)` runs inside the transaction that inserts the row: the idempotency
    layer uses it to move its recovery point to "object created" atomically with the row.
    `on_settled(payment)` runs inside the transaction that saves the processor's answer (not
    on a decline or an unknown outcome): the idempotency layer stores its response there.
    """
    currency = _checked_money(amount, currency)
    if capture_method not in CaptureMethod.values:
        raise InvalidPaymentRequestError("Unknown capture method.", param="capture_method")
    if customer is not None and customer.merchant_id != merchant.pk:
        raise InvalidPaymentRequestError("No such customer.", param="customer")
    account = _chargeable_account(merchant)
    gateway.ensure_available()
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
            processor_payment_method_id=payment_method,
            status=PaymentStatus.REQUIRES_CONFIRMATION,
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
    currency = _checked_money(amount, currency)
    if currency != "usd":
        raise InvalidPaymentRequestError(
            "Bank debits (ACH) are in USD only.", param="currency", code="currency_unsupported"
        )
    if customer.merchant_id != merchant.pk:
        raise InvalidPaymentRequestError("No such customer.", param="customer")
    account = _chargeable_account(merchant)
    gateway.ensure_available()
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
            processor_payment_method_id=payment_method,
            bank_last4=bank_last4[-4:],
            status=PaymentStatus.REQUIRES_CONFIRMATION,
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
    """Create + confirm the intent for an existing row; safe to repeat (same processor key).

    Also the resume step of an interrupted request and of reconciliation (which passes
    `schedule_reconcile=False`: it is the reconciliation, and must not enqueue itself again).
    """
    account = account or ProcessorAccount.objects.get(merchant_id=payment.merchant_id)
    stripe_customer = None
    if payment.customer is not None:
        stripe_customer = _customer_processor_ensure(customer=payment.customer, account=account)
    try:
        if payment.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT:
            intent = _bank_debit_send(
                payment=payment, account=account, stripe_customer=stripe_customer
            )
        else:
            intent = gateway.payment_intent_create_and_confirm(
                stripe_account=account.processor_account_id,
                idempotency_key=f"{payment.public_id}_create",
                amount=payment.amount,
                currency=payment.currency,
                payment_method=payment.processor_payment_method_id,
                capture_method=payment.capture_method,
                description=payment.description,
                customer=stripe_customer,
                return_url=return_url,
                metadata={"ledgerline_payment": payment.public_id},
            )
    except CardDeclinedError as exc:
        payment_record_failure(
            payment=payment,
            failure_code=exc.code,
            decline_code=exc.decline_code,
            failure_message=exc.message,
            intent_id=exc.processor_object_id or "",
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
        intent=intent,
        actor=actor or Actor.system("payments.confirm"),
        on_applied=on_settled,
    )


def _bank_debit_send(
    *, payment: Payment, account: ProcessorAccount, stripe_customer: str | None
) -> gateway.IntentData:
    """The ACH debit's one processor call; the same key and parameters replay, never re-debit."""
    if stripe_customer is None or not payment.processor_payment_method_id:
        raise ProcessorRequestError(
            "The bank debit has no bank account at the processor.", code="bank_account_missing"
        )
    return gateway.payment_intent_create_bank_debit(
        stripe_account=account.processor_account_id,
        idempotency_key=f"{payment.public_id}_create",
        amount=payment.amount,
        currency=payment.currency,
        customer=stripe_customer,
        payment_method=payment.processor_payment_method_id,
        description=payment.description,
        metadata={"ledgerline_payment": payment.public_id},
    )


def payment_record_failure(
    *,
    payment: Payment,
    failure_code: str,
    decline_code: str,
    failure_message: str,
    intent_id: str = "",
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
        if intent_id and not locked.processor_payment_id:
            locked.processor_payment_id = intent_id
        locked.save()
        _audit(
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
            _audit(
                action="payment.outcome_unknown",
                merchant=locked.merchant,
                actor=Actor.system("payments.confirm"),
                request=None,
                target_type="payment",
                target_id=locked.public_id,
                payload={"status": locked.status},
            )
        if schedule_reconcile:
            _schedule_reconcile(locked)


def payment_apply_processor_state(
    *,
    payment: Payment,
    intent: gateway.IntentData,
    actor: Actor | None = None,
    on_applied: Callable[[Payment], None] | None = None,
) -> Payment:
    """Mirror a PaymentIntent onto its payment: forward transitions only, amounts never shrink.

    The entry point for confirm/capture/cancel answers, reconciliation and webhook handlers.
    Returns the (possibly unchanged) locked row; `on_applied(row)` runs in the same
    transaction whether or not the row changed.
    """
    with transaction.atomic():
        locked = _payment_apply_locked(payment=payment, intent=intent, actor=actor)
        if on_applied is not None:
            on_applied(locked)
    return locked


def payments_for_update() -> QuerySet[Payment]:
    """Payments to lock for a state change, their merchant joined for the audit entry."""
    # `of=("self",)`: locking the merchant's row too would queue every concurrent payment of
    # the merchant behind this one.
    return Payment.objects.select_for_update(of=("self",)).select_related("merchant")


def _payment_apply_locked(
    *, payment: Payment, intent: gateway.IntentData, actor: Actor | None
) -> Payment:
    """The body of `payment_apply_processor_state`, inside its transaction."""
    locked = payments_for_update().get(pk=payment.pk)
    return payment_apply_to_locked(locked=locked, intent=intent, actor=actor)


# What mirroring a PaymentIntent writes; the rest of the row is ours and left as it is.
_PROCESSOR_STATE_FIELDS = [
    "status",
    "processor_payment_id",
    "processor_charge_id",
    "amount_captured",
    "amount_refunded",
    "amount_capturable",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
    "card_fingerprint",
    "card_country",
    "failure_code",
    "decline_code",
    "failure_message",
    "next_action_url",
    "updated_at",
]


def payment_apply_to_locked(
    *, locked: Payment, intent: gateway.IntentData, actor: Actor | None
) -> Payment:
    """`payment_apply_processor_state` for a row the caller already holds.

    `locked` must come from `payments_for_update()` in the caller's open transaction. The
    webhook handlers find and lock the payment in one query this way, and apply it without a
    savepoint: their transaction is the event's.
    """
    if locked.processor_payment_id and intent.id != locked.processor_payment_id:
        logger.error(
            "Intent %s does not belong to payment %s; ignored", intent.id, locked.public_id
        )
        return locked
    if intent.status not in PaymentStatus.values:
        logger.warning("Unknown intent status %r for %s", intent.status, locked.public_id)
        return locked
    if not transition_allowed(locked.status, intent.status):
        logger.info(
            "Stale state for %s: %s -> %s ignored",
            locked.public_id,
            locked.status,
            intent.status,
        )
        return locked
    previous = locked.status
    locked.status = intent.status
    locked.processor_payment_id = intent.id
    if intent.latest_charge_id:
        locked.processor_charge_id = intent.latest_charge_id
    captured = max(locked.amount_captured, min(intent.amount_received, locked.amount))
    locked.amount_captured = captured
    locked.amount_refunded = min(max(locked.amount_refunded, intent.amount_refunded), captured)
    locked.amount_capturable = (
        min(intent.amount_capturable, locked.amount)
        if intent.status == PaymentStatus.REQUIRES_CAPTURE
        else 0
    )
    if intent.card is not None:
        locked.card_brand = intent.card.brand[:32]
        locked.card_last4 = intent.card.last4[:4]
        locked.card_exp_month = intent.card.exp_month
        locked.card_exp_year = intent.card.exp_year
        locked.card_fingerprint = intent.card.fingerprint[:64]
        locked.card_country = intent.card.country[:2]
    if intent.status == PaymentStatus.REQUIRES_PAYMENT_METHOD:
        locked.failure_code = intent.failure_code[:64]
        locked.decline_code = intent.decline_code[:64]
        locked.failure_message = intent.failure_message[:500]
    elif intent.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE):
        locked.failure_code = locked.decline_code = locked.failure_message = ""
    locked.next_action_url = (
        intent.next_action_url if intent.status == PaymentStatus.REQUIRES_ACTION else ""
    )
    locked.save(update_fields=_PROCESSOR_STATE_FIELDS)
    if previous != locked.status:
        _audit(
            action="payment.status_change",
            merchant=locked.merchant,
            actor=actor or Actor.system("payments.sync"),
            request=None,
            target_type="payment",
            target_id=locked.public_id,
            payload={"from": previous, "to": locked.status},
        )
        _payment_link_settle(locked)
    return locked


def _payment_link_settle(payment: Payment) -> None:
    """A single-use link is used up once its payment is authorised or paid."""
    if payment.payment_link_id is None or payment.status not in (
        PaymentStatus.SUCCEEDED,
        PaymentStatus.REQUIRES_CAPTURE,
        PaymentStatus.PROCESSING,
    ):
        return
    PaymentLink.objects.filter(
        pk=payment.payment_link_id, reusable=False, completed_at__isnull=True
    ).update(completed_at=timezone.now(), active=False)


def payment_reconcile(*, payment: Payment) -> Payment:
    """Settle a payment whose processor outcome we never saw, without ever charging twice."""
    payment.refresh_from_db()
    account = ProcessorAccount.objects.get(merchant_id=payment.merchant_id)
    if payment.processor_payment_id:
        intent = gateway.payment_intent_retrieve(
            stripe_account=account.processor_account_id, intent_id=payment.processor_payment_id
        )
        return payment_apply_processor_state(
            payment=payment, intent=intent, actor=Actor.system("payments.reconcile")
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


# How far before our row's creation the processor's clock may put the intent it created.
_FIND_CLOCK_MARGIN = timedelta(hours=1)


def _payment_send_or_find(
    *,
    payment: Payment,
    account: ProcessorAccount,
    actor: Actor,
    return_url: str | None = None,
) -> Payment:
    """A committed payment whose intent we never heard of: find it, or send it (same key).

    The server may have died after the processor charged (or the processor may have answered
    a 500 it stores under the key, which a resend would only repeat): so first look for an
    intent whose metadata names this payment. Only when there is none is the create resent,
    with the payment's own key, so a first request still in flight is joined, not doubled.
    """
    found = gateway.payment_intent_find(
        stripe_account=account.processor_account_id,
        metadata_key="ledgerline_payment",
        value=payment.public_id,
        created_gte=int((payment.created_at - _FIND_CLOCK_MARGIN).timestamp()),
    )
    if found is not None:
        return payment_apply_processor_state(payment=payment, intent=found, actor=actor)
    if timezone.now() - payment.created_at > PROCESSOR_KEY_SAFE_AGE:
        # Re-sending could create a second charge once Stripe forgot the key: a person decides.
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
        gateway.ensure_available()
        account = ProcessorAccount.objects.get(merchant_id=payment.merchant_id)
        return _payment_send_or_find(
            payment=payment,
            account=account,
            actor=Actor.system("payments.confirm"),
            return_url=return_url,
        )
    return payment


@contextmanager
def _reconciled_if_uncertain(payment: Payment) -> Iterator[None]:
    """Around a capture or cancel: if its outcome is unknown, reconcile the payment.

    The payment row is the recovery point (its intent id and the key derived from it); the
    reconciliation reads the intent back and applies whatever the processor did.
    """
    try:
        yield
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        _schedule_reconcile(payment)
        raise


def payment_capture(
    *,
    payment: Payment,
    actor: Actor | None,
    amount: int | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> Payment:
    payment.refresh_from_db()
    if payment.status != PaymentStatus.REQUIRES_CAPTURE:
        raise PaymentStateError(
            f"Only a payment that requires capture can be captured; this one is {payment.status}."
        )
    if amount is not None and not 0 < amount <= payment.amount_capturable:
        raise InvalidPaymentRequestError(
            "The capture amount must be positive and at most "
            f"{format_amount(payment.amount_capturable, payment.currency)}.",
            param="amount",
        )
    gateway.ensure_available()
    account = ProcessorAccount.objects.get(merchant_id=payment.merchant_id)
    with _reconciled_if_uncertain(payment):
        intent = gateway.payment_intent_capture(
            stripe_account=account.processor_account_id,
            intent_id=payment.processor_payment_id,
            amount_to_capture=amount,
            idempotency_key=f"{payment.public_id}_capture_{amount or 'full'}",
        )
    with transaction.atomic():
        result = payment_apply_processor_state(payment=payment, intent=intent, actor=actor)
        _audit(
            action="payment.capture",
            merchant=result.merchant,
            actor=actor,
            request=request,
            target_type="payment",
            target_id=result.public_id,
            payload={"amount": result.amount_captured, "currency": result.currency},
            step_up=step_up,
        )
    return result


def payment_cancel(
    *,
    payment: Payment,
    actor: Actor | None,
    reason: str | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> Payment:
    payment.refresh_from_db()
    if payment.status not in CANCELABLE:
        raise PaymentStateError(f"A {payment.status} payment cannot be canceled.")
    if not payment.processor_payment_id:
        raise PaymentStateError("The payment has not reached the processor yet.")
    gateway.ensure_available()
    account = ProcessorAccount.objects.get(merchant_id=payment.merchant_id)
    with _reconciled_if_uncertain(payment):
        intent = gateway.payment_intent_cancel(
            stripe_account=account.processor_account_id,
            intent_id=payment.processor_payment_id,
            idempotency_key=f"{payment.public_id}_cancel",
            reason=reason,
        )
    with transaction.atomic():
        result = payment_apply_processor_state(payment=payment, intent=intent, actor=actor)
        _audit(
            action="payment.cancel",
            merchant=result.merchant,
            actor=actor,
            request=request,
            target_type="payment",
            target_id=result.public_id,
            payload={"reason": reason or ""},
            step_up=step_up,
        )
    return result


# --- Refunds --------------------------------------------------------------------------------

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refundable_amount(payment: Payment) -> int:
    reserved = (
        Refund.objects.filter(payment=payment, status__in=_REFUND_RESERVING).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return max(0, payment.amount_captured - max(reserved, payment.amount_refunded))


def refund_create(
    *,
    payment: Payment,
    actor: Actor | None,
    amount: int | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    step_up: bool | None = None,
    on_created: Any = None,
) -> Refund:
    """Refund all or part of what was captured; never more (checked under the payment's lock)."""
    if reason and reason not in REFUND_REASONS:
        raise InvalidPaymentRequestError("Unknown refund reason.", param="reason")
    gateway.ensure_available()
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("merchant").get(pk=payment.pk)
        if locked.status != PaymentStatus.SUCCEEDED:
            raise PaymentStateError(f"A {locked.status} payment cannot be refunded.")
        available = refundable_amount(locked)
        amount = available if amount is None else amount
        if amount <= 0 or amount > available:
            raise RefundAmountError(
                f"The refund of {format_amount(max(amount, 0), locked.currency)} is more than "
                f"the {format_amount(available, locked.currency)} left to refund."
                if amount > 0
                else "The refund amount must be positive.",
                param="amount",
            )
        refund = Refund.objects.create(
            merchant=locked.merchant,
            payment=locked,
            amount=amount,
            currency=locked.currency,
            reason=reason,
            status=RefundStatus.PENDING,
        )
        if on_created is not None:
            on_created(refund)
        _audit(
            action="refund.create",
            merchant=locked.merchant,
            actor=actor,
            request=request,
            target_type="refund",
            target_id=refund.public_id,
            payload={"payment": locked.public_id, "amount": amount, "currency": locked.currency},
            step_up=step_up,
        )
    return refund_submit(refund=refund)


def refund_submit(*, refund: Refund, schedule_reconcile: bool = True) -> Refund:
    """Send a pending refund to the processor; safe to repeat (key from the refund row)."""
    payment = refund.payment
    account = ProcessorAccount.objects.get(merchant_id=refund.merchant_id)
    try:
        data = gateway.refund_create(
            stripe_account=account.processor_account_id,
            intent_id=payment.processor_payment_id,
            amount=refund.amount,
            idempotency_key=f"{refund.public_id}_create",
            reason=refund.reason or None,
            metadata={"ledgerline_refund": refund.public_id},
        )
    except (ProcessorRequestError, CardDeclinedError, ProcessorUnavailableError) as exc:
        refund_apply_processor_state(
            refund=refund,
            status=RefundStatus.FAILED,
            processor_refund_id="",
            failure_reason=exc.code,
        )
        raise
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        # The refund may exist: it stays pending with its key and is reconciled, never resent
        # under another key.
        if schedule_reconcile:
            from payments.tasks import refund_reconcile_enqueue

            transaction.on_commit(lambda: refund_reconcile_enqueue(refund.pk), robust=True)
        raise
    return refund_apply_processor_state(
        refund=refund,
        status=data.status,
        processor_refund_id=data.id,
        failure_reason=data.failure_reason,
    )


def refund_resume(*, refund: Refund) -> Refund:
    """Continue an interrupted refund request: find what the processor made of it, else resend
    it with the refund's own processor key (`refund_reconcile`)."""
    refund.refresh_from_db()
    if refund.status == RefundStatus.PENDING and not refund.processor_refund_id:
        gateway.ensure_available()
        return refund_reconcile(refund=refund)
    return refund


_REFUND_FINAL = {RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED}


def refund_apply_processor_state(
    *, refund: Refund, status: str, processor_refund_id: str, failure_reason: str = ""
) -> Refund:
    """Mirror a processor refund: final states are never left; a success counts once."""
    if status not in RefundStatus.values:
        logger.warning("Unknown refund status %r for %s", status, refund.public_id)
        return refund
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.status in _REFUND_FINAL and locked.status != status:
            return locked
        previous = locked.status
        locked.status = status
        if processor_refund_id and not locked.processor_refund_id:
            locked.processor_refund_id = processor_refund_id
        locked.failure_reason = failure_reason[:64]
        locked.save()
        if previous != RefundStatus.SUCCEEDED and status == RefundStatus.SUCCEEDED:
            succeeded = (
                Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
                    total=Sum("amount")
                )["total"]
                or 0
            )
            payment.amount_refunded = min(
                max(payment.amount_refunded, succeeded), payment.amount_captured
            )
            payment.save(update_fields=["amount_refunded", "updated_at"])
        if previous != status:
            _audit(
                action="refund.status_change",
                merchant=payment.merchant,
                actor=Actor.system("payments.sync"),
                request=None,
                target_type="refund",
                target_id=locked.public_id,
                payload={"from": previous, "to": status},
                outcome="failure" if status == RefundStatus.FAILED else "success",
            )
    return locked


def refund_reconcile(*, refund: Refund) -> Refund:
    """Settle a pending refund from the processor: read it back, find it, or resend it.

    A refund we know the id of is read back (the processor may have completed it without
    a webhook reaching us). One whose create answer was lost is looked up by the metadata
    naming our row; only when the processor has none is it resent with the refund's own key.
    """
    refund.refresh_from_db()
    if refund.status not in (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION):
        return refund
    account = ProcessorAccount.objects.get(merchant_id=refund.merchant_id)
    if refund.processor_refund_id:
        data: gateway.RefundData | None = gateway.refund_retrieve(
            stripe_account=account.processor_account_id, refund_id=refund.processor_refund_id
        )
    else:
        data = gateway.refund_find(
            stripe_account=account.processor_account_id,
            intent_id=refund.payment.processor_payment_id,
            metadata_key="ledgerline_refund",
            value=refund.public_id,
        )
    if data is not None:
        return refund_apply_processor_state(
            refund=refund,
            status=data.status,
            processor_refund_id=data.id,
            failure_reason=data.failure_reason,
        )
    if timezone.now() - refund.created_at > PROCESSOR_KEY_SAFE_AGE:
        logger.error("Refund %s needs manual reconciliation", refund.public_id)
        return refund
    try:
        return refund_submit(refund=refund, schedule_reconcile=False)
    except (ProcessorRequestError, CardDeclinedError):
        refund.refresh_from_db()
        return refund


# --- Payment links --------------------------------------------------------------------------


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
    currency = _checked_money(amount, currency)
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
        _audit(
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
            _audit(
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
