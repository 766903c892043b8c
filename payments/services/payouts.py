"""Money out: mirroring the processor's payouts and balance transactions, fees and net.

The processor is the source of truth for the balance, fees and payouts; Ledgerline mirrors
them (docs/payments.md, "Money out"). Reading the processor is `money_read_*` (no transaction
open, so a slow processor never holds a row lock); applying what was read is
`money_read_apply`, which upserts by the processor's ids (applying the same read twice changes
nothing) and moves a payout's status only forward. Every payout status change writes an audit
entry in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import InvalidPaymentRequestError
from payments.gateways import gateway_for, gateway_named
from payments.gateways.base import BalanceEntry, MoneyOutGateway, PayoutSchedule, PayoutState
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Dispute,
    Payment,
    Payout,
    PayoutStatus,
    ProcessorAccount,
    Refund,
)
from payments.services._common import audit

logger = logging.getLogger(__name__)

# A payout moves pending -> in_transit -> paid, or ends failed / canceled; a paid payout can
# still fail (the bank returns it days later). Anything else is an older state arriving late.
_PAYOUT_RANK = {
    PayoutStatus.PENDING: 0,
    PayoutStatus.IN_TRANSIT: 1,
    PayoutStatus.PAID: 2,
    PayoutStatus.CANCELED: 3,
    PayoutStatus.FAILED: 3,
}
# Recent balance transactions are listed from the newest mirrored one less this margin: the
# processor may write a transaction stamped a moment before one we already hold.
SYNC_OVERLAP = timedelta(hours=1)
# At most this many pages (100 each) per read; the reconciliation catches anything beyond.
MAX_PAGES = 200


def payout_transition_allowed(current: str, new: str) -> bool:
    if current == new:
        return False
    if current == PayoutStatus.PAID and new == PayoutStatus.FAILED:
        return True
    return _PAYOUT_RANK[PayoutStatus(new)] > _PAYOUT_RANK[PayoutStatus(current)] and (
        _PAYOUT_RANK[PayoutStatus(current)] < 2
    )


@dataclass
class MoneyRead:
    """What was read from the processor for one merchant: payouts and balance entries."""

    payouts: list[PayoutState] = field(default_factory=list)
    entries: list[BalanceEntry] = field(default_factory=list)


def money_out_account(merchant: Merchant) -> ProcessorAccount | None:
    """The merchant's processor account when its gateway mirrors money out, else None.

    Braintree has no payout API (none of the money-out verbs): its disbursements are mirrored
    from its notifications instead (`payments.braintree_payouts`), and this reconciliation
    skips it."""
    # A merchant may have several processors (routing): the one whose gateway mirrors money.
    for account in ProcessorAccount.objects.filter(merchant=merchant).order_by("pk"):
        if isinstance(gateway_for(account), MoneyOutGateway):
            return account
    return None


def _money_out_gateway(account: ProcessorAccount) -> MoneyOutGateway:
    """The gateway of an account `money_out_account` chose."""
    gateway = gateway_for(account)
    if not isinstance(gateway, MoneyOutGateway):
        raise InvalidPaymentRequestError(
            "Payouts are not available for this merchant's processor account."
        )
    return gateway


def _entries_listed(
    gateway: MoneyOutGateway,
    account: ProcessorAccount,
    *,
    payout: str | None = None,
    created_gte: datetime | None = None,
) -> list[BalanceEntry]:
    """Every page of the processor's balance transactions for one filter (at most MAX_PAGES)."""
    entries: list[BalanceEntry] = []
    starting_after: str | None = None
    for _ in range(MAX_PAGES):
        page = gateway.balance_entry_list(
            account=account.processor_account_id,
            payout=payout,
            created_gte=created_gte,
            starting_after=starting_after,
        )
        entries.extend(page.entries)
        if not page.has_more or not page.entries:
            break
        starting_after = page.entries[-1].id
    return entries


def money_read_payout(*, merchant: Merchant, payout_id: str) -> MoneyRead:
    """A payout as the processor holds it now, with every balance transaction it carries."""
    account = money_out_account(merchant)
    if account is None:
        return MoneyRead()
    gateway = _money_out_gateway(account)
    state = gateway.payout_retrieve(account=account.processor_account_id, payout=payout_id)
    entries = _entries_listed(gateway, account, payout=payout_id)
    return MoneyRead(payouts=[state], entries=entries)


