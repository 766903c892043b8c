"""Charges, refunds, disputes and balance transactions: where money actually moves.

Refunds are limited by what was captured and not yet refunded (`amount - amount_refunded`,
since an uncaptured remainder released at capture counts as refunded, as at Stripe).
"""

from __future__ import annotations

from sandbox.stripe.cards import Decline, TestCard
from sandbox.stripe.context import Ctx, Route, get, merge_metadata, post
from sandbox.stripe.errors import invalid, validation
from sandbox.stripe.params import (
    EXPAND,
    LIST_PARAMS,
    Bool,
    Enum,
    Int,
    Loose,
    Metadata,
    Str,
    in_range,
)
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
DISPUTE_FEE = 1500
DAY = 24 * 3600


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


def stripe_fee(amount: int) -> int:
    """2.9% + 30 in minor units, rounded half up with integer arithmetic only."""
    return (amount * 29 + 500) // 1000 + 30


def balance_transaction(
    ctx: Ctx,
    *,
    amount: int,
    fee: int,
    currency: str,
    source: str,
    kind: str,
    category: str,
    description: str | None,
) -> JSON:
    fee_details = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    txn = {
        "id": random_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": ctx.now + 2 * DAY,
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
        "status": "pending",
        "type": kind,
    }
    return ctx.store.add(txn, ctx.account)


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
) -> JSON:
    """Record a charge for `pi` (any payment method type); a captured one enters the balance."""
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


def settle_capture(ctx: Ctx, charge: JSON, amount: int) -> None:
    """Record the captured amount in the balance; the uncaptured rest is released (refunded)."""
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["amount_refunded"] = charge["amount"] - amount
    txn = balance_transaction(
        ctx,
        amount=amount,
        fee=stripe_fee(amount),
        currency=charge["currency"],
        source=charge["id"],
        kind="charge",
        category="charge",
        description=charge["description"],
    )
    charge["balance_transaction"] = txn["id"]


def dispute_create(ctx: Ctx, charge: JSON, reason: str = "fraudulent") -> JSON:
    dispute_id = random_id("du")
    txn = balance_transaction(
        ctx,
        amount=-charge["amount_captured"],
        fee=DISPUTE_FEE,
        currency=charge["currency"],
        source=dispute_id,
        kind="adjustment",
        category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
    )
    evidence_fields = (
        "access_activity_log",
        "billing_address",
        "cancellation_policy",
        "cancellation_policy_disclosure",
        "cancellation_rebuttal",
        "customer_communication",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "customer_signature",
        "duplicate_charge_documentation",
        "duplicate_charge_explanation",
        "duplicate_charge_id",
        "product_description",
        "receipt",
        "refund_policy",
        "refund_policy_disclosure",
        "refund_refusal_explanation",
        "service_date",
        "service_documentation",
        "shipping_address",
        "shipping_carrier",
        "shipping_date",
        "shipping_documentation",
        "shipping_tracking_number",
        "uncategorized_file",
        "uncategorized_text",
    )
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": charge["amount_captured"],
        "balance_transactions": [ctx.store.objects[txn["id"]]],
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(evidence_fields), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": ctx.now + 7 * DAY,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "case_type": "chargeback",
                "network": charge["payment_method_details"]["card"]["network"],
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }
    ctx.store.add(dispute, ctx.account)
    charge["disputed"] = True
    charge["dispute"] = dispute_id
    ctx.emit("charge.dispute.created", dispute)
    return dispute


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
    txn = balance_transaction(
        ctx,
        amount=-amount,
        fee=0,
        currency=charge["currency"],
        source=refund_id,
        kind="refund",
        category="refund",
        description="REFUND FOR CHARGE",
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


# --- disputes --------------------------------------------------------------------------------
def dispute_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "dispute")


def dispute_update(ctx: Ctx) -> JSON:
    dispute = ctx.store.get(ctx.args[0], ctx.account, "dispute")
    if dispute["status"] in ("won", "lost"):
        raise invalid(
            f"This dispute is already closed ({dispute['status']}).",
            code="dispute_unexpected_state",
        )
    previous: JSON = {}
    if ctx.params.get("evidence"):
        previous["evidence"] = dict(dispute["evidence"])
        dispute["evidence"].update(
            {k: v for k, v in ctx.params["evidence"].items() if v is not None}
        )
        dispute["evidence_details"]["has_evidence"] = True
    if "metadata" in ctx.params:
        dispute["metadata"] = merge_metadata(dispute["metadata"], ctx.params["metadata"])
    if ctx.params.get("submit"):
        previous["status"] = dispute["status"]
        dispute["status"] = "under_review"
        dispute["evidence_details"]["submission_count"] += 1
    ctx.emit("charge.dispute.updated", dispute, previous=previous)
    return dispute


def dispute_close(ctx: Ctx) -> JSON:
    dispute = ctx.store.get(ctx.args[0], ctx.account, "dispute")
    if dispute["status"] in ("won", "lost"):
        raise invalid(
            f"This dispute is already closed ({dispute['status']}).",
            code="dispute_unexpected_state",
        )
    previous = {"status": dispute["status"]}
    dispute["status"] = "lost"
    ctx.emit("charge.dispute.closed", dispute, previous=previous)
    return dispute


def dispute_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("dispute", ctx.account)
    for name in ("charge", "payment_intent"):
        if ctx.params.get(name):
            items = [d for d in items if d[name] == ctx.params[name]]
    return ctx.store.page(items, ctx.params, "/v1/disputes")


# --- balance ---------------------------------------------------------------------------------
def balance_transaction_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "balance_transaction")


def balance_transaction_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("balance_transaction", ctx.account)
    for name in ("source", "type", "currency"):
        if ctx.params.get(name):
            items = [t for t in items if t[name] == ctx.params[name]]
    if ctx.params.get("created"):
        items = [t for t in items if in_range(t["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/balance_transactions")


ROUTES: list[Route] = [
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
    get("/v1/disputes", {**LIST_PARAMS, "charge": Str(), "payment_intent": Str()}, dispute_list),
    get("/v1/disputes/{id}", {"expand": EXPAND}, dispute_retrieve),
    post(
        "/v1/disputes/{id}",
        {"evidence": Loose(), "metadata": Metadata(), "submit": Bool(), "expand": EXPAND},
        dispute_update,
    ),
    post("/v1/disputes/{id}/close", {"expand": EXPAND}, dispute_close),
    get(
        "/v1/balance_transactions",
        {**LIST_PARAMS, "source": Str(), "type": Str(), "currency": Str(), "payout": Str()},
        balance_transaction_list,
    ),
    get("/v1/balance_transactions/{id}", {"expand": EXPAND}, balance_transaction_retrieve),
]
