"""Payments' handlers of Stripe events, its Stripe reconciler, and their registration.

`register_event_handlers()` (PaymentsConfig.ready()) registers each handled type with the
inbound pipeline (`inbound.registry`); what a type does is the handler named there:

| type | does |
|---|---|
| `payment_intent.succeeded`, `.canceled` | final: the payload applied to the payment |
| other `payment_intent.*` | the intent as the processor has it now applied instead |
| `charge.refunded` | the charge's refunds applied to ours; the intent refetched |
| `charge.refund.updated` | our refund moved forward |
| `charge.dispute.*` | `payments.disputes.dispute_apply_processor_state` |
| `account.updated` | the connected account refetched and applied, audited when it changed |

Handlers lock the domain row through the payments services, which apply only forward
transitions. A non-terminal status in a payload may be older than what we hold, so those
handlers apply the processor's current object instead, read in the handler's `fetch` (no
transaction open), at most once per object per `REFETCH_COALESCE_SECONDS` and per worker,
and only from after the event arrived. Payload parsing is the gateway's
(`gateways/stripe/events.py`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.actors import Actor
from compliance.services import audit_batch, audit_record
from inbound.models import EventProvider, InboundEvent
from inbound.registry import (
    FetchingHandler,
    Handler,
    register,
    register_merchant_lookup,
    register_reconciler,
)
from inbound.services import inbound_event_ingest
from payments import disputes, services
from payments.gateways import gateway_named
from payments.gateways import stripe as gateway
from payments.gateways.base import AccountState, Charge
from payments.gateways.stripe.events import event_object, event_payload
from payments.models import Payment, ProcessorAccount, Refund
from payments.state import TERMINAL

logger = logging.getLogger(__name__)

RECONCILE_WINDOW = timedelta(days=3)
RECONCILE_MAX_PAGES = 50
REFETCH_COALESCE_SECONDS = 5.0


def _object(event: InboundEvent) -> dict[str, Any]:
    return event_object(event.payload)


def _actor(event: InboundEvent) -> Actor:
    return Actor.webhook(event.provider)


_refetched: dict[str, tuple[float, Charge]] = {}
_refetch_lock = threading.Lock()


def _intent_now(*, event: InboundEvent, account: str, intent_id: str) -> Charge:
    """The intent as the processor holds it now, fetched at most once per coalescing window.

    A fetch is reused only if it happened after this event was received, so it is never older
    than the event it stands in for.
    """
    received = event.received_at.timestamp()
    with _refetch_lock:
        hit = _refetched.get(intent_id)
    if hit is not None and hit[0] >= received and time.time() - hit[0] < REFETCH_COALESCE_SECONDS:
        return hit[1]
    fetched_at = time.time()
    intent = gateway_named(EventProvider.STRIPE).charge_retrieve(account=account, charge=intent_id)
    with _refetch_lock:
        if len(_refetched) > 10_000:
            _refetched.clear()
        _refetched[intent_id] = (fetched_at, intent)
    return intent


def _payment_for(
    merchant_id: int,
    *,
    intent_id: str,
    metadata: Mapping[str, Any] | None = None,
    among: QuerySet[Payment] | None = None,
) -> Payment | None:
    payments = (Payment.objects if among is None else among).filter(merchant_id=merchant_id)
    payment = payments.filter(processor_payment_id=intent_id).first() if intent_id else None
    if payment is None and metadata:
        # The intent's answer may not be stored yet (the event can beat the API response).
        public_id = metadata.get("ledgerline_payment")
        if isinstance(public_id, str) and public_id:
            payment = payments.filter(
                Q(processor_payment_id="") | Q(processor_payment_id=intent_id),
                public_id=public_id,
            ).first()
    return payment


def _final_intent(event: InboundEvent) -> Charge | None:
    """The intent of a payment_intent event whose payload is final, else None.

    Final (succeeded, canceled) means the payload is the truth and can be applied as it
    stands. Anything this cannot read is left to the event's handler, which reports it.
    """
    if event.merchant_id is None:
        return None
    try:
        intent = gateway.charge_from_dict(_object(event))
    except (ValueError, TypeError, AttributeError):
        return None
    return intent if intent.status in TERMINAL else None


def _payments_lock_by_intent(intent_ids: set[str]) -> dict[str, Payment]:
    """Lock the payments of these intents in one query (pk order), keyed by intent id."""
    payments = services.payments_for_update().filter(processor_payment_id__in=intent_ids)
    return {payment.processor_payment_id: payment for payment in payments.order_by("pk")}


def _final_intent_apply(
    event: InboundEvent, intent: Charge, *, prelocked: Payment | None = None
) -> str | None:
    """Apply a final intent to its payment, locked by the batch (`prelocked`) or here."""
    if event.merchant_id is None:
        return "no merchant for this account"
    locked = (
        prelocked if prelocked is not None and prelocked.merchant_id == event.merchant_id else None
    )
    if locked is None:
        # Found by intent id within the merchant, or by our metadata when the event beat the
        # API answer that would have stored the intent id: one query finds and locks it.
        locked = _payment_for(
            event.merchant_id,
            intent_id=intent.id,
            metadata={"ledgerline_payment": intent.reference},
            among=services.payments_for_update(),
        )
    if locked is None:
        return "not a Ledgerline payment"
    services.payment_apply_to_locked(locked=locked, charge=intent, actor=_actor(event))
    return None


@dataclass(frozen=True)
class _PaymentRead:
    """A payment of ours and its intent as the processor holds it now."""

    payment: Payment
    intent: Charge


def _payment_intent_fetch(event: InboundEvent) -> _PaymentRead | None:
    """A non-final intent's payment and the intent now; None when there is nothing to read."""
    obj = _object(event)
    if event.merchant_id is None or gateway.charge_from_dict(obj).status in TERMINAL:
        return None
    payment = _payment_for(event.merchant_id, intent_id=obj["id"], metadata=obj.get("metadata"))
    if payment is None:
        return None
    # Not final: the payload may be older than what we hold; the processor's now is applied.
    intent = _intent_now(event=event, account=event.account, intent_id=obj["id"])
    return _PaymentRead(payment=payment, intent=intent)


