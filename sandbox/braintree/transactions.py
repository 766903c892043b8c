"""Transactions: sale, submit for settlement, void, refund, find, search, settlement on the clock.

Statuses follow Braintree's: a sale is `authorized` (or `processor_declined`, `failed`,
`gateway_rejected`), then `submitted_for_settlement` -> `settling` -> `settled` on the sandbox
clock (`SETTLING_SECONDS`, `SETTLED_SECONDS` after submission, applied on the next API call or
`POST /_sandbox/braintree/tick`), or at once through the SDK's `TestingGateway`. A refund is a
`credit` transaction of its own, allowed only once the sale is settling or settled (91506).
"""

from __future__ import annotations

from typing import Any

from sandbox.braintree import cards, disputes, errors, render, vault
from sandbox.braintree.call import Call, Emit, amount, flag, section, text
from sandbox.braintree.errors import ValidationError, invalid, not_found
from sandbox.braintree.search import MAX_RESULTS, PAGE_SIZE, Fields, criteria_of, matches
from sandbox.braintree.store import JSON, BraintreeStore, random_id
from sandbox.braintree.xmlwire import Collection

SETTLING_SECONDS = 3600
SETTLED_SECONDS = 86_400
DISBURSE_SECONDS = 86_400  # after settlement
AUTHORIZATION_SECONDS = 7 * 86_400
PATH = ("transaction",)
VOIDABLE = ("authorized", "submitted_for_settlement", "settlement_pending")
REFUNDABLE = ("settling", "settled")


def _history(txn: JSON, status: str, now: float) -> None:
    txn["status"] = status
    txn["updated_at"] = now
    txn["status_history"].append({"status": status, "amount_cents": txn["amount_cents"], "at": now})
    txn[f"{status}_at"] = now


def _new(call: Call, *, kind: str, cents: int, card: JSON, **fields: Any) -> JSON:
    txn_id = call.store.new_id("transactions")
    txn = {
        "id": txn_id,
        "type": kind,
        "status": "",
        "amount_cents": cents,
        "card": card,
        "created_at": call.now,
        "updated_at": call.now,
        "status_history": [],
        "refund_ids": [],
        "dispute_ids": [],
        "processor_response_code": None,
        **fields,
    }
    call.store.transactions[txn_id] = txn
    return txn


def _render(call: Call, txn: JSON) -> tuple[str, Any]:
    return "transaction", render.transaction(call.store, txn, now=call.now)


def _merchant_account(call: Call, params: JSON) -> str:
    account = text(params, "merchant_account_id", PATH) or call.default_merchant_account
    if account not in call.merchant_accounts:
        raise invalid(
            PATH,
            "merchant_account_id",
            errors.MERCHANT_ACCOUNT_ID_IS_INVALID,
            "Merchant account ID is invalid.",
        )
    return account


def _customer_for_sale(call: Call, params: JSON) -> str | None:
    customer_id = text(params, "customer_id", PATH)
    if customer_id is not None and customer_id not in call.store.customers:
        raise invalid(
            PATH, "customer_id", errors.SALE_CUSTOMER_ID_IS_INVALID, "Customer ID is invalid."
        )
    return customer_id


def _outcome(card: JSON, cents: int, options: JSON) -> tuple[str, str | None, str | None]:
    """(status, processor response code, gateway rejection reason) for a new sale."""
    three_ds = section(options, "three_d_secure", (*PATH, "options"))
    if card["behaviour"] == "gateway_rejected_fraud":
        return "gateway_rejected", None, "fraud"
    if flag(three_ds, "required") and card.get("three_d_secure") != "authenticated":
        return "gateway_rejected", None, "three_d_secure"
    if card["behaviour"] == "processor_declined":
        return "processor_declined", "2000", None
    if card["behaviour"] == "failed":
        return "failed", "3000", None
    status, code = cards.amount_outcome(cents)
    return status, code, None


