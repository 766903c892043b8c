"""PaymentIntents and their full status machine.

requires_payment_method -> requires_confirmation -> (confirm)
    -> requires_action (3-D Secure) -> [approved] -> requires_capture | succeeded
                                    -> [failed]   -> requires_payment_method
    -> processing -> succeeded | requires_payment_method      (settled via the control API)
    -> requires_capture (manual capture) -> succeeded          (capture)
    -> succeeded (automatic capture)
    -> requires_payment_method + last_payment_error (decline)
canceled from any state but succeeded.
"""

from __future__ import annotations

import copy
import secrets

from sandbox.stripe.cards import AUTH_REQUIRED, Decline, TestCard
from sandbox.stripe.context import Ctx, Route, get, merge_metadata, only, post
from sandbox.stripe.errors import StripeError, invalid, unexpected_state, validation
from sandbox.stripe.params import (
    EXPAND,
    LIST_PARAMS,
    Bool,
    Enum,
    Int,
    ListOf,
    Loose,
    Metadata,
    Obj,
    Str,
    in_range,
)
from sandbox.stripe.resources import bank_accounts
from sandbox.stripe.resources.disputes import dispute_create
from sandbox.stripe.resources.money import charge_create, funds_arrived, settle_capture
from sandbox.stripe.resources.payment_methods import card_of, resolve_payment_method
from sandbox.stripe.store import JSON, random_id

MIN_AMOUNT = 50  # Stripe's minimum charge is about 0.50 in the major unit
MAX_AMOUNT = 99_999_999
CURRENCIES = {
    "usd", "eur", "gbp", "cad", "aud", "nzd", "chf", "sek", "nok", "dkk", "pln", "czk", "huf",
    "ron", "bgn", "jpy", "sgd", "hkd", "mxn", "brl", "inr", "krw", "zar", "aed", "ils", "thb",
}  # fmt: skip
UPDATABLE = (
    "amount",
    "currency",
    "description",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "capture_method",
    "application_fee_amount",
    "transfer_data",
    "transfer_group",
)
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

PI_FIELDS = {
    "amount": Int(),
    "currency": Str(),
    "customer": Str(),
    "description": Str(),
    "metadata": Metadata(),
    "payment_method": Str(),
    "payment_method_types": ListOf(Str()),
    # What the pinned API version (stripe-python 16) names the types the intent may use.
    "allowed_payment_method_types": ListOf(Str()),
    "receipt_email": Str(),
    "setup_future_usage": Enum("off_session", "on_session"),
    "statement_descriptor": Str(max_length=22),
    "statement_descriptor_suffix": Str(max_length=22),
    "capture_method": Enum("automatic", "automatic_async", "manual"),
    "application_fee_amount": Int(minimum=0),
    "transfer_data": Obj({"amount": Int(minimum=0), "destination": Str()}),
    "transfer_group": Str(),
    "payment_method_options": Loose(),
    "shipping": Loose(),
    "expand": EXPAND,
}
CONFIRM_FIELDS = {
    "payment_method": Str(),
    "return_url": Str(),
    "off_session": Enum("true", "false", "one_off", "recurring"),
    "error_on_requires_action": Bool(),
    "use_stripe_sdk": Bool(),
    "receipt_email": Str(),
    "setup_future_usage": Enum("off_session", "on_session"),
    "payment_method_options": Loose(),
    "mandate_data": Loose(),
    "shipping": Loose(),
    "client_secret": Str(),
    "expand": EXPAND,
}
PI_CREATE = {
    **PI_FIELDS,
    **CONFIRM_FIELDS,
    "amount": Int(required=True),
    "currency": Str(required=True),
    "confirm": Bool(),
    "confirmation_method": Enum("automatic", "manual"),
    "automatic_payment_methods": Obj(
        {"enabled": Bool(required=True), "allow_redirects": Enum("always", "never")}
    ),
    "on_behalf_of": Str(),
}


