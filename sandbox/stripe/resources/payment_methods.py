"""Card PaymentMethods: from a raw test number (the card form), a test token or a test id."""

from __future__ import annotations

import datetime as dt

from sandbox.stripe.cards import (
    CARDS_BY_FINGERPRINT,
    CARDS_BY_NUMBER,
    TEST_EXP_MONTH,
    TEST_PAYMENT_METHODS,
    TEST_TOKENS,
    TestCard,
    fingerprint,
    luhn_valid,
)
from sandbox.stripe.context import Ctx, Route, get, merge_metadata, post
from sandbox.stripe.errors import StripeError, invalid, missing, validation
from sandbox.stripe.params import (
    BILLING_DETAILS,
    EXPAND,
    LIST_PARAMS,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
)
from sandbox.stripe.store import JSON, random_id

CARD = Obj(
    {
        "number": Str(),
        "exp_month": Int(minimum=1, maximum=12),
        "exp_year": Int(minimum=0, maximum=9999),
        "cvc": Str(),
        "token": Str(),
    }
)
PM_CREATE = {
    "type": Enum("card", "us_bank_account", required=True),
    "card": CARD,
    # Routing + account number, from Stripe.js's bank form (see resources.setup_intents).
    "us_bank_account": Obj(
        {
            "routing_number": Str(),
            "account_number": Str(),
            "account_holder_type": Enum("individual", "company"),
            "account_type": Enum("checking", "savings"),
        }
    ),
    "billing_details": BILLING_DETAILS,
    "metadata": Metadata(),
    "allow_redisplay": Enum("always", "limited", "unspecified"),
    "expand": EXPAND,
}
PM_UPDATE = {
    "billing_details": BILLING_DETAILS,
    "metadata": Metadata(),
    "card": Obj(
        {"exp_month": Int(minimum=1, maximum=12), "exp_year": Int(minimum=0, maximum=9999)}
    ),
    "allow_redisplay": Enum("always", "limited", "unspecified"),
    "expand": EXPAND,
}


def _card_error(
    message: str, code: str, param: str, decline_code: str | None = None
) -> StripeError:
    return StripeError(
        402, "card_error", message, code=code, param=param, decline_code=decline_code
    )


def billing_details_json(sent: JSON | None) -> JSON:
    sent = sent or {}
    address = sent.get("address") or {}
    return {
        "address": {
            k: address.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")
        },
        "email": sent.get("email"),
        "name": sent.get("name"),
        "phone": sent.get("phone"),
        "tax_id": None,
    }


def card_details(card: TestCard, exp_month: int, exp_year: int, cvc_checked: bool) -> JSON:
    return {
        "brand": card.brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass" if cvc_checked else None,
        },
        "country": card.country,
        "display_brand": card.brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint(card.number),
        "funding": card.funding,
        "generated_from": None,
        "last4": card.number[-4:],
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def new_payment_method(
    ctx: Ctx, card: TestCard, *, exp_month: int, exp_year: int, cvc_checked: bool, params: JSON
) -> JSON:
    pm = {
        "id": random_id("pm"),
        "object": "payment_method",
        "allow_redisplay": params.get("allow_redisplay") or "unspecified",
        "billing_details": billing_details_json(params.get("billing_details")),
        "card": card_details(card, exp_month, exp_year, cvc_checked),
        "created": ctx.now,
        "customer": None,
        "livemode": False,
        "metadata": params.get("metadata") or {},
        "type": "card",
    }
    ctx.store.add(pm, ctx.account)
    return pm


def card_of(pm: JSON) -> TestCard:
    """The test card a PaymentMethod was made from, found by its fingerprint (never stored)."""
    return CARDS_BY_FINGERPRINT[pm["card"]["fingerprint"]]


def _test_exp_year(ctx: Ctx) -> int:
    return dt.datetime.fromtimestamp(ctx.now, tz=dt.UTC).year + 3


def resolve_payment_method(ctx: Ctx, pm_id: str, param: str = "payment_method") -> JSON:
    """An existing PaymentMethod, or a fresh one for a test id such as `pm_card_visa`."""
    if pm_id in TEST_PAYMENT_METHODS:
        card = TEST_PAYMENT_METHODS[pm_id]
        return new_payment_method(
            ctx,
            card,
            exp_month=TEST_EXP_MONTH,
            exp_year=_test_exp_year(ctx),
            cvc_checked=True,
            params={},
        )
    return ctx.store.get(pm_id, ctx.account, "payment_method", param)