def money_read_recent(*, merchant: Merchant, since: datetime | None = None) -> MoneyRead:
    """Balance transactions created since `since` (default: the newest we hold, less
    `SYNC_OVERLAP`; everything when we hold none)."""
    account = money_out_account(merchant)
    if account is None:
        return MoneyRead()
    if since is None:
        newest = (
            BalanceTransaction.objects.filter(merchant=merchant, processor=account.processor)
            .order_by("-processor_created_at")
            .values_list("processor_created_at", flat=True)
            .first()
        )
        since = newest - SYNC_OVERLAP if newest is not None else None
    gateway = _money_out_gateway(account)
    return MoneyRead(entries=_entries_listed(gateway, account, created_gte=since))


def money_read_entries(*, merchant: Merchant, entry_ids: Iterable[str]) -> MoneyRead:
    """The named balance transactions: what one charge, refund or dispute moved. One processor
    call each, where re-listing the recent ones would read the whole last hour per event."""
    account = money_out_account(merchant)
    if account is None:
        return MoneyRead()
    gateway = _money_out_gateway(account)
    return MoneyRead(
        entries=[
            gateway.balance_entry_retrieve(account=account.processor_account_id, entry=entry_id)
            for entry_id in dict.fromkeys(entry_ids)
        ]
    )


def payouts_read_all(*, merchant: Merchant, since: datetime | None = None) -> list[PayoutState]:
    """The processor's payouts created since `since` (all when None), newest first."""
    account = money_out_account(merchant)
    if account is None:
        return []
    gateway = _money_out_gateway(account)
    found: list[PayoutState] = []
    starting_after: str | None = None
    for _ in range(MAX_PAGES):
        page = gateway.payout_list(
            account=account.processor_account_id, starting_after=starting_after
        )
        for state in page.payouts:
            if since is not None and state.created < since:
                return found
            found.append(state)
        if not page.has_more or not page.payouts:
            break
        starting_after = page.payouts[-1].id
    return found


def money_read_apply(*, merchant: Merchant, read: MoneyRead, actor: Actor) -> None:
    """Apply a read in one transaction: payouts first (entries name them), then entries."""
    account = money_out_account(merchant)
    if account is None:
        return
    with transaction.atomic():
        for state in read.payouts:
            payout_apply(merchant=merchant, processor=account.processor, state=state, actor=actor)
        balance_entries_apply(merchant=merchant, processor=account.processor, entries=read.entries)


def payout_apply(
    *, merchant: Merchant, processor: str, state: PayoutState, actor: Actor
) -> Payout | None:
    """Create or move forward our twin of a processor payout (locked); audited on change."""
    if state.status is None or not state.id:
        logger.warning("Payout %s has a status the gateway does not know", state.id)
        return None
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update()
            .filter(merchant=merchant, processor=processor, processor_payout_id=state.id)
            .first()
        )
        if payout is None:
            payout, created = Payout.objects.get_or_create(
                processor=processor,
                processor_payout_id=state.id,
                defaults={
                    "merchant": merchant,
                    "amount": state.amount,
                    "currency": state.currency,
                    "status": state.status,
                    "automatic": state.automatic,
                    "arrival_date": state.arrival_date,
                    "failure_code": state.failure_code,
                    "failure_message": state.failure_message,
                    "processor_created_at": state.created,
                },
            )
            if payout.merchant_id != merchant.pk:
                logger.error("Payout %s belongs to another merchant; ignored", state.id)
                return None
            if created:
                _payout_audit(payout, merchant=merchant, actor=actor, previous="")
                return payout
            payout = Payout.objects.select_for_update().get(pk=payout.pk)
        if not payout_transition_allowed(payout.status, state.status):
            if payout.arrival_date != state.arrival_date and payout.status == state.status:
                payout.arrival_date = state.arrival_date
                payout.save(update_fields=["arrival_date", "updated_at"])
            return payout
        previous = payout.status
        payout.status = state.status
        payout.arrival_date = state.arrival_date
        payout.failure_code = state.failure_code
        payout.failure_message = state.failure_message
        payout.save(
            update_fields=[
                "status",
                "arrival_date",
                "failure_code",
                "failure_message",
                "updated_at",
            ]
        )
        _payout_audit(payout, merchant=merchant, actor=actor, previous=previous)
        return payout