def _check_application_fee(ctx: Ctx, pi: JSON | None = None) -> None:
    """An application fee needs a direct charge (Stripe-Account) or a destination, and cannot
    exceed the intent's amount."""
    fee = ctx.params.get("application_fee_amount")
    if fee is None:
        return
    destination = ctx.params.get("transfer_data") or (pi or {}).get("transfer_data")
    if not ctx.auth.connected and not destination:
        raise invalid(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
            "direct payment (using an OAuth key or Stripe-Account header) or destination "
            "payment (using `transfer_data[destination]`).",
            param="application_fee_amount",
        )
    amount = ctx.params.get("amount") or (pi or {}).get("amount") or 0
    if fee > amount:
        raise invalid(
            f"The application fee ({fee}) cannot be greater than the amount ({amount}).",
            param="application_fee_amount",
        )


def _check_money(ctx: Ctx) -> None:
    if "currency" in ctx.params:
        currency = (ctx.params["currency"] or "").lower()
        if currency not in CURRENCIES:
            raise validation(
                f"Invalid currency: {ctx.params['currency']}.",
                param="currency",
                code="parameter_invalid",
            )
        ctx.params["currency"] = currency
    amount = ctx.params.get("amount")
    if amount is not None and amount < MIN_AMOUNT:
        raise validation(
            "Amount must be at least $0.50 usd", param="amount", code="amount_too_small"
        )
    if amount is not None and amount > MAX_AMOUNT:
        raise validation(
            "Amount must be no more than $999,999.99", param="amount", code="amount_too_large"
        )


def _customer(ctx: Ctx, customer_id: str | None) -> str | None:
    if customer_id is None:
        return None
    customer = ctx.store.get(customer_id, ctx.account, "customer", "customer")
    if customer.get("deleted"):
        raise invalid(
            f"No such customer: '{customer_id}'",
            param="customer",
            code="resource_missing",
            status=404,
        )
    return customer_id


def _is_ach(pi: JSON) -> bool:
    return bool(pi["payment_method_types"] == [bank_accounts.ACH])


def _attach_pm(ctx: Ctx, pi: JSON, pm_id: str) -> JSON:
    if _is_ach(pi):
        method = bank_accounts.resolve_bank_payment_method(ctx, pi, pm_id)
        pi["payment_method"] = method["id"]
        return method
    pm = resolve_payment_method(ctx, pm_id)
    if pm["customer"] is not None and pm["customer"] != pi["customer"]:
        raise invalid(
            f"The provided PaymentMethod ({pm['id']}) belongs to a Customer that is not the "
            "one on this PaymentIntent.",
            param="payment_method",
        )
    pi["payment_method"] = pm["id"]
    return pm


def payment_intent_create(ctx: Ctx) -> JSON:
    _check_money(ctx)
    _check_application_fee(ctx)
    params = ctx.params
    if params.get("confirm") is not True:
        for name in ("return_url", "off_session", "error_on_requires_action", "use_stripe_sdk"):
            if name in params:
                raise validation(f"You can only pass {name} when confirm=true.", param=name)
    automatic = params.get("automatic_payment_methods")
    pi_id = random_id("pi")
    pi = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": params["amount"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": params.get("application_fee_amount"),
        "automatic_payment_methods": (
            {
                "allow_redirects": automatic.get("allow_redirects") or "always",
                "enabled": automatic["enabled"],
            }
            if automatic
            else None
        ),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": params.get("capture_method") or "automatic_async",
        "client_secret": f"{pi_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": params.get("confirmation_method") or "automatic",
        "created": ctx.now,
        "currency": params["currency"],
        "customer": _customer(ctx, params.get("customer")),
        "description": params.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": params.get("metadata") or {},
        "next_action": None,
        "on_behalf_of": params.get("on_behalf_of"),
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": params.get("allowed_payment_method_types")
        or params.get("payment_method_types")
        or ["card"],
        "allowed_payment_method_types": params.get("allowed_payment_method_types"),
        "processing": None,
        "receipt_email": params.get("receipt_email"),
        "review": None,
        "setup_future_usage": params.get("setup_future_usage"),
        "shipping": None,
        "source": None,
        "statement_descriptor": params.get("statement_descriptor"),
        "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
        "status": "requires_payment_method",
        "transfer_data": params.get("transfer_data"),
        "transfer_group": params.get("transfer_group"),
    }
    if pi["payment_method_types"] == [bank_accounts.ACH]:
        pi["payment_method_options"] = {bank_accounts.ACH: {"verification_method": "automatic"}}
    elif pi["payment_method_types"] != ["card"]:
        raise validation(
            "The sandbox supports payment_method_types ['card'] or ['us_bank_account'].",
            param="payment_method_types",
        )
    if params.get("payment_method"):
        _attach_pm(ctx, pi, params["payment_method"])
        pi["status"] = "requires_confirmation"
    ctx.store.add(pi, ctx.account)
    ctx.emit("payment_intent.created", pi)
    if params.get("confirm"):
        return _confirm(ctx, pi)
    return pi