def sale(call: Call) -> tuple[str, Any]:
    params = call.section("transaction")
    kind = params.get("type", "sale")
    if kind != "sale":
        raise invalid(
            PATH, "type", errors.TYPE_IS_INVALID, "Transaction type is invalid (sandbox: sale)."
        )
    cents = amount(params.get("amount"), PATH)
    assert cents is not None  # noqa: S101 (required=True)
    account = _merchant_account(call, params)
    order_id = text(params, "order_id", PATH, code=errors.ORDER_ID_IS_TOO_LONG)
    options = section(params, "options", PATH)
    customer_id = _customer_for_sale(call, params)
    if customer_id and not any(
        params.get(k) for k in ("payment_method_nonce", "payment_method_token", "credit_card")
    ):
        default = next(
            (
                token
                for token in call.store.customers[customer_id]["payment_method_tokens"]
                if call.store.payment_methods[token]["default"]
            ),
            None,
        )
        params = {**params, "payment_method_token": default}
    card, token = vault.resolve(call, params, PATH)
    if token is not None:
        customer_id = call.store.payment_methods[token]["customer_id"]
    status, code, rejection = _outcome(card, cents, options)
    txn = _new(
        call,
        kind="sale",
        cents=cents,
        card=card,
        currency=call.merchant_accounts[account],
        merchant_account_id=account,
        order_id=order_id,
        customer_id=customer_id,
        payment_method_token=token,
        processor_response_code=code,
        gateway_rejection_reason=rejection,
        three_d_secure_id=random_id(20) if card.get("three_d_secure") else None,
    )
    _history(txn, status, call.now)
    if status != "authorized":
        message = (
            f"Gateway Rejected: {rejection}" if rejection else cards.response(code or "2000")[0]
        )
        raise ValidationError([], message=message, transaction=_render(call, txn)[1])
    txn["authorization_code"] = random_id(6, "0123456789")
    txn["network_transaction_id"] = random_id(15, "0123456789")
    txn["authorization_expires_at"] = call.now + AUTHORIZATION_SECONDS
    if flag(options, "store_in_vault") or flag(options, "store_in_vault_on_success"):
        if customer_id is None:
            customer_id = _new_customer_for(call, section(params, "customer", PATH))
            txn["customer_id"] = customer_id
        if token is None:
            txn["payment_method_token"] = vault.vault(call, customer_id, card)["token"]
    if flag(options, "submit_for_settlement"):
        _history(txn, "submitted_for_settlement", call.now)
    return _render(call, txn)


def _new_customer_for(call: Call, details: JSON) -> str:
    customer_id = call.store.new_id("customers", 9)
    call.store.customers[customer_id] = {
        "id": customer_id,
        **{
            name: text(details, name, ("transaction", "customer"))
            for name in ("first_name", "last_name", "email", "company", "phone", "website")
        },
        "created_at": call.now,
        "updated_at": call.now,
        "payment_method_tokens": [],
    }
    return customer_id


def get(call: Call) -> JSON:
    txn = call.store.transactions.get(call.args[0])
    if txn is None:
        raise not_found("transaction", call.args[0])
    return txn


def find(call: Call) -> tuple[str, Any]:
    return _render(call, get(call))


def submit_for_settlement(call: Call) -> tuple[str, Any]:
    txn = get(call)
    params = call.section("transaction")
    cents = amount(params.get("amount"), PATH, required=False)
    if txn["status"] != "authorized":
        raise invalid(
            PATH,
            "base",
            errors.CANNOT_SUBMIT_FOR_SETTLEMENT,
            "Cannot submit for settlement unless status is authorized.",
        )
    if cents is not None and cents > txn["amount_cents"]:
        raise invalid(
            PATH,
            "amount",
            errors.SETTLEMENT_AMOUNT_IS_TOO_LARGE,
            "Settlement amount cannot be more than the authorized amount.",
        )
    order_id = text(params, "order_id", PATH, code=errors.ORDER_ID_IS_TOO_LONG)
    if order_id is not None:
        txn["order_id"] = order_id
    if cents is not None:
        txn["amount_cents"] = cents  # a partial capture: the rest of the hold is released
    _history(txn, "submitted_for_settlement", call.now)
    return _render(call, txn)


def submit_for_partial_settlement(call: Call) -> tuple[str, Any]:
    get(call)
    raise invalid(
        PATH,
        "base",
        errors.PROCESSOR_DOES_NOT_SUPPORT_PARTIAL_SETTLEMENT,
        "Processor does not support multiple partial settlements (sandbox: submit a lower "
        "amount with submit_for_settlement).",
    )


def void(call: Call) -> tuple[str, Any]:
    txn = get(call)
    if txn["status"] not in VOIDABLE:
        raise invalid(
            PATH,
            "base",
            errors.CANNOT_BE_VOIDED,
            "Transaction can only be voided if status is authorized, submitted_for_settlement, "
            "or settlement_pending.",
        )
    _history(txn, "voided", call.now)
    return _render(call, txn)