def _payout_audit(payout: Payout, *, merchant: Merchant, actor: Actor, previous: str) -> None:
    audit(
        action="payout.status_change",
        merchant=merchant,
        actor=actor,
        request=None,
        target_type="payout",
        target_id=payout.public_id,
        payload={
            "from": previous,
            "to": payout.status,
            "amount": payout.amount,
            "currency": payout.currency,
            "failure_code": payout.failure_code,
        },
    )


def balance_entries_apply(
    *,
    merchant: Merchant,
    processor: str,
    entries: Iterable[BalanceEntry],
    fees_itemized: bool = True,
) -> int:
    """Upsert balance transactions by the processor's id; fill fee/net on their payments and
    refunds when the processor itemizes fees (`fees_itemized`; Braintree's disbursements do
    not, and a payment's fee is then left unknown rather than zero). A transaction's amounts
    never change at the processor; its payout may be learnt later (an automatic payout sweeps
    it). How many rows were created."""
    # In currency order: each insert locks its currency's balance total (a database trigger,
    # payments.balance_total_triggers) until commit, and two calls for one merchant that
    # locked them in opposite orders would deadlock. Stable: the listing's order within one.
    entries = sorted((entry for entry in entries if entry.id), key=lambda entry: entry.currency)
    if not entries:
        return 0
    created = 0
    payouts = {
        p.processor_payout_id: p
        for p in Payout.objects.filter(
            merchant=merchant,
            processor=processor,
            processor_payout_id__in={e.payout for e in entries if e.payout}
            | {e.source for e in entries if e.type.startswith("payout")},
        )
    }
    existing = {
        t.processor_transaction_id: t
        for t in BalanceTransaction.objects.select_for_update().filter(
            processor=processor, processor_transaction_id__in=[e.id for e in entries]
        )
    }
    linked: set[int] = set()
    for entry in entries:
        payout = payouts.get(entry.payout) or (
            payouts.get(entry.source) if entry.type.startswith("payout") else None
        )
        row = existing.get(entry.id)
        if row is not None:
            if row.merchant_id != merchant.pk:
                continue
            if payout is not None and own_payout_listing(entry) and row.payout_id is not None:
                # A payout's own debit or its return, listed under that payout, is also swept
                # by a later payout: the sweeping payout carries it, and keeps it.
                continue
            if payout is not None and not entry.payout and row.payout_id is not None:
                # A plain listing names no sweeping payout: its guess (a payout's own movement
                # belongs to that payout) never undoes the link a payout's listing made.
                continue
            if payout is not None and row.payout_id != payout.pk:
                row.payout = payout
                row.save(update_fields=["payout"])
                linked.add(payout.pk)
            continue
        try:
            with transaction.atomic():
                row = BalanceTransaction.objects.create(
                    merchant=merchant,
                    processor=processor,
                    processor_transaction_id=entry.id,
                    type=entry.type
                    if entry.type in BalanceTransactionType.values
                    else BalanceTransactionType.OTHER,
                    amount=entry.amount,
                    fee=entry.fee,
                    net=entry.net,
                    currency=entry.currency,
                    description=entry.description,
                    processor_source_id=entry.source[:64],
                    payout=payout,
                    available_on=entry.available_on,
                    processor_created_at=entry.created,
                    **_source_rows(merchant, entry),
                )
        except IntegrityError:
            # Another event applying the same lines at the same moment recorded this one first
            # (concurrent deliveries): it is theirs to link and to fill fees from.
            continue
        if payout is not None:
            linked.add(payout.pk)
        existing[entry.id] = row
        created += 1
        if fees_itemized:
            _fee_apply(row, entry)
    if linked:
        # What a payout contains changed: its cached contents (payout_reports) are stale.
        Payout.objects.filter(pk__in=linked).update(updated_at=timezone.now())
    return created


def own_payout_listing(entry: BalanceEntry) -> bool:
    """Whether `entry` is a payout's own debit (or its return) listed under that payout."""
    return entry.type.startswith("payout") and bool(entry.payout) and entry.payout == entry.source


