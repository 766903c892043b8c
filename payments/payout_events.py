"""Money-out events and reconciliation: payouts, balance transactions, fees and net.

- `payout.created`, `.updated`, `.paid`, `.failed`, `.canceled`: the payout as the processor
  holds it now, and every balance transaction it carries, applied;
- `charge.succeeded`, `charge.captured`, `refund.created`, `refund.updated`,
  `charge.dispute.funds_withdrawn`, `.funds_reinstated`: the balance transactions the object
  names, read one by one and applied (re-listing the recent ones per event would read the
  whole last hour for every payment of a busy shop);
- `balance.available`: the balance transactions created since the newest we hold applied (it
  names none, and it comes once per batch of funds, not per payment);
- after each, payments' and refunds' fee and net filled in.

Each handler reads the processor in its `fetch` (no transaction open) and applies in the
event's transaction through `payments.services.payouts`, which upserts by the processor's ids
(a duplicate or replayed event changes nothing) and moves a payout only forward, so an event
arriving late never undoes a newer one.

`money_reconcile` (run with the Stripe reconciler, every 15 minutes) compares Ledgerline's
payouts and balance transactions with the processor's over a window, reports every difference
to platform staff (an ERROR log line, which the operations alerting watches, and an audit entry
with outcome `failure` that staff read in the admin's audit log), then applies the processor's
state, which is the source of truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from inbound.models import InboundEvent
from inbound.registry import FetchingHandler, Handler
from payments.gateways.base import BalanceEntry, PayoutState
from payments.gateways.stripe.events import balance_transaction_ids, event_object
from payments.models import BalanceTransaction, Payout
from payments.services.payouts import (
    MoneyRead,
    balance_entries_apply,
    money_out_account,
    money_read_apply,
    money_read_entries,
    money_read_payout,
    money_read_recent,
    own_payout_listing,
    payment_fees_backfill,
    payout_apply,
    payouts_read_all,
)

logger = logging.getLogger(__name__)

MONEY_RECONCILE_WINDOW = timedelta(days=3)
# At most this many differences are named in one report (the count is always exact; the
# audit payload has a size limit, and staff re-run the comparison for the rest).
REPORT_NAMES = 10


def _merchant(event: InboundEvent) -> Merchant | None:
    if event.merchant_id is None:
        return None
    return Merchant.objects.filter(pk=event.merchant_id).first()


def _actor(event: InboundEvent) -> Actor:
    return Actor.webhook(event.provider)


def _payout_fetch(event: InboundEvent) -> MoneyRead | None:
    merchant = _merchant(event)
    if merchant is None:
        return None
    # The payload may be older than another event already applied; the payout now is applied.
    return money_read_payout(merchant=merchant, payout_id=event_object(event.payload)["id"])


def _recent_fetch(event: InboundEvent) -> MoneyRead | None:
    merchant = _merchant(event)
    return money_read_recent(merchant=merchant) if merchant is not None else None


def _named_fetch(event: InboundEvent) -> MoneyRead | None:
    merchant = _merchant(event)
    if merchant is None:
        return None
    entry_ids = balance_transaction_ids(event_object(event.payload))
    return money_read_entries(merchant=merchant, entry_ids=entry_ids)


def _apply(event: InboundEvent, read: MoneyRead | None) -> str | None:
    merchant = _merchant(event)
    if merchant is None or read is None:
        return "no merchant for this account"
    money_read_apply(merchant=merchant, read=read, actor=_actor(event))
    payment_fees_backfill(merchant=merchant)
    return None


_ON_PAYOUT = FetchingHandler(fetch=_payout_fetch, apply=_apply)
_ON_BALANCE_AVAILABLE = FetchingHandler(fetch=_recent_fetch, apply=_apply)
_ON_BALANCE_MOVED = FetchingHandler(fetch=_named_fetch, apply=_apply)

MONEY_HANDLERS: dict[str, Handler] = {
    "payout.created": _ON_PAYOUT,
    "payout.updated": _ON_PAYOUT,
    "payout.paid": _ON_PAYOUT,
    "payout.failed": _ON_PAYOUT,
    "payout.canceled": _ON_PAYOUT,
    "balance.available": _ON_BALANCE_AVAILABLE,
    "charge.succeeded": _ON_BALANCE_MOVED,
    "charge.captured": _ON_BALANCE_MOVED,
    "refund.created": _ON_BALANCE_MOVED,
    "refund.updated": _ON_BALANCE_MOVED,
    "charge.dispute.funds_withdrawn": _ON_BALANCE_MOVED,
    "charge.dispute.funds_reinstated": _ON_BALANCE_MOVED,
}


# --- Reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyDifference:
    """One way Ledgerline's mirror differs from the processor (`what`: a short code)."""

    what: str
    processor_id: str
    detail: str = ""


def _payout_differences(
    local: dict[str, Payout], remote: list[PayoutState]
) -> list[MoneyDifference]:
    found: list[MoneyDifference] = []
    for state in remote:
        mine = local.get(state.id)
        if mine is None:
            found.append(MoneyDifference("payout_missing", state.id))
        elif (mine.amount, mine.currency, mine.status) != (
            state.amount,
            state.currency,
            state.status,
        ):
            found.append(
                MoneyDifference(
                    "payout_differs",
                    state.id,
                    f"{mine.status} {mine.amount} {mine.currency} at Ledgerline, "
                    f"{state.status} {state.amount} {state.currency} at the processor",
                )
            )
    remote_ids = {state.id for state in remote}
    found.extend(
        MoneyDifference("payout_unknown_at_processor", pid)
        for pid in local
        if pid not in remote_ids
    )
    return found