def refunded_cents(store: BraintreeStore, txn: JSON) -> int:
    return sum(
        store.transactions[refund_id]["amount_cents"]
        for refund_id in txn["refund_ids"]
        if store.transactions[refund_id]["status"] not in ("voided", "settlement_declined")
    )


def refund(call: Call) -> tuple[str, Any]:
    txn = get(call)
    params = call.section("transaction")
    cents = amount(params.get("amount"), PATH, required=False)
    order_id = text(params, "order_id", PATH, code=errors.ORDER_ID_IS_TOO_LONG)
    if txn["type"] == "credit":
        raise invalid(PATH, "base", errors.CANNOT_REFUND_CREDIT, "Cannot refund a credit.")
    if txn["status"] not in REFUNDABLE:
        raise invalid(
            PATH,
            "base",
            errors.CANNOT_REFUND_UNLESS_SETTLED,
            "Cannot refund transaction unless it is settled.",
        )
    left = txn["amount_cents"] - refunded_cents(call.store, txn)
    if left <= 0:
        raise invalid(
            PATH,
            "base",
            errors.HAS_ALREADY_BEEN_REFUNDED,
            "Transaction has already been fully refunded.",
        )
    if cents is not None and cents > left:
        raise invalid(
            PATH,
            "amount",
            errors.REFUND_AMOUNT_IS_TOO_LARGE,
            "Refund amount is too large.",
        )
    credit = _new(
        call,
        kind="credit",
        cents=cents if cents is not None else left,
        card=dict(txn["card"]),
        currency=txn["currency"],
        merchant_account_id=txn["merchant_account_id"],
        order_id=order_id or txn.get("order_id"),
        customer_id=txn.get("customer_id"),
        payment_method_token=txn.get("payment_method_token"),
        processor_response_code="1000",
        refunded_transaction_id=txn["id"],
    )
    _history(credit, "submitted_for_settlement", call.now)
    txn["refund_ids"].append(credit["id"])
    txn["updated_at"] = call.now
    return _render(call, credit)


# --- settlement ------------------------------------------------------------------------------
def _settle(store: BraintreeStore, txn: JSON, now: float, emit: Emit) -> None:
    """settling -> settled (or settlement_declined for Braintree's 4001.00 amount)."""
    if txn["amount_cents"] == cards.SETTLEMENT_DECLINED_CENTS:
        _history(txn, "settlement_declined", now)
        txn["processor_settlement_response_code"] = "4001"
        emit("transaction_settlement_declined", "transaction", txn["id"])
        return
    _history(txn, "settled", now)
    txn["settlement_batch_id"] = f"{render.day(now)}_ledgerline_sandbox"
    emit("transaction_settled", "transaction", txn["id"])
    if txn["type"] == "sale" and txn["card"]["behaviour"] == "dispute":
        disputes.open_dispute(store, txn, now, emit)


def _start_settling(txn: JSON, now: float) -> bool:
    if txn["type"] == "sale" and txn["amount_cents"] == cards.SETTLEMENT_PENDING_CENTS:
        if txn["status"] != "settlement_pending":
            _history(txn, "settlement_pending", now)
        return False
    _history(txn, "settling", now)
    return True


def tick(store: BraintreeStore, now: float, emit: Emit) -> list[str]:
    """Apply every clock-driven transition that is due; returns the ids that changed."""
    changed = []
    for txn in list(store.transactions.values()):
        status = txn["status"]
        submitted = txn.get("submitted_for_settlement_at") or 0.0
        if status == "authorized" and txn.get("authorization_expires_at", now + 1) <= now:
            _history(txn, "authorization_expired", now)
        elif status == "submitted_for_settlement" and submitted + SETTLING_SECONDS <= now:
            if _start_settling(txn, now) and submitted + SETTLED_SECONDS <= now:
                _settle(store, txn, now, emit)
        elif status == "settling" and submitted + SETTLED_SECONDS <= now:
            _settle(store, txn, now, emit)
        else:
            continue
        changed.append(txn["id"])
    disburse(store, now, emit, force=False)
    return changed


