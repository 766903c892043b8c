"""ACH Direct Debit: bank-account sources from `btok_` tokens, mandates, asynchronous settlement.

A customer's bank account is created from a token (`POST /v1/customers/{id}/sources`): one of
Stripe's `btok_us_verified*` test tokens or a `btok_` the sandbox's Plaid issued for a verified
account. It is used as a PaymentIntent's `payment_method` with `payment_method_types:
["us_bank_account"]`, as Stripe documents for bank accounts saved through the Tokens API: the
first confirmation needs `mandate_data`, which creates a multi-use mandate for that account.
A confirmed debit is `processing` (charge `pending`) until it settles: on its own once the
sandbox clock passes `SETTLEMENT_SECONDS` (applied on the next API call or `POST
/_sandbox/stripe/tick`) or at once through the control API. Settlement succeeds or fails with
the account's ACH return (R01 insufficient funds, ...), with the matching events.
"""

from __future__ import annotations

import copy

from sandbox.stripe.banks import (
    SETTLEMENT_SECONDS,
    TEST_ROUTING,
    TEST_TOKENS,
    AchOutcome,
    bank_fingerprint,
    outcome_for,
    outcome_named,
)
from sandbox.stripe.context import Ctx, Route, get, post
from sandbox.stripe.errors import invalid, missing, validation
from sandbox.stripe.params import EXPAND, LIST_PARAMS, Enum, Metadata, Str
from sandbox.stripe.resources.money import charge_add, funds_arrived
from sandbox.stripe.store import JSON, StripeStore, random_id

ACH = "us_bank_account"


# --- bank-account sources --------------------------------------------------------------------


def _token_facts(ctx: Ctx, token: str) -> JSON:
    if token in TEST_TOKENS:
        return {
            "routing_number": TEST_ROUTING,
            "account_number": TEST_TOKENS[token],
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "account_holder_name": "Jenny Rosen",
        }
    facts = ctx.bank_tokens(token) if token.startswith("btok_") else None
    if facts is None:
        raise invalid(f"No such token: '{token}'", param="source", code="resource_missing")
    if facts.get("used"):
        raise invalid(
            f"You cannot use a Stripe token more than once: {token}.",
            param="source",
            code="token_already_used",
        )
    return facts


def bank_account_json(*, facts: JSON, customer: str | None, metadata: JSON, object_id: str) -> JSON:
    """A `bank_account` as Stripe shows it: last 4, routing number, fingerprint; no number."""
    number = str(facts["account_number"])
    return {
        "id": object_id,
        "object": "bank_account",
        "account_holder_name": facts.get("account_holder_name"),
        "account_holder_type": "individual",
        "account_type": facts.get("account_type") or "checking",
        "bank_name": facts.get("bank_name"),
        "country": "US",
        "currency": "usd",
        "customer": customer,
        "fingerprint": bank_fingerprint(facts["routing_number"], number),
        "last4": number[-4:],
        "metadata": metadata,
        "routing_number": facts["routing_number"],
        # A token from a verified Plaid account (or a btok_us_verified* token) is verified.
        "status": "verified",
    }


def customer_source_create(ctx: Ctx) -> JSON:
    customer = _live_customer(ctx, ctx.args[0])
    facts = _token_facts(ctx, ctx.params["source"])
    outcome = outcome_for(str(facts["account_number"]))
    bank = bank_account_json(
        facts=facts,
        customer=customer["id"],
        metadata=ctx.params.get("metadata") or {},
        object_id=random_id("ba"),
    )
    ctx.store.add(bank, ctx.account)
    ctx.store.private_of(bank["id"])["ach_failure"] = outcome.failure_code
    ctx.emit("customer.source.created", bank)
    if customer.get("default_source") is None:
        customer["default_source"] = bank["id"]
        ctx.emit("customer.updated", customer, previous={"default_source": None})
    return bank


def _live_customer(ctx: Ctx, customer_id: str) -> JSON:
    customer = ctx.store.get(customer_id, ctx.account, "customer", "customer")
    if customer.get("deleted"):
        raise missing("customer", customer_id, "customer")
    return customer


def _source(ctx: Ctx, customer_id: str, source_id: str) -> JSON:
    bank = ctx.store.find(source_id, ctx.account, "bank_account")
    if bank is None or bank["customer"] != customer_id:
        raise missing("source", source_id)
    return bank