def payment_intent_retrieve(ctx: Ctx) -> JSON:
    pi = ctx.store.get(ctx.args[0], ctx.account, "payment_intent")
    _check_client_secret(ctx, pi)
    return pi


def _check_client_secret(ctx: Ctx, pi: JSON) -> None:
    """A publishable key reaches a PaymentIntent only with its client secret (Stripe.js)."""
    if ctx.auth.publishable and ctx.params.get("client_secret") != pi["client_secret"]:
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )


def payment_intent_update(ctx: Ctx) -> JSON:
    pi = ctx.store.get(ctx.args[0], ctx.account, "payment_intent")
    _check_money(ctx)
    _check_application_fee(ctx, pi)
    always = {"metadata", "description", "receipt_email", "shipping", "expand"}
    if pi["status"] not in CONFIRMABLE and set(ctx.params) - always:
        raise unexpected_state(
            "payment_intent",
            f"You cannot update this PaymentIntent because it has a status of {pi['status']}.",
        )
    previous: JSON = {}
    simple = only(
        ctx.params,
        "amount",
        "currency",
        "description",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "capture_method",
        "application_fee_amount",
        "transfer_data",
        "transfer_group",
    )
    for name, value in simple.items():
        previous[name] = pi[name]
        pi[name] = value
    if "customer" in ctx.params:
        previous["customer"] = pi["customer"]
        pi["customer"] = _customer(ctx, ctx.params["customer"])
    if "metadata" in ctx.params:
        previous["metadata"] = pi["metadata"]
        pi["metadata"] = merge_metadata(pi["metadata"], ctx.params["metadata"])
    if ctx.params.get("payment_method"):
        previous["payment_method"] = pi["payment_method"]
        _attach_pm(ctx, pi, ctx.params["payment_method"])
        pi["status"] = "requires_confirmation"
        pi["next_action"] = None
    return pi


def payment_intent_confirm(ctx: Ctx) -> JSON:
    pi = ctx.store.get(ctx.args[0], ctx.account, "payment_intent")
    _check_client_secret(ctx, pi)
    if ctx.auth.publishable and ctx.params.get("payment_method"):
        # Stripe.js may only use PaymentMethods it created; it cannot reach saved cards by id.
        ctx.store.get(ctx.params["payment_method"], ctx.account, "payment_method", "payment_method")
    return _confirm(ctx, pi)


def _confirm(ctx: Ctx, pi: JSON) -> JSON:
    params = ctx.params
    if pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            "payment_intent",
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
        )
    if params.get("payment_method"):
        _attach_pm(ctx, pi, params["payment_method"])
    if not pi["payment_method"]:
        raise StripeError(
            400,
            "invalid_request_error",
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent with a payment method, update it with a payment_method.",
            code="payment_intent_unexpected_state",
            param="payment_method",
        )
    for name in ("receipt_email", "setup_future_usage"):
        if params.get(name):
            pi[name] = params[name]
    private = ctx.store.private_of(pi["id"])
    private["return_url"] = params.get("return_url")
    pi["last_payment_error"] = None
    pi["next_action"] = None
    if _is_ach(pi):
        method = bank_accounts.resolve_bank_payment_method(ctx, pi, pi["payment_method"])
        return bank_accounts.ach_confirm(ctx, pi, method)
    pm = ctx.store.get(pi["payment_method"], ctx.account, "payment_method", "payment_method")
    card = card_of(pm)
    if card.behaviour == "three_d_secure" and not private.get("authenticated"):
        off_session = params.get("off_session") not in (None, "false")
        if off_session or params.get("error_on_requires_action"):
            return _decline(ctx, pi, pm, card, AUTH_REQUIRED, create_charge=False)
        return _require_action(ctx, pi)
    return charge_now(ctx, pi)


