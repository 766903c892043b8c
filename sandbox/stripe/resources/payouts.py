"""Payouts, the payout schedule, and the clockwork that moves money on the sandbox clock.

A payout debits the balance when it is created (`payout` balance transaction) and goes
`pending` -> `in_transit` (`SUBMIT_SECONDS` later) -> `paid` at `arrival_date` (midnight UTC of
the next business day), or `failed` there with a `failure_code`, which returns the money
(`payout_failure`). Manual payouts (`POST /v1/payouts`) take at most the available balance of
their currency and source type and can be canceled while `pending` (`payout_cancel`).
Automatic payouts run at midnight UTC on the account's `settings.payouts.schedule` (daily,
weekly on `weekly_anchor`/`weekly_payout_days`, monthly on `monthly_anchor`/
`monthly_payout_days`, the 29th-31st meaning the last day of a shorter month) and sweep every
available transaction no automatic payout took yet, one payout per currency and source type
whose sum is positive; `GET /v1/balance_transactions?payout=po_...` lists what a payout swept
and its own transactions.

`advance()` applies, in time order, everything the clock made due: funds becoming available
(`balance.available`), dispute deadlines and decisions, payout transitions and scheduled
payouts. The provider runs it before every API call, on `POST /_sandbox/stripe/tick` and when
the sandbox clock is moved.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from sandbox.stripe.context import Ctx, Route, account_ctx, get, merge_metadata, post
from sandbox.stripe.errors import invalid
from sandbox.stripe.params import (
    EXPAND,
    LIST_PARAMS,
    Enum,
    Int,
    Metadata,
    Range,
    Str,
    in_range,
)
from sandbox.stripe.resources import disputes
from sandbox.stripe.resources.ledger import (
    DAY,
    add_transaction,
    balance_of,
    day_start,
    ledger_of,
    make_available,
    schedule_of,
)
from sandbox.stripe.store import JSON, StripeStore, random_id

SUBMIT_SECONDS = 3600
# A ledger's next due time when nothing is due until something changes (JSON has no infinity).
NEVER = 2**62
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on either the type or the "
    "number of payouts allowed.",
    "could_not_process": "The bank could not process this payout.",
    "debit_not_authorized": "Debit transactions are not approved on the bank account.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The routing number seems correct, but the account number is "
    "invalid.",
    "invalid_currency": "The bank was unable to process this payout because of its currency.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
    "could be located with those details.",
}


# --- time ------------------------------------------------------------------------------------
def _date(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def arrival_for(created: int) -> int:
    """Midnight UTC of the first business day after the payout's creation day."""
    arrival = day_start(created) + DAY
    while _date(arrival).weekday() >= 5:
        arrival += DAY
    return arrival


def _pays_on(schedule: JSON, midnight: int) -> bool:
    date = _date(midnight)
    interval = schedule.get("interval", "daily")
    if interval == "daily":
        return True
    if interval == "weekly":
        days = schedule.get("weekly_payout_days") or [schedule.get("weekly_anchor") or "monday"]
        return WEEKDAYS[date.weekday()] in days
    if interval == "monthly":
        last = calendar.monthrange(date.year, date.month)[1]
        days = schedule.get("monthly_payout_days") or [schedule.get("monthly_anchor") or 1]
        return date.day in {min(int(day), last) for day in days}
    return False


def next_run(schedule: JSON, *, not_before: int, after: int | None) -> int | None:
    """The first payout midnight at or after `not_before` and strictly after `after`."""
    if schedule.get("interval", "daily") == "manual":
        return None
    start = max(not_before, after + 1 if after is not None else not_before)
    midnight = day_start(start) + (DAY if start % DAY else 0)
    for _ in range(62):  # a monthly schedule always pays within two months
        if _pays_on(schedule, midnight):
            return midnight
        midnight += DAY
    return None


# --- the clockwork ---------------------------------------------------------------------------
def _groups(store: StripeStore, ledger: JSON) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for txn_id in ledger["unswept"]:
        txn = store.objects[txn_id]
        key = (txn["currency"], store.private_of(txn_id).get("source_type", "card"))
        groups.setdefault(key, []).append(txn_id)
    return groups


