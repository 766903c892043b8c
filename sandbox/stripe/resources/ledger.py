"""The merchant's balance at the Stripe stand-in: balance transactions, fees and availability.

Every charge, refund, dispute and payout writes a balance transaction in the account that owns
it. Credits from payments (`charge`, `payment`) are `pending` until `available_on`: midnight UTC
of the day they were created plus the account's `settings.payouts.schedule.delay_days`, as at
Stripe; every other transaction (debits, reinstatements, returned payouts) is available at
once. The balance is the sum of `net` by status, currency and source type. Fees are integer
arithmetic on minor units, rounded half up: cards 2.9% + 30, ACH debits 0.8% capped at 500.
A direct charge's application fee (the platform's) is part of its transaction's `fee` too,
listed in `fee_details` as `application_fee` next to `stripe_fee`, as at Stripe.
"""

from __future__ import annotations

from sandbox.stripe.context import Ctx, Route, get
from sandbox.stripe.params import EXPAND, LIST_PARAMS, Range, Str, in_range
from sandbox.stripe.store import JSON, StripeStore, random_id

DAY = 24 * 3600
DEFAULT_DELAY_DAYS = 2
ACH_FEE_CAP = 500
# Transaction types that wait for `available_on`; everything else is available when written.
DELAYED_TYPES = ("charge", "payment")


def card_fee(amount: int) -> int:
    """2.9% + 30 in minor units: amount * 29 / 1000 rounded half up, plus 30."""
    return (amount * 29 + 500) // 1000 + 30


def ach_fee(amount: int) -> int:
    """0.8% (amount * 8 / 1000 rounded half up), at most 500 (5.00)."""
    return min((amount * 8 + 500) // 1000, ACH_FEE_CAP)


def day_start(timestamp: int) -> int:
    return timestamp - timestamp % DAY


def new_ledger() -> JSON:
    return {
        # every balance transaction id of the account, oldest first
        "txns": [],
        # pending credits waiting for their available_on
        "pending": [],
        # available transactions no automatic payout has swept yet
        "unswept": [],
        # payouts not yet paid, failed or canceled; disputes not yet won or lost
        "payouts": [],
        "disputes": [],
        # the last moment the clockwork applied, and the last automatic payout run
        "clock": None,
        "last_run": None,
        # when the clockwork next has work here; None: unknown (recomputed on the next tick)
        "due": None,
    }


def ledger_of(store: StripeStore, account: str) -> JSON:
    """The account's money index. Asking for it means a change: its next due time is
    recomputed on the next tick (the clockwork skips accounts with nothing due)."""
    with store.lock:
        ledger = store.ledgers.setdefault(account, new_ledger())
        ledger["due"] = None
        return ledger


def touch(store: StripeStore, account: str) -> None:
    """Something the clockwork reads changed (schedule, payouts_enabled, failure switch)."""
    with store.lock:
        if account in store.ledgers:
            store.ledgers[account]["due"] = None


def account_object(store: StripeStore, account: str) -> JSON:
    """The account's own object (a connected account lives in its platform's scope)."""
    return store.objects.get(account) or {}


def schedule_of(store: StripeStore, account: str) -> JSON:
    settings = account_object(store, account).get("settings") or {}
    schedule: JSON = (settings.get("payouts") or {}).get("schedule") or {}
    return schedule


def delay_days(store: StripeStore, account: str) -> int:
    value = schedule_of(store, account).get("delay_days", DEFAULT_DELAY_DAYS)
    return int(value)


def add_transaction(
    ctx: Ctx,
    *,
    amount: int,
    fee: int,
    currency: str,
    source: str,
    kind: str,
    category: str,
    description: str | None,
    source_type: str = "card",
    fee_description: str = "Stripe processing fees",
    available_now: bool = False,
    application_fee: int = 0,
    application: str | None = None,
) -> JSON:
    """Write one balance transaction in the acting account and index it in its ledger.

    `fee` is Stripe's own; `application_fee` (taken for the platform `application`) is added to
    it, so `net` is what reaches the account."""
    fee_details = []
    if application_fee:
        fee_details.append(
            {
                "amount": application_fee,
                "application": application,
                "currency": currency,
                "description": "application fee",
                "type": "application_fee",
            }
        )
    if fee:
        fee_details.append(
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": fee_description,
                "type": "stripe_fee",
            }
        )
    fee += application_fee
    delayed = kind in DELAYED_TYPES and not available_now
    available_on = (
        day_start(ctx.now) + delay_days(ctx.store, ctx.account) * DAY if delayed else ctx.now
    )
    status = "pending" if available_on > ctx.now else "available"
    txn: JSON = {
        "id": random_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "balance_type": "payments",
        "created": ctx.now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": status,
        "type": kind,
    }
    ctx.store.add(txn, ctx.account)
    ctx.store.private_of(txn["id"])["source_type"] = source_type
    ledger = ledger_of(ctx.store, ctx.account)
    ledger["txns"].append(txn["id"])
    ledger["pending" if status == "pending" else "unswept"].append(txn["id"])
    if ledger["clock"] is None:
        ledger["clock"] = ctx.now
    return txn