def _require_action(ctx: Ctx, pi: JSON) -> JSON:
    url = f"{ctx.base_url}/stripe/3ds/{pi['id']}?client_secret={pi['client_secret']}"
    return_url = ctx.store.private_of(pi["id"]).get("return_url")
    if return_url:
        pi["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": return_url, "url": url},
        }
    else:
        # What Stripe answers when the page will finish with Stripe.js (handleNextAction).
        pi["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
        }
    pi["status"] = "requires_action"
    ctx.emit("payment_intent.requires_action", pi)
    return pi


def charge_now(ctx: Ctx, pi: JSON) -> JSON:
    """Run the card: decline, leave processing, authorize for manual capture, or capture."""
    pm = ctx.store.get(pi["payment_method"], ctx.account, "payment_method")
    card = card_of(pm)
    if card.behaviour == "decline" and card.decline is not None:
        return _decline(ctx, pi, pm, card, card.decline, create_charge=True)
    if card.behaviour == "processing":
        charge = charge_create(
            ctx, pi, pm, card=card, decline=None, status="pending", captured=False
        )
        pi["latest_charge"] = charge["id"]
        pi["status"] = "processing"
        pi["processing"] = {"card": {}, "type": "card"}
        ctx.emit("charge.pending", charge)
        ctx.emit("payment_intent.processing", pi)
        return pi
    manual = pi["capture_method"] == "manual"
    charge = charge_create(
        ctx, pi, pm, card=card, decline=None, status="succeeded", captured=not manual
    )
    pi["latest_charge"] = charge["id"]
    pi["processing"] = None
    ctx.emit("charge.succeeded", charge)
    if manual:
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
        ctx.emit("payment_intent.amount_capturable_updated", pi)
        return pi
    pi["status"] = "succeeded"
    pi["amount_received"] = pi["amount"]
    ctx.emit("payment_intent.succeeded", pi)
    if card.behaviour == "dispute":
        dispute_create(ctx, charge)
    return pi


def _decline(
    ctx: Ctx, pi: JSON, pm: JSON, card: TestCard, decline: Decline, *, create_charge: bool
) -> JSON:
    charge_id = None
    if create_charge:
        charge = charge_create(
            ctx, pi, pm, card=card, decline=decline, status="failed", captured=False
        )
        charge_id = pi["latest_charge"] = charge["id"]
        ctx.emit("charge.failed", charge)
    error = {
        "charge": charge_id,
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code}",
        "message": decline.message,
        "payment_method": copy.deepcopy(pm),
        "type": "card_error",
    }
    pi["last_payment_error"] = error
    pi["payment_method"] = None
    pi["status"] = "requires_payment_method"
    ctx.emit("payment_intent.payment_failed", pi)
    raise StripeError(
        402,
        "card_error",
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        extra={
            "charge": charge_id,
            "payment_intent": copy.deepcopy(pi),
            "payment_method": copy.deepcopy(pm),
        },
    )


def authenticate(ctx: Ctx, pi: JSON, approved: bool) -> JSON:
    """The tester's answer on the 3-D Secure page (or the control API)."""
    if pi["status"] != "requires_action":
        raise unexpected_state(
            "payment_intent",
            f"This PaymentIntent has a status of {pi['status']}, not requires_action.",
        )
    pi["next_action"] = None
    if approved:
        ctx.store.private_of(pi["id"])["authenticated"] = True
        return charge_now(ctx, pi)
    pm = ctx.store.get(pi["payment_method"], ctx.account, "payment_method")
    pi["last_payment_error"] = {
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
        "again.",
        "payment_method": copy.deepcopy(pm),
        "type": "invalid_request_error",
    }
    pi["payment_method"] = None
    pi["status"] = "requires_payment_method"
    ctx.emit("payment_intent.payment_failed", pi)
    return pi


def settle(ctx: Ctx, pi: JSON, succeeded: bool | None) -> JSON:
    """Finish a `processing` payment (the control API's stand-in for the network's answer).

    `None` lets a bank debit end as its account dictates (the clock's settlement)."""
    if pi["status"] != "processing":
        raise unexpected_state(
            "payment_intent", f"This PaymentIntent has a status of {pi['status']}, not processing."
        )
    if _is_ach(pi):
        return bank_accounts.ach_settle(ctx, pi, bank_accounts.ach_outcome(ctx, pi, succeeded))
    if succeeded:
        return funds_arrived(ctx, pi)
    charge = ctx.store.get(pi["latest_charge"], ctx.account, "charge")
    pi["processing"] = None
    charge.update(
        {
            "status": "failed",
            "failure_code": "card_declined",
            "failure_message": "Your card was declined.",
        }
    )
    pi["last_payment_error"] = {
        "charge": charge["id"],
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
        "type": "card_error",
    }
    pi["status"] = "requires_payment_method"
    ctx.emit("charge.failed", charge)
    ctx.emit("payment_intent.payment_failed", pi)
    return pi