def _payable(store: StripeStore, account: str, ledger: JSON) -> bool:
    found = store.objects.get(account) or {}
    if not found.get("payouts_enabled", True):
        return False
    if not (found.get("external_accounts") or {}).get("data"):
        return False  # nowhere to pay (an account from an older state file)
    return any(
        sum(store.objects[i]["net"] for i in ids) > 0 for ids in _groups(store, ledger).values()
    )


def _payout_due(payout: JSON) -> int | None:
    if payout["status"] == "pending":
        return int(min(payout["created"] + SUBMIT_SECONDS, payout["arrival_date"]))
    if payout["status"] == "in_transit":
        return int(payout["arrival_date"])
    return None


def _next_due(store: StripeStore, account: str, ledger: JSON) -> int | None:
    times = [store.objects[i]["available_on"] for i in ledger["pending"]]
    times += [t for p in ledger["payouts"] if (t := _payout_due(store.objects[p])) is not None]
    times += [
        t
        for d in ledger["disputes"]
        if (t := disputes.next_due(store.private_of(d), store.objects[d])) is not None
    ]
    if _payable(store, account, ledger):
        run = next_run(
            schedule_of(store, account), not_before=ledger["clock"], after=ledger["last_run"]
        )
        if run is not None:
            times.append(run)
    return min(times) if times else None


def advance(store: StripeStore, now: int) -> bool:
    """Apply everything due by `now` in every account that has money, in time order; whether
    anything changed."""
    changed = False
    with store.lock:
        for account, ledger in list(store.ledgers.items()):
            if account not in store.objects:
                continue  # a deleted connected account
            if ledger["clock"] is None:
                ledger["clock"] = now
            if ledger.get("due") is not None and ledger["due"] > now:
                continue  # nothing due here yet, and nothing changed since it was computed
            while (due := _next_due(store, account, ledger)) is not None and due <= now:
                _apply(store, account, ledger, due)
                ledger["clock"] = max(ledger["clock"], due)
                changed = True
            ledger["clock"] = max(ledger["clock"], now)
            ledger["due"] = due if due is not None else NEVER
    return changed


def _apply(store: StripeStore, account: str, ledger: JSON, at: int) -> None:
    ctx = account_ctx(store, account, now=at)
    if make_available(store, account, at):
        ctx.emit("balance.available", balance_of(store, account))
    for dispute_id in list(ledger["disputes"]):
        disputes.advance(ctx, store.objects[dispute_id])
    for payout_id in list(ledger["payouts"]):
        payout = store.objects[payout_id]
        due = _payout_due(payout)
        if due is not None and due <= at:
            _move(ctx, payout)
    if _payable(store, account, ledger):
        run = next_run(
            schedule_of(store, account), not_before=ledger["clock"], after=ledger["last_run"]
        )
        if run is not None and run <= at:
            _sweep(ctx, ledger)
            ledger["last_run"] = at


def _move(ctx: Ctx, payout: JSON) -> None:
    """One step of a payout on the clock: submitted to the bank, then paid or failed."""
    previous = {"status": payout["status"]}
    if payout["status"] == "pending":
        payout["status"] = "in_transit"
        ctx.emit("payout.updated", payout, previous=previous)
        if payout["arrival_date"] > ctx.now:
            return
        previous = {"status": "in_transit"}
    code = ctx.store.private_of(payout["id"]).get("failure_code")
    if code:
        _return_funds(ctx, payout, "failed", code)
        return
    payout["status"] = "paid"
    payout["trace_id"] = {"status": "supported", "value": random_id("trace", 12)}
    ledger_of(ctx.store, ctx.account)["payouts"].remove(payout["id"])
    ctx.emit("payout.updated", payout, previous=previous)
    ctx.emit("payout.paid", payout)


def _return_funds(ctx: Ctx, payout: JSON, status: str, code: str | None) -> None:
    """A failed or canceled payout gives its amount back to the balance."""
    previous = {"status": payout["status"]}
    kind = "payout_failure" if status == "failed" else "payout_cancel"
    txn = add_transaction(
        ctx,
        amount=payout["amount"],
        fee=0,
        currency=payout["currency"],
        source=payout["id"],
        kind=kind,
        category="payout_reversal",
        description=f"Payout {'failure' if status == 'failed' else 'cancellation'}",
        source_type=payout["source_type"],
    )
    ctx.store.private_of(txn["id"])["payout"] = payout["id"]
    payout.update(
        {
            "status": status,
            "failure_balance_transaction": txn["id"],
            "failure_code": code,
            "failure_message": FAILURE_MESSAGES.get(code or ""),
            "trace_id": {"status": "unsupported", "value": None},
        }
    )
    ledger_of(ctx.store, ctx.account)["payouts"].remove(payout["id"])
    ctx.emit("payout.updated", payout, previous=previous)
    ctx.emit("payout.failed" if status == "failed" else "payout.canceled", payout)


