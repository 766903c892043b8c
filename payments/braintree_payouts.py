"""Braintree's disbursements mirrored as payouts, and the check for disbursements never announced.

Braintree has no payout API; it announces each disbursement (one a day per merchant account,
net of refunds) with a `disbursement` notification naming its transactions, and a failed
deposit with `disbursement_exception`. `DISBURSEMENT_HANDLER` (registered for both kinds by
`payments.braintree_events`) turns one into:

- a `Payout` (processor braintree, paid on the disbursement date, or failed with Braintree's
  reason and what the merchant should do), moved forward only by `payout_apply`;
- its balance transactions: one per transaction it names (a sale +, a credit -) with the
  amount Braintree paid out, read from Braintree by id (`fetch`, outside the event's
  transaction) and checked against our payment or refund, which supplies the amount when
  Braintree's search does not return the transaction; an explicit adjustment for any
  difference between the disbursement and those transactions (fees Braintree netted, a
  transaction nobody knows), never a silent gap; and the payout's own debit (plus its return
  when it failed), so Braintree's rows net to what Braintree still holds, as Stripe's do.

Everything is upserted by Braintree's ids (`payments.services.payouts`), so a redelivered or
replayed notification changes nothing, and differences are reported to staff once, when the
items are first recorded. `braintree_disbursements_check` (run by the Braintree reconciler)
searches the transactions Braintree disbursed in the last days and reports those no payout of
ours carries: a notification that never arrived. It cannot repair them (a search does not say
which disbursement carried a transaction); staff ask Braintree to resend it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction

from accounts.models import Merchant
from compliance.actors import Actor
from inbound.models import PENDING_STATUSES, EventProvider, InboundEvent
from inbound.registry import FetchingHandler
from payments.gateways import braintree as gateway
from payments.gateways.base import BalanceEntry
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Payment,
    Payout,
    PayoutStatus,
    Processor,
    Refund,
)
from payments.payout_events import MoneyDifference, money_differences_report
from payments.services.payouts import balance_entries_apply, payout_apply

logger = logging.getLogger(__name__)

# How far back the reconciler looks for disbursed transactions (Braintree disburses once a
# day; two days survive a missed check); a difference is reported once in this window.
DISBURSEMENT_CHECK_WINDOW = timedelta(days=2)
# The reconciler runs every 15 minutes; reading two days of disbursed transactions that often
# would cost a busy merchant hundreds of calls a run, and disbursements come once a day.
DISBURSEMENT_CHECK_EVERY = timedelta(hours=6)


@dataclass(frozen=True)
class DisbursementRead:
    """What `fetch` read: the disbursement and its transactions as Braintree returned them."""

    disbursement: gateway.Disbursement
    entries: list[BalanceEntry]


def _disbursement_fetch(event: InboundEvent) -> DisbursementRead | str | None:
    """Braintree's transactions of the disbursement (no transaction open); a note for a
    subject no real disbursement has; None when the account is not a merchant's."""
    if event.merchant_id is None or not event.account:
        return None
    payload = event.payload if isinstance(event.payload, dict) else {}
    try:
        disbursement = gateway.disbursement_from_subject(
            payload.get("disbursement"), kind=event.type
        )
    except gateway.DisbursementInvalidError as exc:
        logger.warning("Braintree disbursement event %s refused: %s", event.event_id[:20], exc)
        return f"not a usable disbursement: {exc}"
    entries = gateway.disbursement_entries(account=event.account, disbursement=disbursement)
    return DisbursementRead(disbursement=disbursement, entries=entries)


def _disbursement_apply(event: InboundEvent, read: DisbursementRead | str | None) -> str | None:
    if isinstance(read, str):
        return read
    merchant = Merchant.objects.filter(pk=event.merchant_id).first() if event.merchant_id else None
    if read is None or merchant is None:
        return "no merchant for this account"
    return braintree_disbursement_apply(
        merchant=merchant,
        disbursement=read.disbursement,
        fetched=read.entries,
        actor=Actor.webhook(EventProvider.BRAINTREE),
    )


DISBURSEMENT_HANDLER = FetchingHandler(fetch=_disbursement_fetch, apply=_disbursement_apply)