def customer_source_retrieve(ctx: Ctx) -> JSON:
    _live_customer(ctx, ctx.args[0])
    return _source(ctx, ctx.args[0], ctx.args[1])


def customer_source_list(ctx: Ctx) -> JSON:
    customer = _live_customer(ctx, ctx.args[0])
    items = [
        bank
        for bank in ctx.store.items("bank_account", ctx.account)
        if bank["customer"] == customer["id"]
    ]
    return ctx.store.page(items, ctx.params, f"/v1/customers/{customer['id']}/sources")


# --- debits ----------------------------------------------------------------------------------


def resolve_bank_payment_method(ctx: Ctx, pi: JSON, pm_id: str) -> JSON:
    """The bank account a us_bank_account PaymentIntent debits: a `ba_` source of the intent's
    customer or a `us_bank_account` PaymentMethod (from a SetupIntent)."""
    if pm_id.startswith("ba_"):
        bank = ctx.store.find(pm_id, ctx.account, "bank_account")
        if bank is None:
            raise missing("payment_method", pm_id, "payment_method")
        if pi["customer"] is None or bank["customer"] != pi["customer"]:
            raise invalid(
                "A bank account used as a payment_method must belong to the PaymentIntent's "
                "customer: pass `customer`.",
                param="customer",
            )
        return bank
    pm = ctx.store.get(pm_id, ctx.account, "payment_method", "payment_method")
    if pm["type"] != ACH:
        raise invalid(
            f"The PaymentMethod {pm_id} is of type {pm['type']}, which is not among this "
            f"PaymentIntent's payment_method_types ({ACH}).",
            param="payment_method",
            code="payment_intent_incompatible_payment_method",
        )
    if pm.get("us_bank_account", {}).get("status_details", {}).get("blocked"):
        raise invalid("This bank account is blocked.", param="payment_method")
    return pm


def _bank_details(method: JSON) -> JSON:
    """Last 4, routing number and the rest, from a `bank_account` or a us_bank_account PM."""
    if method["object"] == "bank_account":
        return method
    details: JSON = method[ACH]
    return details


def _mandate_for(ctx: Ctx, method_id: str) -> JSON | None:
    for mandate in ctx.store.items("mandate", ctx.account):
        if mandate["payment_method"] == method_id and mandate["status"] == "active":
            return mandate
    return None


def mandate_create(ctx: Ctx, method_id: str, acceptance: JSON) -> JSON:
    """A multi-use ACH mandate from `mandate_data[customer_acceptance]` as sent."""
    kind = acceptance.get("type")
    if kind not in ("online", "offline"):
        raise validation(
            "Invalid mandate_data[customer_acceptance][type]: must be one of online, offline",
            param="mandate_data[customer_acceptance][type]",
        )
    online = acceptance.get("online") or {}
    if kind == "online" and not (online.get("ip_address") and online.get("user_agent")):
        raise validation(
            "Missing required param: mandate_data[customer_acceptance][online][ip_address] and "
            "[user_agent].",
            param="mandate_data[customer_acceptance][online]",
            code="parameter_missing",
        )
    mandate = {
        "id": random_id("mandate"),
        "object": "mandate",
        "customer_acceptance": {
            "accepted_at": ctx.now,
            "offline": {} if kind == "offline" else None,
            "online": (
                {"ip_address": online["ip_address"], "user_agent": online["user_agent"]}
                if kind == "online"
                else None
            ),
            "type": kind,
        },
        "livemode": False,
        "multi_use": {},
        "on_behalf_of": None,
        "payment_method": method_id,
        "payment_method_details": {ACH: {"collection_method": "paper"}, "type": ACH},
        "status": "active",
        "type": "multi_use",
    }
    ctx.store.add(mandate, ctx.account)
    return mandate


def _mandate(ctx: Ctx, method_id: str) -> JSON:
    acceptance = (ctx.params.get("mandate_data") or {}).get("customer_acceptance")
    if isinstance(acceptance, dict):
        return mandate_create(ctx, method_id, acceptance)
    existing = _mandate_for(ctx, method_id)
    if existing is None:
        raise invalid(
            "A mandate is required to debit this bank account: confirm with "
            "mandate_data[customer_acceptance] the first time it is used.",
            param="mandate_data",
            code="mandate_required",
        )
    return existing