def _sweep(ctx: Ctx, ledger: JSON) -> None:
    """An automatic payout per currency and source type of the available money not yet swept."""
    for (currency, source_type), ids in sorted(_groups(ctx.store, ledger).items()):
        amount = sum(ctx.store.objects[i]["net"] for i in ids)
        if amount <= 0:
            continue  # a negative balance waits for credits (Stripe debits no bank account)
        payout = _payout_create(
            ctx,
            amount=amount,
            currency=currency,
            source_type=source_type,
            automatic=True,
            fields={},
        )
        for txn_id in ids:
            ctx.store.private_of(txn_id)["swept_by"] = payout["id"]
            ledger["unswept"].remove(txn_id)
        # The payout's own debit balances what it swept.
        ledger["unswept"].remove(payout["balance_transaction"])


def _destination(ctx: Ctx, wanted: str | None) -> JSON:
    account = ctx.store.objects.get(ctx.account) or {}
    banks = (account.get("external_accounts") or {}).get("data") or []
    if wanted:
        found = next((b for b in banks if b["id"] == wanted), None)
        if found is None:
            raise invalid(
                f"No such external account: '{wanted}'",
                param="destination",
                code="resource_missing",
            )
        return dict(found)
    if not banks:
        raise invalid(
            "This account has no external account to pay out to.",
            code="no_external_account",
        )
    return dict(next((b for b in banks if b.get("default_for_currency")), banks[0]))


def _payout_create(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    source_type: str,
    automatic: bool,
    fields: JSON,
) -> JSON:
    bank = _destination(ctx, fields.get("destination"))
    payout_id = random_id("po")
    txn = add_transaction(
        ctx,
        amount=-amount,
        fee=0,
        currency=currency,
        source=payout_id,
        kind="payout",
        category="payout",
        description=fields.get("description") or "STRIPE PAYOUT",
        source_type=source_type,
    )
    ctx.store.private_of(txn["id"])["payout"] = payout_id
    payout = {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival_for(ctx.now),
        "automatic": automatic,
        "balance_transaction": txn["id"],
        "created": ctx.now,
        "currency": currency,
        "description": fields.get("description") or "STRIPE PAYOUT",
        "destination": bank["id"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": fields.get("metadata") or {},
        "method": "standard",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "completed" if automatic else "not_applicable",
        "reversed_by": None,
        "source_type": source_type,
        "statement_descriptor": fields.get("statement_descriptor"),
        "status": "pending",
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
    }
    ctx.store.add(payout, ctx.account)
    private = ctx.store.private_of(payout_id)
    forced = ctx.store.private_of(ctx.account).get("payout_failure")
    private["failure_code"] = forced or ctx.store.private_of(bank["id"]).get("payout_failure")
    ledger_of(ctx.store, ctx.account)["payouts"].append(payout_id)
    ctx.emit("payout.created", payout)
    return payout


def run_now(ctx: Ctx, account: JSON) -> list[JSON]:
    """The account's automatic payout runs now, as at a payout midnight (the control API's
    switch): one payout per currency and source type of the available money not yet swept;
    the payouts made (none when nothing adds up to more than zero)."""
    if not account.get("payouts_enabled", True):
        raise invalid("Payouts have been disabled on this account.", code="payouts_not_allowed")
    if not (account.get("external_accounts") or {}).get("data"):
        raise invalid("This account has no external account to pay out to.")
    acting = account_ctx(ctx.store, account["id"], now=ctx.now, base_url=ctx.base_url)
    ledger = ledger_of(ctx.store, account["id"])
    before = set(ledger["payouts"])
    _sweep(acting, ledger)
    # The schedule's next midnight still runs: it is after this run.
    ledger["last_run"] = ctx.now
    return [ctx.store.objects[p] for p in ledger["payouts"] if p not in before]


def move_now(ctx: Ctx, payout: JSON) -> JSON:
    """The bank takes the payout's next step now (the control API's switch): a pending payout
    goes in transit; one in transit arrives today, paid (or failed when a failure switch of
    its account or bank account is set)."""
    if payout["status"] == "in_transit":
        payout["arrival_date"] = min(payout["arrival_date"], day_start(ctx.now))
    elif payout["status"] != "pending":
        raise invalid(f"This payout is {payout['status']}; only a payout on its way can move.")
    _move(ctx, payout)
    # Its next due time changed (submitted: its arrival), or it left the clockwork.
    ledger_of(ctx.store, ctx.account)
    return payout


def fail(ctx: Ctx, payout: JSON, code: str) -> JSON:
    """The bank returns a payout now (the control API's switch)."""
    if payout["status"] not in ("pending", "in_transit"):
        raise invalid(f"This payout is {payout['status']}; only a payout on its way can fail.")
    _return_funds(ctx, payout, "failed", code)
    return payout


# --- endpoints -------------------------------------------------------------------------------
def payout_create(ctx: Ctx) -> JSON:
    account = ctx.store.objects.get(ctx.account) or {}
    if not account.get("payouts_enabled", True):
        raise invalid(
            "Payouts have been disabled on this account. Check the account's status to see if "
            "any additional information needs to be provided.",
            code="payouts_not_allowed",
        )
    currency = ctx.params["currency"].lower()
    source_type = ctx.params.get("source_type") or "card"
    amount = ctx.params["amount"]
    available = next(
        (f for f in balance_of(ctx.store, ctx.account)["available"] if f["currency"] == currency),
        None,
    )
    if available is None or available["source_types"][source_type] < amount:
        raise invalid(
            "You have insufficient funds in your Stripe account for this transfer. Your "
            f"{source_type} balance is too low. You can use the /v1/balance endpoint to view "
            "your Stripe balance (for more details, see stripe.com/docs/api#balance).",
            param="amount",
            code="balance_insufficient",
        )
    return _payout_create(
        ctx,
        amount=amount,
        currency=currency,
        source_type=source_type,
        automatic=False,
        fields=ctx.params,
    )


def payout_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "payout")