def payment_intent_capture(ctx: Ctx) -> JSON:
    pi = ctx.store.get(ctx.args[0], ctx.account, "payment_intent")
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            "payment_intent",
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be captured: "
            "requires_capture.",
        )
    amount = ctx.params.get("amount_to_capture")
    if amount is None:
        amount = pi["amount_capturable"]
    if amount > pi["amount_capturable"]:
        raise invalid(
            f"The amount to capture ({amount}) is greater than the amount capturable "
            f"({pi['amount_capturable']}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    if "metadata" in ctx.params:
        pi["metadata"] = merge_metadata(pi["metadata"], ctx.params["metadata"])
    _check_application_fee(ctx, pi)
    charge = ctx.store.get(pi["latest_charge"], ctx.account, "charge")
    if ctx.params.get("application_fee_amount") is not None:
        pi["application_fee_amount"] = ctx.params["application_fee_amount"]
        charge["application_fee_amount"] = ctx.params["application_fee_amount"]
    settle_capture(ctx, charge, amount)
    pi.update({"status": "succeeded", "amount_received": amount, "amount_capturable": 0})
    ctx.emit("charge.captured", charge)
    if charge["amount_refunded"]:
        ctx.emit("charge.refunded", charge)  # the released, uncaptured remainder
    ctx.emit("payment_intent.succeeded", pi)
    pm = ctx.store.get(pi["payment_method"], ctx.account, "payment_method")
    if card_of(pm).behaviour == "dispute":
        dispute_create(ctx, charge)
    return pi


def payment_intent_cancel(ctx: Ctx) -> JSON:
    pi = ctx.store.get(ctx.args[0], ctx.account, "payment_intent")
    if pi["status"] not in CANCELABLE:
        raise unexpected_state(
            "payment_intent",
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: "
            + ", ".join(CANCELABLE)
            + ".",
        )
    was_authorized = pi["status"] == "requires_capture"
    pi.update(
        {
            "status": "canceled",
            "canceled_at": ctx.now,
            "cancellation_reason": ctx.params.get("cancellation_reason"),
            "amount_capturable": 0,
            "next_action": None,
        }
    )
    if was_authorized:
        charge = ctx.store.get(pi["latest_charge"], ctx.account, "charge")
        charge.update({"amount_refunded": charge["amount"], "refunded": True})
        ctx.emit("charge.refunded", charge)
    ctx.emit("payment_intent.canceled", pi)
    return pi


def payment_intent_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("payment_intent", ctx.account)
    if ctx.params.get("customer"):
        items = [pi for pi in items if pi["customer"] == ctx.params["customer"]]
    if ctx.params.get("created"):
        items = [pi for pi in items if in_range(pi["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/payment_intents")


ROUTES: list[Route] = [
    post("/v1/payment_intents", PI_CREATE, payment_intent_create),
    get("/v1/payment_intents", {**LIST_PARAMS, "customer": Str()}, payment_intent_list),
    get(
        "/v1/payment_intents/{id}",
        {"client_secret": Str(), "expand": EXPAND},
        payment_intent_retrieve,
        publishable=True,
    ),
    post("/v1/payment_intents/{id}", PI_FIELDS, payment_intent_update),
    post(
        "/v1/payment_intents/{id}/confirm", CONFIRM_FIELDS, payment_intent_confirm, publishable=True
    ),
    post(
        "/v1/payment_intents/{id}/capture",
        {
            "amount_to_capture": Int(minimum=1),
            "metadata": Metadata(),
            "application_fee_amount": Int(minimum=0),
            "expand": EXPAND,
        },
        payment_intent_capture,
    ),
    post(
        "/v1/payment_intents/{id}/cancel",
        {
            "cancellation_reason": Enum(
                "duplicate", "fraudulent", "requested_by_customer", "abandoned"
            ),
            "expand": EXPAND,
        },
        payment_intent_cancel,
    ),
]