def _source_rows(merchant: Merchant, entry: BalanceEntry) -> dict[str, object]:
    if not entry.source:
        return {}
    if entry.type == BalanceTransactionType.CHARGE:
        payment = Payment.objects.filter(
            merchant=merchant, processor_charge_id=entry.source
        ).first() or (
            Payment.objects.filter(merchant=merchant, processor_payment_id=entry.source).first()
        )
        return {"payment": payment}
    if entry.type == BalanceTransactionType.REFUND:
        refund = Refund.objects.filter(merchant=merchant, processor_refund_id=entry.source).first()
        return {"refund": refund}
    if entry.type in (BalanceTransactionType.DISPUTE, BalanceTransactionType.DISPUTE_REVERSAL):
        dispute = Dispute.objects.filter(
            merchant=merchant, processor_dispute_id=entry.source
        ).first()
        return {"dispute": dispute, "payment_id": dispute.payment_id if dispute else None}
    return {}


def _fee_apply(row: BalanceTransaction, entry: BalanceEntry) -> None:
    """A charge's or refund's fee and net, as the processor reported them (set once)."""
    if row.type == BalanceTransactionType.CHARGE and row.payment_id is not None:
        Payment.objects.filter(pk=row.payment_id, fee__isnull=True).update(
            fee=entry.fee, platform_fee=entry.platform_fee, net=entry.net
        )
    elif row.type == BalanceTransactionType.REFUND and row.refund_id is not None:
        Refund.objects.filter(pk=row.refund_id, fee__isnull=True).update(
            fee=entry.fee, net=entry.net
        )


def payment_fees_backfill(*, merchant: Merchant) -> int:
    """Attach balance transactions that arrived before their payment or refund row was known
    (an event can beat the API answer) and fill those rows' fee and net."""
    fixed = 0
    orphans = BalanceTransaction.objects.filter(
        merchant=merchant,
        type__in=[BalanceTransactionType.CHARGE, BalanceTransactionType.REFUND],
        payment__isnull=True,
        refund__isnull=True,
    ).exclude(processor_source_id="")
    for row in orphans:
        entry = BalanceEntry(
            id=row.processor_transaction_id,
            type=row.type,
            amount=row.amount,
            fee=row.fee,
            net=row.net,
            currency=row.currency,
            available_on=row.available_on,
            created=row.processor_created_at,
            source=row.processor_source_id,
        )
        found = _source_rows(merchant, entry)
        if any(found.values()):
            for name, value in found.items():
                setattr(row, name, value)
            row.save(update_fields=list(found))
            if isinstance(gateway_named(row.processor), MoneyOutGateway):
                _fee_apply(row, entry)  # only a money-out processor itemizes fees
            fixed += 1
    return fixed


# --- the payout schedule --------------------------------------------------------------------


def payout_schedule_get(*, merchant: Merchant) -> PayoutSchedule | None:
    """The merchant's payout schedule at its processor (None without an account)."""
    account = money_out_account(merchant)
    if account is None:
        return None
    return _money_out_gateway(account).payout_schedule_retrieve(
        account=account.processor_account_id
    )


def payout_schedule_set(
    *,
    merchant: Merchant,
    schedule: PayoutSchedule,
    actor: Actor,
    key: str,
    request: HttpRequest | None = None,
) -> PayoutSchedule:
    """Change the schedule at the processor, then audit what it now holds (the caller checks
    the role and step-up). `key` makes a retried submission one change."""
    account = money_out_account(merchant)
    if account is None:
        raise InvalidPaymentRequestError(
            "Payouts are not available for this merchant's processor account."
        )
    before = _money_out_gateway(account).payout_schedule_retrieve(
        account=account.processor_account_id
    )
    after = _money_out_gateway(account).payout_schedule_update(
        account=account.processor_account_id, schedule=schedule, key=key
    )
    with transaction.atomic():
        audit(
            action="payout.schedule_change",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="merchant",
            target_id=merchant.public_id,
            payload={
                "from": _schedule_payload(before),
                "to": _schedule_payload(after),
            },
            step_up=True,
        )
    return after


def _schedule_payload(schedule: PayoutSchedule) -> dict[str, object]:
    return {
        "interval": schedule.interval,
        "delay_days": schedule.delay_days,
        "weekly_anchor": schedule.weekly_anchor,
        "monthly_anchor": schedule.monthly_anchor,
    }
