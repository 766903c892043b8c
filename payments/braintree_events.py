"""Payments' handlers of Braintree notifications, its Braintree reconciler, and their registration.

`register_braintree_event_handlers()` (PaymentsConfig.ready()) registers each handled kind with
the inbound pipeline; what a kind does is the handler named there:

| kind | does |
|---|---|
| `transaction_*`, `transaction_status_changed` | a sale to its payment, a credit to its refund |
| `transaction_settlement_declined` | its succeeded payment fails: `payment_settlement_decline` |
| `dispute_*` | `payments.disputes.dispute_apply_processor_state` |
| `disbursement`, `disbursement_exception` | a payout and its items (`braintree_payouts`) |
| `check` | ignored: Braintree's test of the endpoint |

The stored payload is the gateway's plain JSON (`gateways/braintree/webhooks.py`), so nothing
here reads Braintree's XML. Every apply goes through the payments services, which lock the
row and move it forward only: a late or repeated notification never moves anything back. The
one exception is a fact, not a status: Braintree declining to settle a sale we hold as
succeeded makes that payment failed, once and for good (`payments.services.settlement`).
Braintree has no event list to pull, so the reconciler searches each connected merchant's
transactions whose status changed since its last run, and its recent settlement declines, and
ingests each (transaction, status) once, through the same insert as a webhook (and so the same
handler); every six hours it also compares the transactions Braintree disbursed in the last
two days with our payouts and reports to staff any no payout carries
(`braintree_payouts.braintree_disbursements_check`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from compliance.actors import Actor
from inbound.models import EventProvider, InboundEvent
from inbound.registry import register, register_merchant_lookup, register_reconciler
from inbound.services import inbound_event_ingest
from payments import disputes, services
from payments.braintree_payouts import DISBURSEMENT_HANDLER, braintree_disbursements_check_if_due
from payments.gateways import braintree as gateway
from payments.models import Payment, Processor, ProcessorAccount, ProcessorCredential, Refund
from payments.state import is_settlement_declined

logger = logging.getLogger(__name__)

# Without a mark (a merchant's first run) reconciliation looks this far back; each run
# overlaps the previous one a little, as Braintree's clock and ours may differ.
FIRST_RUN_WINDOW = timedelta(days=3)
RUN_OVERLAP = timedelta(minutes=10)
RECONCILED_KIND = "transaction_status_changed"
TRANSACTION_KINDS = (
    "transaction_settled",
    "transaction_settlement_declined",
    "transaction_disbursed",
    RECONCILED_KIND,
)
DISPUTE_KINDS = (
    "dispute_opened",
    "dispute_accepted",
    "dispute_disputed",
    "dispute_won",
    "dispute_lost",
    "dispute_expired",
    "dispute_under_review",
    "dispute_auto_accepted",
)


def _actor() -> Actor:
    return Actor.webhook(EventProvider.BRAINTREE)


def _subject(event: InboundEvent, name: str) -> Mapping[str, Any] | None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    subject = payload.get(name)
    return subject if isinstance(subject, dict) and isinstance(subject.get("id"), str) else None


def _payment_for(merchant_id: int, *, charge_id: str, order_id: str) -> Q:
    """Ours by Braintree's transaction id, or by our order id when its answer is not stored."""
    by_id = Q(processor_payment_id=charge_id) if charge_id else Q(pk__in=[])
    by_order = (
        Q(public_id=order_id, processor_payment_id__in=("", charge_id))
        if order_id
        else Q(pk__in=[])
    )
    return Q(merchant_id=merchant_id, processor=Processor.BRAINTREE) & (by_id | by_order)


def _on_transaction(event: InboundEvent) -> str | None:
    subject = _subject(event, "transaction")
    if subject is None:
        return "no transaction in the notification"
    if event.merchant_id is None:
        return "no merchant for this account"
    kind = subject.get("type")
    if kind == "credit":
        return _credit_apply(event.merchant_id, subject)
    if kind != "sale":
        return f"transaction type {kind!r} is not mirrored"
    charge = gateway.charge_from_subject(subject)
    locked = (
        services.payments_for_update()
        .filter(_payment_for(event.merchant_id, charge_id=charge.id, order_id=charge.reference))
        .first()
    )
    if locked is None:
        return "not a Ledgerline payment"
    if gateway.sale_settlement_declined(subject):
        # The money of a sale we hold as succeeded did not move: its own narrow transition.
        services.payment_settlement_decline(locked=locked, charge_id=charge.id, actor=_actor())
        if is_settlement_declined(locked.status, locked.failure_code):
            return None
        return f"settlement declined for a {locked.status} payment: left as it is"
    if charge.status is None:
        logger.warning(
            "Braintree transaction %s is %s; payment %s left as it is",
            charge.id,
            subject.get("status"),
            locked.public_id,
        )
        return f"status {subject.get('status')!r} has no Ledgerline equivalent"
    services.payment_apply_to_locked(locked=locked, charge=charge, actor=_actor())
    return None


