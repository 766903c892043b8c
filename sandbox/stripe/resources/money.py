"""Charges and refunds: where money actually moves (each writes its balance transaction).

Refunds are limited by what was captured and not yet refunded (`amount - amount_refunded`,
since an uncaptured remainder released at capture counts as refunded, as at Stripe).

A direct charge on a connected account with `application_fee_amount` pays that fee to the
platform when it is captured (capped at the amount captured): an `application_fee` object in
the platform's scope, and the fee inside the connected account's charge balance transaction.
A refund leaves the application fee with the platform, Stripe's default; refunding it with
the refund (`refund_application_fee=true`) is not modelled and is refused, never ignored.
"""

from __future__ import annotations

import hashlib

from sandbox.stripe.cards import Decline, TestCard
from sandbox.stripe.context import Ctx, Route, get, merge_metadata, post
from sandbox.stripe.errors import invalid, validation
from sandbox.stripe.params import EXPAND, LIST_PARAMS, Enum, Int, Loose, Metadata, Str, in_range
from sandbox.stripe.resources.ledger import ach_fee, add_transaction, card_fee
from sandbox.stripe.store import JSON, random_id

ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


def format_amount(amount: int, currency: str) -> str:
    """Human form for messages (`$12.34`); amounts themselves stay integers."""
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}"
    units, cents = divmod(abs(amount), 100)
    sign = "-" if amount < 0 else ""
    return (
        f"{sign}${units}.{cents:02d}"
        if currency == "usd"
        else f"{sign}{units}.{cents:02d} {currency}"
    )


def _is_ach(charge: JSON) -> bool:
    return bool(charge["payment_method_details"]["type"] == "us_bank_account")


def charge_create(
    ctx: Ctx,
    pi: JSON,
    pm: JSON,
    *,
    card: TestCard,
    decline: Decline | None,
    status: str,
    captured: bool,
) -> JSON:
    succeeded = status == "succeeded"
    outcome = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network" if decline else "approved_by_network",
        "reason": decline.decline_code if decline else None,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": "The bank did not return any further details with this decline."
        if decline
        else "Payment complete.",
        "type": "issuer_declined" if decline else "authorized",
    }
    card_json = pm["card"]
    details = {
        "card": {
            "amount_authorized": pi["amount"] if succeeded else None,
            "authorization_code": "123456" if succeeded else None,
            "brand": card.brand,
            "checks": card_json["checks"],
            "country": card.country,
            "exp_month": card_json["exp_month"],
            "exp_year": card_json["exp_year"],
            "fingerprint": card_json["fingerprint"],
            "funding": card.funding,
            "installments": None,
            "last4": card_json["last4"],
            "mandate": None,
            "network": card.brand,
            "network_token": {"used": False},
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }
    return charge_add(
        ctx,
        pi,
        payment_method=pm["id"],
        billing_details=pm["billing_details"],
        payment_method_details=details,
        outcome=outcome,
        status=status,
        captured=captured,
        failure=(decline.code, decline.message) if decline else None,
        bypass_pending=card.bypass_pending,
    )


def charge_add(
    ctx: Ctx,
    pi: JSON,
    *,
    payment_method: str,
    billing_details: JSON,
    payment_method_details: JSON,
    outcome: JSON,
    status: str,
    captured: bool,
    failure: tuple[str, str] | None,
    bypass_pending: bool = False,
) -> JSON:
    """Record a charge for `pi` (any payment method type); a captured one enters the balance.

    `bypass_pending`: its funds are available at once (Stripe's 4000000000000077)."""
    succeeded = status == "succeeded"
    charge = {
        "id": random_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if captured and succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi.get("application_fee_amount"),
        "balance_transaction": None,
        "billing_details": billing_details,
        "calculated_statement_descriptor": "LEDGERLINE SANDBOX",
        "captured": captured and succeeded,
        "created": ctx.now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "destination": None,
        "dispute": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure[0] if failure else None,
        "failure_message": failure[1] if failure else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": pi["on_behalf_of"],
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": payment_method,
        "payment_method_details": payment_method_details,
        "radar_options": {},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": status,
        "transfer_data": pi["transfer_data"],
        "transfer_group": pi["transfer_group"],
    }
    ctx.store.add(charge, ctx.account)
    if bypass_pending:
        ctx.store.private_of(charge["id"])["bypass_pending"] = True
    if charge["captured"]:
        settle_capture(ctx, charge, pi["amount"])
    return charge


def funds_arrived(ctx: Ctx, pi: JSON) -> JSON:
    """A `processing` intent's money arrived: its pending charge succeeds and is captured."""
    charge = ctx.store.get(pi["latest_charge"], ctx.account, "charge")
    pi["processing"] = None
    charge.update({"status": "succeeded", "paid": True})
    settle_capture(ctx, charge, charge["amount"])
    pi["status"] = "succeeded"
    pi["amount_received"] = pi["amount"]
    ctx.emit("charge.succeeded", charge)
    ctx.emit("payment_intent.succeeded", pi)
    return pi


def application_id(platform: str) -> str:
    """The platform's Connect application (`ca_`), deterministic like its account id."""
    return "ca_" + hashlib.sha256(f"application:{platform}".encode()).hexdigest()[:24].upper()


def _application_fee_add(ctx: Ctx, charge: JSON, fee: int) -> JSON:
    """The platform's ApplicationFee for a captured direct charge, in the platform's scope."""
    fee_object: JSON = {
        "id": random_id("fee"),
        "object": "application_fee",
        "account": ctx.account,
        "amount": fee,
        "amount_refunded": 0,
        "application": application_id(ctx.auth.platform),
        "balance_transaction": None,
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "fee_source": {"charge": charge["id"], "type": "charge"},
        "livemode": False,
        "originating_transaction": None,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": "/v1/application_fees/fee/refunds",
        },
    }
    fee_object["refunds"]["url"] = f"/v1/application_fees/{fee_object['id']}/refunds"
    ctx.store.add(fee_object, ctx.auth.platform)
    return fee_object