def balance_of(store: StripeStore, account: str) -> JSON:
    """Stripe's balance object: `available` and `pending` per currency, by source type."""
    totals: dict[str, dict[str, dict[str, int]]] = {"available": {}, "pending": {}}
    txn_ids: list[str] = (store.ledgers.get(account) or new_ledger())["txns"]
    for txn_id in txn_ids:
        txn = store.objects[txn_id]
        source_type = store.private_of(txn_id).get("source_type", "card")
        by_type = totals[txn["status"]].setdefault(txn["currency"], {})
        by_type[source_type] = by_type.get(source_type, 0) + txn["net"]
    default = account_object(store, account).get("default_currency") or "usd"

    def funds(status: str) -> list[JSON]:
        found = totals[status]
        found.setdefault(default, {})
        return [
            {
                "amount": sum(found[currency].values()),
                "currency": currency,
                "source_types": {
                    "bank_account": found[currency].get("bank_account", 0),
                    "card": found[currency].get("card", 0),
                },
            }
            for currency in sorted(found)
        ]

    return {
        "object": "balance",
        "available": funds("available"),
        "livemode": False,
        "pending": funds("pending"),
    }


def make_available(store: StripeStore, account: str, at: int) -> list[str]:
    """Move pending credits whose `available_on` has come to available; their ids."""
    ledger = ledger_of(store, account)
    due = [i for i in ledger["pending"] if store.objects[i]["available_on"] <= at]
    for txn_id in due:
        store.objects[txn_id]["status"] = "available"
        ledger["pending"].remove(txn_id)
        ledger["unswept"].append(txn_id)
    return due


# --- endpoints -------------------------------------------------------------------------------
def balance_retrieve(ctx: Ctx) -> JSON:
    return balance_of(ctx.store, ctx.account)


def _swept_by(store: StripeStore, txn_id: str) -> set[str]:
    private = store.private_of(txn_id)
    return {p for p in (private.get("swept_by"), private.get("payout")) if p}


def balance_transaction_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "balance_transaction")


def balance_transaction_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("balance_transaction", ctx.account)
    for name in ("source", "type", "currency"):
        if ctx.params.get(name):
            items = [t for t in items if t[name] == ctx.params[name]]
    if ctx.params.get("payout"):
        payout = ctx.store.get(ctx.params["payout"], ctx.account, "payout", "payout")
        items = [t for t in items if payout["id"] in _swept_by(ctx.store, t["id"])]
    if ctx.params.get("created"):
        items = [t for t in items if in_range(t["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/balance_transactions")


ROUTES: list[Route] = [
    get("/v1/balance", {"expand": EXPAND}, balance_retrieve),
    get(
        "/v1/balance_transactions",
        {
            **LIST_PARAMS,
            "created": Range(),
            "source": Str(),
            "type": Str(),
            "currency": Str(),
            "payout": Str(),
        },
        balance_transaction_list,
    ),
    get("/v1/balance_transactions/{id}", {"expand": EXPAND}, balance_transaction_retrieve),
]