def ach_confirm(ctx: Ctx, pi: JSON, method: JSON) -> JSON:
    """Start a debit: a pending charge under a mandate; the bank answers at settlement."""
    if pi["currency"] != "usd":
        raise invalid(
            f"The currency provided ({pi['currency']}) is invalid. Payments with "
            "us_bank_account support the following currencies: usd.",
            param="currency",
            code="payment_intent_invalid_currency",
        )
    mandate = _mandate(ctx, method["id"])
    bank = _bank_details(method)
    details = {
        ACH: {
            "account_holder_type": bank.get("account_holder_type") or "individual",
            "account_type": bank.get("account_type") or "checking",
            "bank_name": bank.get("bank_name"),
            "fingerprint": bank.get("fingerprint"),
            "last4": bank.get("last4"),
            "mandate": mandate["id"],
            "payment_reference": None,
            "routing_number": bank.get("routing_number"),
        },
        "type": ACH,
    }
    billing = method.get("billing_details") or {
        "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
        "email": None,
        "name": method.get("account_holder_name"),
        "phone": None,
        "tax_id": None,
    }
    charge = charge_add(
        ctx,
        pi,
        payment_method=method["id"],
        billing_details=billing,
        payment_method_details=details,
        outcome={
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "not_assessed",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        status="pending",
        captured=False,
        failure=None,
    )
    private = ctx.store.private_of(pi["id"])
    private["ach_due_at"] = ctx.now + SETTLEMENT_SECONDS
    private["ach_failure"] = ctx.store.private_of(method["id"]).get("ach_failure")
    pi["latest_charge"] = charge["id"]
    pi["status"] = "processing"
    pi["processing"] = None  # Stripe details `processing` for cards only
    ctx.emit("charge.pending", charge)
    ctx.emit("payment_intent.processing", pi)
    return pi


def ach_settle(ctx: Ctx, pi: JSON, outcome: AchOutcome) -> JSON:
    """The bank's answer for a processing debit: funds arrive, or the debit is returned."""
    ctx.store.private_of(pi["id"]).pop("ach_due_at", None)
    if outcome.failure_code is None:
        return funds_arrived(ctx, pi)
    charge = ctx.store.get(pi["latest_charge"], ctx.account, "charge")
    charge.update(
        {
            "status": "failed",
            "failure_code": outcome.failure_code,
            "failure_message": outcome.message,
        }
    )
    charge["outcome"] = {
        **charge["outcome"],
        "network_status": "declined_by_network",
        "reason": outcome.return_code,
        "type": "issuer_declined",
        "seller_message": outcome.message,
    }
    method = ctx.store.objects.get(pi["payment_method"] or "")
    pi["last_payment_error"] = {
        "charge": charge["id"],
        "code": outcome.failure_code,
        "decline_code": None,
        "doc_url": f"https://stripe.com/docs/error-codes/{outcome.failure_code}",
        "message": outcome.message,
        "payment_method": copy.deepcopy(method) if method else None,
        "type": "invalid_request_error",
    }
    pi["payment_method"] = None
    pi["status"] = "requires_payment_method"
    ctx.emit("charge.failed", charge)
    ctx.emit("payment_intent.payment_failed", pi)
    return pi


def ach_outcome(ctx: Ctx, pi: JSON, succeeded: bool | None) -> AchOutcome:
    """The account's own outcome, or the one a control call forces (failed: R01 by default)."""
    own = outcome_named(ctx.store.private_of(pi["id"]).get("ach_failure"))
    if succeeded is None:
        return own
    if succeeded:
        return AchOutcome()
    return own if own.failure_code else outcome_for("000222222227")


def due_debits(store: StripeStore, now: int) -> list[str]:
    """Ids of processing ACH debits whose settlement time has passed on the sandbox clock."""
    with store.lock:
        return [
            object_id
            for object_id, private in store.private.items()
            if private.get("ach_due_at") is not None
            and private["ach_due_at"] <= now
            and store.objects.get(object_id, {}).get("status") == "processing"
        ]


SOURCE_CREATE = {"source": Str(required=True), "metadata": Metadata(), "expand": EXPAND}
ROUTES: list[Route] = [
    post("/v1/customers/{id}/sources", SOURCE_CREATE, customer_source_create),
    get(
        "/v1/customers/{id}/sources",
        {**LIST_PARAMS, "object": Enum("bank_account")},
        customer_source_list,
    ),
    get("/v1/customers/{id}/sources/{source}", {"expand": EXPAND}, customer_source_retrieve),
]