def braintree_disbursement_apply(
    *,
    merchant: Merchant,
    disbursement: gateway.Disbursement,
    fetched: list[BalanceEntry],
    actor: Actor,
) -> str | None:
    """Record the disbursement's payout and items in one transaction; a note when it is not
    this merchant's. Items sum exactly to the payout's amount."""
    with transaction.atomic():
        payout = payout_apply(
            merchant=merchant, processor=Processor.BRAINTREE, state=disbursement.payout, actor=actor
        )
        if payout is None:
            return "the disbursement is recorded for another merchant"
        items, differences = _items(merchant, payout, disbursement, fetched)
        created = balance_entries_apply(
            merchant=merchant, processor=Processor.BRAINTREE, entries=items, fees_itemized=False
        )
        balance_entries_apply(
            merchant=merchant,
            processor=Processor.BRAINTREE,
            entries=_own_entries(payout),
            fees_itemized=False,
        )
        if created and differences:
            # Reported when the items are first recorded: a replay reports nothing again.
            money_differences_report(
                merchant, differences, actor, found_by="A Braintree disbursement"
            )
    return None


def _ours(merchant: Merchant, ids: tuple[str, ...], payout: Payout) -> dict[str, BalanceEntry]:
    """Our payments and refunds among `ids`, as the entries Braintree should have returned."""
    found: dict[str, BalanceEntry] = {}
    payments = Payment.objects.filter(
        merchant=merchant, processor=Processor.BRAINTREE, processor_payment_id__in=ids
    )
    for payment in payments:
        found[payment.processor_payment_id] = _entry(
            payment.processor_payment_id,
            BalanceTransactionType.CHARGE,
            payment.amount_captured,
            payment.currency,
            created=payment.created_at,
            payout=payout,
        )
    refunds = Refund.objects.filter(
        merchant=merchant, payment__processor=Processor.BRAINTREE, processor_refund_id__in=ids
    )
    for refund in refunds:
        found[refund.processor_refund_id] = _entry(
            refund.processor_refund_id,
            BalanceTransactionType.REFUND,
            -refund.amount,
            refund.currency,
            created=refund.created_at,
            payout=payout,
        )
    return found


def _entry(
    txn_id: str, kind: str, amount: int, currency: str, *, created: datetime, payout: Payout
) -> BalanceEntry:
    return BalanceEntry(
        id=txn_id,
        type=kind,
        amount=amount,
        fee=0,
        net=amount,
        currency=currency,
        available_on=payout.arrival_date,
        created=created,
        source=txn_id,
        payout=payout.processor_payout_id,
    )


def _items(
    merchant: Merchant,
    payout: Payout,
    disbursement: gateway.Disbursement,
    fetched: list[BalanceEntry],
) -> tuple[list[BalanceEntry], list[MoneyDifference]]:
    """The payout's items (adjustment included) and how they differ from what was expected."""
    ids = disbursement.transaction_ids
    remote = {entry.id: entry for entry in fetched}
    ours = _ours(merchant, ids, payout)
    items: list[BalanceEntry] = []
    differences: list[MoneyDifference] = []
    unknown: list[str] = []
    for txn_id in ids:
        entry, mine = remote.get(txn_id), ours.get(txn_id)
        if entry is None and mine is not None:
            entry = mine
            differences.append(
                MoneyDifference(
                    "disbursed_transaction_not_found_at_processor",
                    txn_id,
                    f"in {payout.public_id}; its amount is taken from Ledgerline's record",
                )
            )
        if entry is None:
            unknown.append(txn_id)
            differences.append(
                MoneyDifference(
                    "disbursed_transaction_unknown",
                    txn_id,
                    f"in {payout.public_id}; neither Braintree's search nor Ledgerline has it",
                )
            )
            continue
        differs = mine is not None and (mine.net, mine.currency) != (entry.net, entry.currency)
        if differs and mine is not None:
            differences.append(
                MoneyDifference(
                    "disbursed_transaction_differs",
                    txn_id,
                    f"{mine.net} {mine.currency} at Ledgerline, "
                    f"{entry.net} {entry.currency} paid out by Braintree",
                )
            )
        if entry.currency != payout.currency:
            unknown.append(txn_id)
            differences.append(
                MoneyDifference(
                    "disbursed_transaction_currency",
                    txn_id,
                    f"{entry.currency} in a {payout.currency} disbursement; left to the adjustment",
                )
            )
            continue
        items.append(entry)
    difference = payout.amount - sum(entry.net for entry in items)
    if difference:
        items.append(_adjustment(payout, difference, unknown))
        differences.append(
            MoneyDifference(
                "disbursement_differs_from_transactions",
                payout.processor_payout_id,
                f"{payout.amount} {payout.currency} paid out, transactions sum to "
                f"{payout.amount - difference}; the difference is an adjustment item",
            )
        )
    return items, differences