def _payment_intent_apply(event: InboundEvent, read: _PaymentRead | None) -> str | None:
    obj = _object(event)
    if event.merchant_id is None:
        return "no merchant for this account"
    intent = gateway.charge_from_dict(obj)
    if intent.status in TERMINAL:
        return _final_intent_apply(event, intent)
    if read is None:
        return "not a Ledgerline payment"
    services.payment_apply_processor_state(
        payment=read.payment, charge=read.intent, actor=_actor(event)
    )
    return None


def _payment_intents_apply_many(batch: Sequence[tuple[InboundEvent, Any]]) -> list[str | None]:
    """`_payment_intent_apply` for a batch's payment_intent events, locking payments once.

    Final events (succeeded, canceled: the bulk of any busy stream) have their payments locked
    by one query and their audit entries inserted by one statement
    (`compliance.services.audit_batch`), instead of a query and an insert per event; the
    others are applied one by one as alone.
    """
    finals: dict[int, Charge] = {}
    for event, _ in batch:
        intent = _final_intent(event)
        if intent is not None:
            finals[event.pk] = intent
    notes: dict[int, str | None] = {}
    if finals:
        locked = _payments_lock_by_intent({intent.id for intent in finals.values()})
        with audit_batch():
            for event, _ in batch:
                intent = finals.get(event.pk)
                if intent is not None:
                    prelocked = locked.get(intent.id)
                    notes[event.pk] = _final_intent_apply(event, intent, prelocked=prelocked)
    for event, read in batch:
        if event.pk not in finals:
            notes[event.pk] = _payment_intent_apply(event, read)
    return [notes[event.pk] for event, _ in batch]