def _card_from_params(ctx: Ctx, card: JSON) -> tuple[TestCard, int, int, bool]:
    if card.get("token"):
        token = card["token"]
        if token not in TEST_TOKENS:
            raise missing("token", token, "card[token]")
        return TEST_TOKENS[token], TEST_EXP_MONTH, _test_exp_year(ctx), True
    number = (card.get("number") or "").replace(" ", "").replace("-", "")
    if not number:
        raise validation(
            "Missing required param: card[number].", param="card[number]", code="parameter_missing"
        )
    for name in ("exp_month", "exp_year"):
        if card.get(name) is None:
            raise validation(
                f"Missing required param: card[{name}].",
                param=f"card[{name}]",
                code="parameter_missing",
            )
    if not luhn_valid(number):
        raise _card_error("Your card number is incorrect.", "incorrect_number", "card[number]")
    exp_month, exp_year = card["exp_month"], card["exp_year"]
    if exp_year < 100:
        exp_year += 2000
    today = dt.datetime.fromtimestamp(ctx.now, tz=dt.UTC)
    if (exp_year, exp_month) < (today.year, today.month):
        raise _card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "card[exp_year]"
        )
    cvc = card.get("cvc")
    if cvc is not None and not (cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise _card_error("Your card's security code is invalid.", "invalid_cvc", "card[cvc]")
    if number not in CARDS_BY_NUMBER:
        raise _card_error(
            "Your card was declined. Your request was in test mode, but used a non test (live) "
            "card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            "card_declined",
            "card[number]",
            decline_code="live_mode_test_card",
        )
    return CARDS_BY_NUMBER[number], exp_month, exp_year, cvc is not None


def payment_method_create(ctx: Ctx) -> JSON:
    if ctx.params["type"] == "us_bank_account":
        # Imported here: setup_intents builds on this module.
        from sandbox.stripe.resources.setup_intents import new_bank_payment_method

        return new_bank_payment_method(ctx, ctx.params, prefix="")
    if not ctx.params.get("card"):
        raise validation("Missing required param: card.", param="card", code="parameter_missing")
    card, exp_month, exp_year, cvc_checked = _card_from_params(ctx, ctx.params["card"])
    return new_payment_method(
        ctx,
        card,
        exp_month=exp_month,
        exp_year=exp_year,
        cvc_checked=cvc_checked,
        params=ctx.params,
    )


def payment_method_retrieve(ctx: Ctx) -> JSON:
    return resolve_payment_method(ctx, ctx.args[0], "id")


def payment_method_update(ctx: Ctx) -> JSON:
    pm = ctx.store.get(ctx.args[0], ctx.account, "payment_method")
    if ctx.params.get("billing_details"):
        merged = {
            **pm["billing_details"],
            **{k: v for k, v in ctx.params["billing_details"].items() if k != "address"},
        }
        if ctx.params["billing_details"].get("address"):
            merged["address"] = {
                **pm["billing_details"]["address"],
                **ctx.params["billing_details"]["address"],
            }
        pm["billing_details"] = merged
    if ctx.params.get("card"):
        pm["card"].update({k: v for k, v in ctx.params["card"].items() if v is not None})
    if "metadata" in ctx.params:
        pm["metadata"] = merge_metadata(pm["metadata"], ctx.params["metadata"])
    if ctx.params.get("allow_redisplay"):
        pm["allow_redisplay"] = ctx.params["allow_redisplay"]
    ctx.emit("payment_method.updated", pm)
    return pm


def attach(ctx: Ctx, pm: JSON, customer_id: str, param: str = "customer") -> JSON:
    customer = ctx.store.get(customer_id, ctx.account, "customer", param)
    if pm["customer"] not in (None, customer["id"]):
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    if pm["customer"] is None:
        pm["customer"] = customer["id"]
        ctx.emit("payment_method.attached", pm)
    return pm


def payment_method_attach(ctx: Ctx) -> JSON:
    pm = resolve_payment_method(ctx, ctx.args[0], "payment_method")
    return attach(ctx, pm, ctx.params["customer"])


def payment_method_detach(ctx: Ctx) -> JSON:
    pm = ctx.store.get(ctx.args[0], ctx.account, "payment_method")
    if pm["customer"] is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    previous = {"customer": pm["customer"]}
    pm["customer"] = None
    ctx.emit("payment_method.detached", pm, previous=previous)
    return pm


def _list(ctx: Ctx, customer: str | None, url: str) -> JSON:
    items = ctx.store.items("payment_method", ctx.account)
    if customer is not None:
        ctx.store.get(customer, ctx.account, "customer", "customer")
        items = [pm for pm in items if pm["customer"] == customer]
    return ctx.store.page(items, ctx.params, url)


def payment_method_list(ctx: Ctx) -> JSON:
    return _list(ctx, ctx.params.get("customer"), "/v1/payment_methods")


def customer_payment_methods(ctx: Ctx) -> JSON:
    return _list(ctx, ctx.args[0], f"/v1/customers/{ctx.args[0]}/payment_methods")


PM_LIST = {**LIST_PARAMS, "customer": Str(), "type": Enum("card")}
ROUTES: list[Route] = [
    post("/v1/payment_methods", PM_CREATE, payment_method_create, publishable=True),
    get("/v1/payment_methods", PM_LIST, payment_method_list),
    get("/v1/payment_methods/{id}", {"expand": EXPAND}, payment_method_retrieve),
    post("/v1/payment_methods/{id}", PM_UPDATE, payment_method_update),
    post(
        "/v1/payment_methods/{id}/attach",
        {"customer": Str(required=True), "expand": EXPAND},
        payment_method_attach,
    ),
    post("/v1/payment_methods/{id}/detach", {"expand": EXPAND}, payment_method_detach),
    get(
        "/v1/customers/{id}/payment_methods",
        {**LIST_PARAMS, "type": Enum("card"), "allow_redisplay": Str()},
        customer_payment_methods,
    ),
]