def _adjustment(payout: Payout, difference: int, unknown: list[str]) -> BalanceEntry:
    text = (
        "Difference between Braintree's disbursement and the transactions it names: fees or "
        "adjustments Braintree does not itemize"
    )
    if unknown:
        text += f"; transactions not accounted for: {', '.join(unknown)}"
    return BalanceEntry(
        id=f"{payout.processor_payout_id}:adjustment",
        type=BalanceTransactionType.ADJUSTMENT,
        amount=difference,
        fee=0,
        net=difference,
        currency=payout.currency,
        available_on=payout.arrival_date,
        created=payout.processor_created_at,
        source=payout.processor_payout_id,
        description=text[:500],
        payout=payout.processor_payout_id,
    )


def _own_entries(payout: Payout) -> list[BalanceEntry]:
    """The payout's own debit of Braintree's balance, and its return when the deposit failed
    (Braintree keeps the money and retries): left out of the payout's contents."""

    def own(kind: str, suffix: str, amount: int) -> BalanceEntry:
        return BalanceEntry(
            id=f"{payout.processor_payout_id}:{suffix}",
            type=kind,
            amount=amount,
            fee=0,
            net=amount,
            currency=payout.currency,
            available_on=payout.arrival_date,
            created=payout.processor_created_at,
            source=payout.processor_payout_id,
            payout=payout.processor_payout_id,
        )

    entries = [own(BalanceTransactionType.PAYOUT, "payout", -payout.amount)]
    if payout.status == PayoutStatus.FAILED:
        entries.append(own(BalanceTransactionType.PAYOUT_FAILURE, "failure", payout.amount))
    return entries


# --- Reconciliation -------------------------------------------------------------------------


def braintree_disbursements_check_if_due(*, merchant_id: int, account: str, now: datetime) -> None:
    """`braintree_disbursements_check`, at most once per `DISBURSEMENT_CHECK_EVERY` per
    merchant (the Braintree reconciler calls this on each of its runs)."""
    public_id = Merchant.objects.filter(pk=merchant_id).values_list("public_id", flat=True).first()
    if public_id is None:
        return
    # Named by public id: database ids are reused (a restored or test database), cache keys live on.
    key = f"braintree:disbursements:checked:{public_id}:{account}"
    if not cache.add(key, 1, int(DISBURSEMENT_CHECK_EVERY.total_seconds())):
        return
    try:
        braintree_disbursements_check(merchant_id=merchant_id, account=account, now=now)
    except Exception:
        cache.delete(key)  # not checked after all: the next run tries again, not in six hours
        raise


def braintree_disbursements_check(
    *, merchant_id: int, account: str, now: datetime
) -> list[MoneyDifference]:
    """Compare what Braintree disbursed in the window with our payouts' items; report each
    difference to staff once per window. Returns every difference found this run."""
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        return []
    remote = gateway.disbursed_since(account=account, since=now - DISBURSEMENT_CHECK_WINDOW)
    rows = {
        row.processor_transaction_id: row
        for row in BalanceTransaction.objects.filter(
            merchant=merchant,
            processor=Processor.BRAINTREE,
            processor_transaction_id__in=[entry.id for entry in remote],
        ).select_related("payout")
    }
    # A disbursement notification still in the pipeline is not a missed one.
    in_flight = InboundEvent.objects.filter(
        provider=EventProvider.BRAINTREE,
        account=account,
        type__in=gateway.DISBURSEMENT_KINDS,
        status__in=PENDING_STATUSES,
    ).exists()
    differences: list[MoneyDifference] = []
    for entry in remote:
        row = rows.get(entry.id)
        if row is None or row.payout is None:
            if not in_flight:
                differences.append(
                    MoneyDifference(
                        "disbursement_missing",
                        entry.id,
                        f"disbursed by Braintree on {entry.available_on:%Y-%m-%d}; no payout "
                        "carries it (its notification never arrived: ask Braintree to resend)",
                    )
                )
        elif (row.net, row.currency) != (entry.net, entry.currency):
            differences.append(
                MoneyDifference(
                    "disbursed_transaction_differs",
                    entry.id,
                    f"{row.net} {row.currency} in {row.payout.public_id}, "
                    f"{entry.net} {entry.currency} paid out by Braintree",
                )
            )
    seconds = int(DISBURSEMENT_CHECK_WINDOW.total_seconds())
    new = [
        d
        for d in differences
        if cache.add(
            f"braintree:disbursements:{merchant.public_id}:{d.what}:{d.processor_id}", 1, seconds
        )
    ]
    if new:
        with transaction.atomic():
            money_differences_report(
                merchant,
                new,
                Actor.system("money_reconcile"),
                found_by="Braintree disbursement reconciliation",
            )
    return differences