def _entry_differences(
    local: dict[str, BalanceTransaction], remote: dict[str, BalanceEntry]
) -> list[MoneyDifference]:
    found: list[MoneyDifference] = []
    for entry in remote.values():
        mine = local.get(entry.id)
        if mine is None:
            found.append(MoneyDifference("balance_transaction_missing", entry.id))
            continue
        if (mine.amount, mine.fee, mine.net, mine.currency) != (
            entry.amount,
            entry.fee,
            entry.net,
            entry.currency,
        ):
            found.append(MoneyDifference("balance_transaction_differs", entry.id))
        mine_payout = mine.payout.processor_payout_id if mine.payout is not None else ""
        if entry.payout and mine_payout != entry.payout:
            found.append(
                MoneyDifference(
                    "balance_transaction_payout_differs",
                    entry.id,
                    f"{mine_payout or 'none'} at Ledgerline, {entry.payout} at the processor",
                )
            )
    found.extend(
        MoneyDifference("balance_transaction_unknown_at_processor", tid)
        for tid in local
        if tid not in remote
    )
    return found


def merchant_money_reconcile(
    *, merchant: Merchant, since: datetime | None = None
) -> list[MoneyDifference]:
    """Compare one merchant's payouts and balance transactions created since `since` (all when
    None) with the processor's; report and repair every difference; the differences."""
    account = money_out_account(merchant)
    if account is None:
        return []
    remote_payouts = payouts_read_all(merchant=merchant, since=since)
    remote: dict[str, BalanceEntry] = {
        e.id: e for e in money_read_recent(merchant=merchant, since=since or _epoch()).entries
    }
    # Which payout carries each transaction: only the payout listing says so.
    for state in remote_payouts:
        for entry in money_read_payout(merchant=merchant, payout_id=state.id).entries:
            known = remote.get(entry.id)
            if own_payout_listing(entry) and known is not None and known.payout:
                continue  # swept by a later payout, which carries it (own_payout_listing)
            remote[entry.id] = entry
    payouts = Payout.objects.filter(merchant=merchant, processor=account.processor)
    txns = BalanceTransaction.objects.filter(
        merchant=merchant, processor=account.processor
    ).select_related("payout")
    if since is not None:
        payouts = payouts.filter(processor_created_at__gte=since)
        txns = txns.filter(processor_created_at__gte=since)
    local_txns = {t.processor_transaction_id: t for t in txns}
    # A transaction of an older window that a listed payout carries is compared too.
    missing = set(remote) - set(local_txns)
    if missing:
        local_txns.update(
            {
                t.processor_transaction_id: t
                for t in BalanceTransaction.objects.filter(
                    merchant=merchant,
                    processor=account.processor,
                    processor_transaction_id__in=missing,
                ).select_related("payout")
            }
        )
    differences = _payout_differences(
        {p.processor_payout_id: p for p in payouts}, remote_payouts
    ) + _entry_differences(local_txns, remote)
    actor = Actor.system("money_reconcile")
    with transaction.atomic():
        if differences:
            money_differences_report(merchant, differences, actor)
        for state in remote_payouts:
            payout_apply(merchant=merchant, processor=account.processor, state=state, actor=actor)
        balance_entries_apply(
            merchant=merchant, processor=account.processor, entries=remote.values()
        )
        payment_fees_backfill(merchant=merchant)
    return differences


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, tz=UTC)


def money_differences_report(
    merchant: Merchant,
    differences: list[MoneyDifference],
    actor: Actor,
    *,
    found_by: str = "Money reconciliation",
) -> None:
    """Tell platform staff: an ERROR log line (alerting watches it) and a failed audit entry."""
    named = [f"{d.what} {d.processor_id}" for d in differences[:REPORT_NAMES]]
    logger.error(
        "%s for merchant %s: %s difference(s) with the processor: %s",
        found_by,
        merchant.public_id,
        len(differences),
        "; ".join(
            f"{d.what} {d.processor_id}{f' ({d.detail})' if d.detail else ''}"
            for d in differences[:REPORT_NAMES]
        ),
    )
    audit_record(
        action="payout.reconcile_difference",
        actor=actor,
        merchant_id=merchant.public_id,
        target_type="merchant",
        target_id=merchant.public_id,
        outcome="failure",
        payload={"count": len(differences), "differences": named},
    )


def money_reconcile(*, window: timedelta = MONEY_RECONCILE_WINDOW) -> int:
    """Every merchant with a processor account; how many differences were found in all.

    One merchant's failure (its processor down) does not stop the others; the first failure
    is raised once all have run, so the task is seen to fail.
    """
    since = timezone.now() - window
    total = 0
    failure: Exception | None = None
    merchants = Merchant.objects.filter(processor_accounts__isnull=False).distinct().order_by("pk")
    for merchant in merchants:
        try:
            total += len(merchant_money_reconcile(merchant=merchant, since=since))
        except Exception as exc:  # noqa: BLE001 - raised below, after the other merchants
            logger.warning(
                "Money reconciliation for %s failed (%s)", merchant.public_id, type(exc).__name__
            )
            failure = failure or exc
    if failure is not None:
        raise failure
    return total


def with_money_reconcile(events_reconcile: Callable[[], int]) -> Callable[[], int]:
    """The Stripe reconciler: missed events first (they repair most), then the money mirror."""

    def reconcile() -> int:
        ingested = events_reconcile()
        money_reconcile()
        return ingested

    return reconcile