def _charge_refunded_fetch(event: InboundEvent) -> _PaymentRead | None:
    obj = _object(event)
    intent_id = obj.get("payment_intent")
    if event.merchant_id is None or not isinstance(intent_id, str) or not intent_id:
        return None
    payment = _payment_for(event.merchant_id, intent_id=intent_id)
    if payment is None:
        return None
    intent = _intent_now(event=event, account=event.account, intent_id=intent_id)
    return _PaymentRead(payment=payment, intent=intent)


def _charge_refunded_apply(event: InboundEvent, read: _PaymentRead | None) -> str | None:
    obj = _object(event)
    intent_id = obj.get("payment_intent")
    if event.merchant_id is None:
        return "no merchant for this account"
    if not isinstance(intent_id, str) or not intent_id:
        return "charge without a payment intent"
    if read is None:
        return "not a Ledgerline payment"
    refunds = (obj.get("refunds") or {}).get("data") or []
    for raw in refunds:
        if isinstance(raw, dict):
            _refund_apply(event.merchant_id, raw)
    services.payment_apply_processor_state(
        payment=read.payment, charge=read.intent, actor=_actor(event)
    )
    return None


def _refund_apply(merchant_id: int, raw: Mapping[str, Any]) -> bool:
    data = gateway.refund_from_dict(raw)
    refunds = Refund.objects.filter(merchant_id=merchant_id)
    refund = refunds.filter(processor_refund_id=data.id).first() if data.id else None
    if refund is None:
        public_id = (raw.get("metadata") or {}).get("ledgerline_refund")
        if isinstance(public_id, str) and public_id:
            refund = refunds.filter(
                public_id=public_id, processor_refund_id__in=("", data.id)
            ).first()
    if refund is None:
        return False
    services.refund_apply_processor_state(
        refund=refund,
        status=data.status,
        processor_refund_id=data.id,
        failure_reason=data.failure_reason,
    )
    return True


def _on_refund_updated(event: InboundEvent) -> str | None:
    if event.merchant_id is None:
        return "no merchant for this account"
    applied = _refund_apply(event.merchant_id, _object(event))
    return None if applied else "not a Ledgerline refund"


def _on_dispute(event: InboundEvent) -> str | None:
    obj = _object(event)
    if event.merchant_id is None:
        return "no merchant for this account"
    intent_id = obj.get("payment_intent")
    charge_id = obj.get("charge")
    payment = (
        _payment_for(event.merchant_id, intent_id=intent_id) if isinstance(intent_id, str) else None
    )
    if payment is None and isinstance(charge_id, str) and charge_id:
        payment = Payment.objects.filter(
            merchant_id=event.merchant_id, processor_charge_id=charge_id
        ).first()
    if payment is None:
        return "not a Ledgerline payment"
    disputes.dispute_apply_processor_state(payment=payment, data=obj, actor=_actor(event))
    return None


@dataclass(frozen=True)
class _AccountRead:
    account: ProcessorAccount
    data: AccountState


def _account_updated_fetch(event: InboundEvent) -> _AccountRead | None:
    obj = _object(event)
    account = (
        ProcessorAccount.objects.select_related("merchant")
        .filter(processor="stripe", processor_account_id=obj["id"])
        .first()
    )
    if account is None:
        return None
    # Updates arrive out of order; the account as it is now is the only safe thing to apply.
    return _AccountRead(
        account=account,
        data=gateway_named(account.processor).account_retrieve(
            account=account.processor_account_id
        ),
    )