def disburse(store: BraintreeStore, now: float, emit: Emit, *, force: bool) -> list[str]:
    """Pay out settled transactions a day after settlement (or all at once when `force`):
    one disbursement per merchant account, net of refunds, with a `disbursement` notification."""
    due: dict[str, list[JSON]] = {}
    for txn in store.transactions.values():
        settled = txn.get("settled_at")
        if txn["status"] != "settled" or txn.get("disbursed_at") or settled is None:
            continue
        if force or settled + DISBURSE_SECONDS <= now:
            due.setdefault(txn["merchant_account_id"], []).append(txn)
    created = []
    for account, batch in due.items():
        net = sum(t["amount_cents"] * (1 if t["type"] == "sale" else -1) for t in batch)
        disbursement_id = store.new_id("disbursements", 16)
        store.disbursements[disbursement_id] = {
            "id": disbursement_id,
            "merchant_account_id": account,
            "currency": batch[0]["currency"],
            "amount_cents": net,
            "transaction_ids": [t["id"] for t in batch],
            "at": now,
        }
        for txn in batch:
            txn["disbursed_at"] = now
        emit("disbursement", "disbursement", disbursement_id)
        created.append(disbursement_id)
    return created


def testing(call: Call) -> tuple[str, Any]:
    """The SDK's TestingGateway: PUT /transactions/{id}/settle (or settlement_confirm,
    settlement_decline, settlement_pending)."""
    txn = get(call)
    action = call.args[1]
    if txn["status"] not in ("submitted_for_settlement", "settling", "settlement_pending"):
        raise invalid(
            PATH,
            "base",
            errors.CANNOT_SIMULATE_SETTLEMENT,
            "Cannot simulate transaction settlement unless it is submitted for settlement.",
        )
    if action in ("settle", "settlement_confirm"):
        if txn["status"] == "submitted_for_settlement":
            _history(txn, "settling", call.now)
        _settle(call.store, txn, call.now, call.emit)
    elif action == "settlement_decline":
        _history(txn, "settlement_declined", call.now)
        call.emit("transaction_settlement_declined", "transaction", txn["id"])
    else:
        _history(txn, "settlement_pending", call.now)
    return _render(call, txn)


# --- search ----------------------------------------------------------------------------------
def _fields(store: BraintreeStore, txn: JSON) -> Fields:
    customer = store.customers.get(txn.get("customer_id") or "", {})
    card = txn["card"]
    fields: Fields = {
        "id": ("text", txn["id"]),
        "ids": ("multi", txn["id"]),
        "order_id": ("text", txn.get("order_id")),
        "customer_id": ("text", txn.get("customer_id")),
        "customer_email": ("text", customer.get("email")),
        "customer_first_name": ("text", customer.get("first_name")),
        "customer_last_name": ("text", customer.get("last_name")),
        "payment_method_token": ("text", txn.get("payment_method_token")),
        "currency": ("text", txn["currency"]),
        "credit_card_number": ("text", card["bin"] + "******" + card["last_4"]),
        "credit_card_card_type": ("multi", card["card_type"]),
        "settlement_batch_id": ("text", txn.get("settlement_batch_id")),
        "status": ("multi", txn["status"]),
        "type": ("multi", txn["type"]),
        "merchant_account_id": ("multi", txn["merchant_account_id"]),
        "payment_instrument_type": ("multi", "credit_card"),
        "amount": ("range", txn["amount_cents"]),
        "created_at": ("range", txn["created_at"]),
        "disbursement_date": ("range", txn.get("disbursed_at")),
        "dispute_date": (
            "range",
            store.disputes[txn["dispute_ids"][0]]["created_at"] if txn["dispute_ids"] else None,
        ),
    }
    for status in (
        "authorized",
        "authorization_expired",
        "failed",
        "gateway_rejected",
        "processor_declined",
        "settled",
        "submitted_for_settlement",
        "voided",
    ):
        fields[f"{status}_at"] = ("range", txn.get(f"{status}_at"))
    return fields


def _matching(call: Call) -> list[JSON]:
    criteria = criteria_of(call.body)
    found = [
        txn
        for txn in sorted(call.store.transactions.values(), key=lambda t: t["created_at"])
        if matches(criteria, _fields(call.store, txn))
    ]
    return found[:MAX_RESULTS]


def search_ids(call: Call) -> tuple[str, Any]:
    ids = [txn["id"] for txn in _matching(call)]
    return "search_results", {"page_size": PAGE_SIZE, "ids": ids}


def search(call: Call) -> tuple[str, Any]:
    found = _matching(call)[:PAGE_SIZE]
    return "credit_card_transactions", Collection(
        "transaction",
        render.page_fields(len(found), PAGE_SIZE),
        [render.transaction(call.store, txn, now=call.now) for txn in found],
    )