def _credit_apply(merchant_id: int, subject: Mapping[str, Any]) -> str | None:
    state = gateway.refund_from_subject(subject)
    refunds = Refund.objects.filter(merchant_id=merchant_id, payment__processor=Processor.BRAINTREE)
    refund = refunds.filter(processor_refund_id=state.id).first() if state.id else None
    if refund is None and state.reference:
        refund = refunds.filter(
            public_id=state.reference, processor_refund_id__in=("", state.id)
        ).first()
    if refund is None:
        return "not a Ledgerline refund"
    services.refund_apply_processor_state(
        refund=refund,
        status=state.status,
        processor_refund_id=state.id,
        failure_reason=state.failure_reason,
    )
    return None


def _on_dispute(event: InboundEvent) -> str | None:
    subject = _subject(event, "dispute")
    if subject is None:
        return "no dispute in the notification"
    if event.merchant_id is None:
        return "no merchant for this account"
    if not subject.get("status"):
        return f"dispute status {subject.get('processor_status')!r} is not mirrored"
    payment = Payment.objects.filter(
        _payment_for(
            event.merchant_id,
            charge_id=str(subject.get("transaction_id") or ""),
            order_id=str(subject.get("order_id") or ""),
        )
    ).first()
    if payment is None:
        return "not a Ledgerline payment"
    disputes.dispute_apply_processor_state(payment=payment, data=subject, actor=_actor())
    return None


def _on_check(event: InboundEvent) -> str | None:
    return "Braintree's check notification"


# --- Reconciliation -------------------------------------------------------------------------


def _reconcile_account(credential: ProcessorCredential, started: datetime) -> int:
    account = credential.account
    mark = credential.reconciled_through
    since = (mark - RUN_OVERLAP) if mark is not None else started - FIRST_RUN_WINDOW
    ingested = 0
    changed = gateway.transactions_changed_since(account=account.processor_account_id, since=since)
    # A decline at settlement has no searchable time of its own: searched for separately.
    declined = gateway.settlement_declines_since(account=account.processor_account_id, since=since)
    for subject in [*changed, *declined]:
        result = inbound_event_ingest(
            provider=EventProvider.BRAINTREE,
            # One event per status a transaction reached: a repeat run ingests nothing new.
            event_id=f"btr_{subject['id']}_{subject['status']}",
            event_type=RECONCILED_KIND,
            account=account.processor_account_id,
            payload={
                "kind": RECONCILED_KIND,
                "timestamp": subject.get("updated_at"),
                "transaction": subject,
            },
            processor_created=subject.get("updated_at"),
        )
        ingested += int(result.created)
    # Disbursements have no event to pull: what Braintree paid out is compared with our payouts.
    braintree_disbursements_check_if_due(
        merchant_id=account.merchant_id, account=account.processor_account_id, now=started
    )
    ProcessorCredential.objects.filter(pk=credential.pk).update(reconciled_through=started)
    return ingested


def braintree_transactions_reconcile() -> int:
    """Ingest the status changes of every connected Braintree merchant since its last run.

    One merchant's failure (keys revoked, Braintree down) does not stop the others; the first
    is raised once all have run, and that merchant's mark stays where it was.
    """
    started = timezone.now()
    ingested = 0
    failure: Exception | None = None
    credentials = ProcessorCredential.objects.select_related("account").filter(
        account__processor=Processor.BRAINTREE
    )
    for credential in credentials.order_by("pk"):
        try:
            ingested += _reconcile_account(credential, started)
        except Exception as exc:  # noqa: BLE001 - raised below, after the other merchants
            logger.warning(
                "Reconciling Braintree merchant %s failed (%s)",
                credential.account.processor_account_id,
                type(exc).__name__,
            )
            failure = failure or exc
    if failure is not None:
        raise failure
    if ingested:
        logger.info("Reconciliation ingested %s Braintree status changes", ingested)
    return ingested


def _merchant_of_braintree_account(account: str) -> int | None:
    return (
        ProcessorAccount.objects.filter(processor=Processor.BRAINTREE, processor_account_id=account)
        .values_list("merchant_id", flat=True)
        .first()
    )


def register_braintree_event_handlers() -> None:
    """From PaymentsConfig.ready(): Braintree's notifications, reconciler and account lookup."""
    provider = EventProvider.BRAINTREE
    for kind in TRANSACTION_KINDS:
        register(provider=provider, event_type=kind, handler=_on_transaction)
    for kind in DISPUTE_KINDS:
        register(provider=provider, event_type=kind, handler=_on_dispute)
    for kind in gateway.DISBURSEMENT_KINDS:
        register(provider=provider, event_type=kind, handler=DISBURSEMENT_HANDLER)
    register(provider=provider, event_type="check", handler=_on_check)
    register_reconciler(provider=provider, reconciler=braintree_transactions_reconcile)
    register_merchant_lookup(provider=provider, lookup=_merchant_of_braintree_account)