def settle_capture(ctx: Ctx, charge: JSON, amount: int) -> None:
    """Record the captured amount in the balance; the uncaptured rest is released (refunded).

    A direct charge's application fee (capped at `amount`) goes to the platform out of it."""
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["amount_refunded"] = charge["amount"] - amount
    ach = _is_ach(charge)
    application_fee = 0
    if ctx.auth.connected and charge.get("application_fee_amount"):
        application_fee = min(int(charge["application_fee_amount"]), amount)
        charge["application_fee_amount"] = application_fee
        charge["application_fee"] = _application_fee_add(ctx, charge, application_fee)["id"]
        charge["application"] = application_id(ctx.auth.platform)
    txn = add_transaction(
        ctx,
        amount=amount,
        application_fee=application_fee,
        application=application_id(ctx.auth.platform) if application_fee else None,
        fee=ach_fee(amount) if ach else card_fee(amount),
        currency=charge["currency"],
        source=charge["id"],
        # Stripe books PaymentIntent bank debits as `payment`, card charges as `charge`.
        kind="payment" if ach else "charge",
        category="charge",
        description=charge["description"],
        source_type="bank_account" if ach else "card",
        available_now=bool(ctx.store.private_of(charge["id"]).get("bypass_pending")),
    )
    charge["balance_transaction"] = txn["id"]


def application_fee_retrieve(ctx: Ctx) -> JSON:
    """The platform's ApplicationFee (only the platform, not the connected account, sees it)."""
    return ctx.store.get(ctx.args[0], ctx.account, "application_fee")


def application_fee_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("application_fee", ctx.account)
    if ctx.params.get("charge"):
        items = [f for f in items if f["charge"] == ctx.params["charge"]]
    return ctx.store.page(items, ctx.params, "/v1/application_fees")


def charge_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "charge")


def charge_update(ctx: Ctx) -> JSON:
    charge = ctx.store.get(ctx.args[0], ctx.account, "charge")
    previous: JSON = {}
    if "description" in ctx.params:
        previous["description"] = charge["description"]
        charge["description"] = ctx.params["description"]
    if "metadata" in ctx.params:
        previous["metadata"] = charge["metadata"]
        charge["metadata"] = merge_metadata(charge["metadata"], ctx.params["metadata"])
    ctx.emit("charge.updated", charge, previous=previous)
    return charge