def _account_updated_apply(event: InboundEvent, read: _AccountRead | None) -> str | None:
    if read is None:
        return "not a Ledgerline connected account"
    account, data = read.account, read.data
    before = (account.charges_enabled, account.payouts_enabled, account.details_submitted)
    updated = services.processor_account_apply(
        account=account,
        charges_enabled=data.charges_enabled,
        payouts_enabled=data.payouts_enabled,
        details_submitted=data.details_submitted,
    )
    after = (updated.charges_enabled, updated.payouts_enabled, updated.details_submitted)
    if before != after:
        audit_record(
            action="merchant.processor_account_update",
            actor=_actor(event),
            merchant_id=account.merchant.public_id,
            target_type="merchant",
            target_id=account.merchant.public_id,
            payload={
                "charges_enabled": updated.charges_enabled,
                "payouts_enabled": updated.payouts_enabled,
                "details_submitted": updated.details_submitted,
            },
        )
    return None


_ON_PAYMENT_INTENT = FetchingHandler(
    fetch=_payment_intent_fetch,
    apply=_payment_intent_apply,
    apply_many=_payment_intents_apply_many,
)
_STRIPE_HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _ON_PAYMENT_INTENT,
    "payment_intent.payment_failed": _ON_PAYMENT_INTENT,
    "payment_intent.canceled": _ON_PAYMENT_INTENT,
    "payment_intent.amount_capturable_updated": _ON_PAYMENT_INTENT,
    "payment_intent.requires_action": _ON_PAYMENT_INTENT,
    "payment_intent.processing": _ON_PAYMENT_INTENT,
    "charge.refunded": FetchingHandler(fetch=_charge_refunded_fetch, apply=_charge_refunded_apply),
    "charge.refund.updated": _on_refund_updated,
    "charge.dispute.created": _on_dispute,
    "charge.dispute.updated": _on_dispute,
    "charge.dispute.closed": _on_dispute,
    "account.updated": FetchingHandler(fetch=_account_updated_fetch, apply=_account_updated_apply),
}


# --- Reconciliation -------------------------------------------------------------------------


def stripe_events_reconcile(*, window: timedelta = RECONCILE_WINDOW) -> int:
    """Ingest events Stripe could not deliver to us (platform and every connected account)."""
    created_gte = int((timezone.now() - window).timestamp())
    accounts: list[str] = [
        "",
        *ProcessorAccount.objects.filter(processor="stripe")
        .order_by("pk")
        .values_list("processor_account_id", flat=True),
    ]
    ingested = 0
    for account in accounts:
        starting_after: str | None = None
        for _ in range(RECONCILE_MAX_PAGES):
            page = gateway.events_list(
                created_gte=created_gte,
                starting_after=starting_after,
                delivery_success=False,
                account=account or None,
            )
            for item in page.events:
                event_account = item.account or account
                result = inbound_event_ingest(
                    provider=EventProvider.STRIPE,
                    event_id=item.id,
                    event_type=item.type,
                    account=event_account,
                    payload=event_payload(item, event_account),
                    processor_created=item.created or None,
                )
                ingested += int(result.created)
            if not page.has_more or not page.events:
                break
            starting_after = page.events[-1].id
    if ingested:
        logger.info("Reconciliation ingested %s missed Stripe events", ingested)
    return ingested


def _merchant_of_connected_account(account: str) -> int | None:
    return (
        ProcessorAccount.objects.filter(processor="stripe", processor_account_id=account)
        .values_list("merchant_id", flat=True)
        .first()
    )


def register_event_handlers() -> None:
    """From PaymentsConfig.ready(): Stripe's events (money out's: `payments.payout_events`),
    its reconciler (missed events, then the payouts and balance transactions mirror), its
    account lookup."""
    from payments.payout_events import MONEY_HANDLERS, with_money_reconcile

    for event_type, handler in {**_STRIPE_HANDLERS, **MONEY_HANDLERS}.items():
        register(provider=EventProvider.STRIPE, event_type=event_type, handler=handler)
    register_reconciler(
        provider=EventProvider.STRIPE, reconciler=with_money_reconcile(stripe_events_reconcile)
    )
    register_merchant_lookup(provider=EventProvider.STRIPE, lookup=_merchant_of_connected_account)