def payout_update(ctx: Ctx) -> JSON:
    payout = ctx.store.get(ctx.args[0], ctx.account, "payout")
    if "metadata" in ctx.params:
        previous = {"metadata": payout["metadata"]}
        payout["metadata"] = merge_metadata(payout["metadata"], ctx.params["metadata"])
        ctx.emit("payout.updated", payout, previous=previous)
    return payout


def payout_cancel(ctx: Ctx) -> JSON:
    payout = ctx.store.get(ctx.args[0], ctx.account, "payout")
    if payout["automatic"]:
        raise invalid("Automatic payouts cannot be canceled.", code="payout_not_cancelable")
    if payout["status"] != "pending":
        raise invalid(
            f"This payout is {payout['status']}; only a pending payout can be canceled.",
            code="payout_not_cancelable",
        )
    _return_funds(ctx, payout, "canceled", None)
    return payout


def payout_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("payout", ctx.account)
    for name in ("status", "destination"):
        if ctx.params.get(name):
            items = [p for p in items if p[name] == ctx.params[name]]
    for name in ("created", "arrival_date"):
        if ctx.params.get(name):
            items = [p for p in items if in_range(p[name], ctx.params[name])]
    return ctx.store.page(items, ctx.params, "/v1/payouts")


ROUTES: list[Route] = [
    post(
        "/v1/payouts",
        {
            "amount": Int(required=True, minimum=1),
            "currency": Str(required=True, max_length=3),
            "description": Str(),
            "destination": Str(),
            "metadata": Metadata(),
            # Instant payouts need a debit card destination the sandbox does not model.
            "method": Enum("standard"),
            "source_type": Enum("card", "bank_account"),
            "statement_descriptor": Str(max_length=22),
            "expand": EXPAND,
        },
        payout_create,
    ),
    get(
        "/v1/payouts",
        {
            **LIST_PARAMS,
            "arrival_date": Range(),
            "status": Enum("pending", "in_transit", "paid", "failed", "canceled"),
            "destination": Str(),
        },
        payout_list,
    ),
    get("/v1/payouts/{id}", {"expand": EXPAND}, payout_retrieve),
    post("/v1/payouts/{id}", {"metadata": Metadata(), "expand": EXPAND}, payout_update),
    post("/v1/payouts/{id}/cancel", {"expand": EXPAND}, payout_cancel),
]