def charge_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("charge", ctx.account)
    for name in ("payment_intent", "customer"):
        if ctx.params.get(name):
            items = [c for c in items if c[name] == ctx.params[name]]
    if ctx.params.get("created"):
        items = [c for c in items if in_range(c["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/charges")


# --- refunds ---------------------------------------------------------------------------------
REFUND_CREATE = {
    "charge": Str(),
    "payment_intent": Str(),
    "amount": Int(minimum=1),
    "reason": Enum("duplicate", "fraudulent", "requested_by_customer"),
    "metadata": Metadata(),
    "instructions_email": Str(),
    "refund_application_fee": Loose(),
    "reverse_transfer": Loose(),
    "expand": EXPAND,
}


def _refund_target(ctx: Ctx) -> JSON:
    charge_id, pi_id = ctx.params.get("charge"), ctx.params.get("payment_intent")
    if bool(charge_id) == bool(pi_id):
        raise validation(
            "One of the following params should be provided for this request: payment_intent "
            "or charge."
        )
    if charge_id:
        return ctx.store.get(charge_id, ctx.account, "charge", "charge")
    pi = ctx.store.get(pi_id or "", ctx.account, "payment_intent", "payment_intent")
    if pi["status"] != "succeeded" or not pi["latest_charge"]:
        raise invalid(
            f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return ctx.store.get(pi["latest_charge"], ctx.account, "charge", "payment_intent")


def refund_create(ctx: Ctx) -> JSON:
    if ctx.params.get("refund_application_fee") in (True, "true"):
        raise validation(
            "The sandbox does not refund application fees: it keeps Stripe's default, the "
            "platform keeps the fee of a refunded charge (refund_application_fee=false).",
            param="refund_application_fee",
        )
    charge = _refund_target(ctx)
    if charge["status"] != "succeeded":
        raise invalid(
            f"Charge {charge['id']} has not succeeded; it cannot be refunded.",
            param="charge",
            code="charge_not_refundable",
        )
    if not charge["captured"]:
        raise invalid(
            f"Charge {charge['id']} has not been captured; cancel its PaymentIntent instead "
            "of refunding it.",
            param="charge",
            code="charge_not_refundable",
        )
    if charge["disputed"]:
        raise invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    refundable = charge["amount"] - charge["amount_refunded"]
    if refundable <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = ctx.params.get("amount") or refundable
    if amount > refundable:
        raise invalid(
            f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
            "unrefunded "
            f"amount on charge ({format_amount(refundable, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    refund_id = random_id("re")
    ach = _is_ach(charge)
    txn = add_transaction(
        ctx,
        amount=-amount,
        fee=0,  # Stripe keeps the processing fee of a refunded payment
        currency=charge["currency"],
        source=refund_id,
        kind="payment_refund" if ach else "refund",
        category="refund",
        description="REFUND FOR PAYMENT" if ach else "REFUND FOR CHARGE",
        source_type="bank_account" if ach else "card",
    )
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": ctx.params.get("metadata") or {},
        "payment_intent": charge["payment_intent"],
        "reason": ctx.params.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    ctx.store.add(refund, ctx.account)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    ctx.emit("refund.created", refund)
    ctx.emit("charge.refunded", charge, previous=previous)
    return refund


def refund_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "refund")


def refund_update(ctx: Ctx) -> JSON:
    refund = ctx.store.get(ctx.args[0], ctx.account, "refund")
    if "metadata" in ctx.params:
        refund["metadata"] = merge_metadata(refund["metadata"], ctx.params["metadata"])
    ctx.emit("refund.updated", refund)
    return refund


def refund_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("refund", ctx.account)
    for name in ("charge", "payment_intent"):
        if ctx.params.get(name):
            items = [r for r in items if r[name] == ctx.params[name]]
    return ctx.store.page(items, ctx.params, "/v1/refunds")


ROUTES: list[Route] = [
    get("/v1/application_fees", {**LIST_PARAMS, "charge": Str()}, application_fee_list),
    get("/v1/application_fees/{id}", {"expand": EXPAND}, application_fee_retrieve),
    get("/v1/charges", {**LIST_PARAMS, "payment_intent": Str(), "customer": Str()}, charge_list),
    get("/v1/charges/{id}", {"expand": EXPAND}, charge_retrieve),
    post(
        "/v1/charges/{id}",
        {"description": Str(), "metadata": Metadata(), "expand": EXPAND},
        charge_update,
    ),
    post("/v1/refunds", REFUND_CREATE, refund_create),
    get("/v1/refunds", {**LIST_PARAMS, "charge": Str(), "payment_intent": Str()}, refund_list),
    get("/v1/refunds/{id}", {"expand": EXPAND}, refund_retrieve),
    post("/v1/refunds/{id}", {"metadata": Metadata(), "expand": EXPAND}, refund_update),
]
