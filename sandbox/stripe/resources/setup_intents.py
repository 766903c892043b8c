"""SetupIntents for US bank accounts verified by Stripe's own micro-deposits.

requires_payment_method -> (confirm with a us_bank_account PaymentMethod and mandate_data)
    -> requires_action (next_action verify_with_microdeposits: deposits "sent")
    -> verify_microdeposits: descriptor code SM11AA, or amounts 32 and 45 (Stripe's test
       values) -> succeeded (mandate active, PaymentMethod attached to the customer)
    -> a wrong answer is a 400 and counts; the 10th wrong answer, or verifying after the
       deposits expired (10 days on the sandbox clock), fails the attempt: back to
       requires_payment_method with last_setup_error, and setup_intent.setup_failed.
canceled from any state but succeeded.

us_bank_account PaymentMethods are made from routing + account number (what Stripe.js's
bank form posts, here the sandbox's stand-in on its own origin). Only last 4, routing number,
fingerprint and the test outcome of the account number are kept.
"""

from __future__ import annotations

import copy
import hmac
import secrets

# The sandbox's one ABA checksum (Link checks it too before anything is sent).
from sandbox.plaid.items import aba_valid
from sandbox.stripe.banks import (
    MICRODEPOSIT_AMOUNTS,
    MICRODEPOSIT_ARRIVAL_SECONDS,
    MICRODEPOSIT_DESCRIPTOR,
    MICRODEPOSIT_EXPIRY_SECONDS,
    MICRODEPOSIT_MAX_ATTEMPTS,
    bank_fingerprint,
    outcome_for,
)
from sandbox.stripe.context import Ctx, Route, get, post
from sandbox.stripe.errors import StripeError, invalid, unexpected_state, validation
from sandbox.stripe.params import (
    BILLING_DETAILS,
    EXPAND,
    Bool,
    Enum,
    Int,
    ListOf,
    Loose,
    Metadata,
    Obj,
    Str,
)
from sandbox.stripe.resources.bank_accounts import ACH, mandate_create
from sandbox.stripe.resources.payment_methods import PM_CREATE, attach, billing_details_json
from sandbox.stripe.store import JSON, random_id

PAYMENT_METHOD_DATA = Obj(
    {
        "type": Enum(ACH, required=True),
        "us_bank_account": PM_CREATE["us_bank_account"],
        "billing_details": BILLING_DETAILS,
        "metadata": Metadata(),
    }
)
CONFIRM_FIELDS = {
    "payment_method": Str(),
    "payment_method_data": PAYMENT_METHOD_DATA,
    "mandate_data": Loose(),
    "client_secret": Str(),
    "return_url": Str(),
    "expand": EXPAND,
}
SI_CREATE = {
    **CONFIRM_FIELDS,
    "customer": Str(),
    "description": Str(),
    "metadata": Metadata(),
    "usage": Enum("off_session", "on_session"),
    "allowed_payment_method_types": ListOf(Str()),
    "payment_method_types": ListOf(Str()),
    "payment_method_options": Loose(),
    "confirm": Bool(),
    "on_behalf_of": Str(),
}
VERIFY_FIELDS = {
    "amounts": ListOf(Int(minimum=0, maximum=100), max_items=2),
    "descriptor_code": Str(max_length=6),
    "client_secret": Str(),
    "expand": EXPAND,
}


def new_bank_payment_method(ctx: Ctx, data: JSON, prefix: str = "payment_method_data") -> JSON:
    """A `us_bank_account` PaymentMethod from routing + account number (never stored)."""
    at = f"{prefix}[us_bank_account]" if prefix else "us_bank_account"
    bank = data.get("us_bank_account") or {}
    routing = str(bank.get("routing_number") or "")
    number = str(bank.get("account_number") or "")
    if not aba_valid(routing):
        raise invalid(
            "Routing number must have 9 digits and a valid checksum.",
            param=f"{at}[routing_number]",
            code="routing_number_invalid",
        )
    if not (number.isdigit() and 4 <= len(number) <= 17):
        raise invalid(
            "Account number must have 4 to 17 digits.",
            param=f"{at}[account_number]",
            code="account_number_invalid",
        )
    billing = billing_details_json(data.get("billing_details"))
    if not billing["name"]:
        raise validation(
            "Missing required param: billing_details[name] (the account holder).",
            param=f"{prefix}[billing_details][name]" if prefix else "billing_details[name]",
            code="parameter_missing",
        )
    pm_id = random_id("pm")
    pm: JSON = {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing,
        "created": ctx.now,
        "customer": None,
        "livemode": False,
        "metadata": data.get("metadata") or {},
        "type": ACH,
        ACH: {
            "account_holder_type": bank.get("account_holder_type") or "individual",
            "account_type": bank.get("account_type") or "checking",
            "bank_name": "STRIPE TEST BANK",
            "financial_connections_account": None,
            "fingerprint": bank_fingerprint(routing, number),
            "last4": number[-4:],
            "networks": {"preferred": "ach", "supported": ["ach"]},
            "routing_number": routing,
            "status_details": {},
        },
    }
    ctx.store.add(pm, ctx.account)
    ctx.store.private_of(pm_id)["ach_failure"] = outcome_for(number).failure_code
    return pm


def setup_intent_create(ctx: Ctx) -> JSON:
    params = ctx.params
    types = params.get("allowed_payment_method_types") or params.get("payment_method_types")
    types = types or [ACH]
    if types != [ACH]:
        raise validation(
            "The sandbox's SetupIntents support only ['us_bank_account'].",
            param="allowed_payment_method_types",
        )
    customer = params.get("customer")
    if customer is not None:
        found = ctx.store.get(customer, ctx.account, "customer", "customer")
        if found.get("deleted"):
            raise invalid(f"No such customer: '{customer}'", param="customer", status=404)
    options = (params.get("payment_method_options") or {}).get(ACH) or {}
    method = options.get("verification_method") or "automatic"
    if method not in ("automatic", "instant", "microdeposits"):
        raise validation(
            "Invalid payment_method_options[us_bank_account][verification_method].",
            param="payment_method_options[us_bank_account][verification_method]",
        )
    si_id = random_id("seti")
    si: JSON = {
        "id": si_id,
        "object": "setup_intent",
        "allowed_payment_method_types": params.get("allowed_payment_method_types"),
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{si_id}_secret_{secrets.token_urlsafe(18)}",
        "created": ctx.now,
        "customer": customer,
        "description": params.get("description"),
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": params.get("metadata") or {},
        "next_action": None,
        "on_behalf_of": params.get("on_behalf_of"),
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {ACH: {"mandate_options": {}, "verification_method": method}},
        "payment_method_types": types,
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": params.get("usage") or "off_session",
    }
    ctx.store.add(si, ctx.account)
    ctx.emit("setup_intent.created", si)
    if params.get("confirm") is True:
        return _confirm(ctx, si)
    return si


def _check_client_secret(ctx: Ctx, si: JSON) -> None:
    """A publishable key reaches a SetupIntent only with its client secret (Stripe.js)."""
    if ctx.auth.publishable and not hmac.compare_digest(
        str(ctx.params.get("client_secret") or ""), si["client_secret"]
    ):
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the "
            "SetupIntent.",
            param="client_secret",
        )


def _intent(ctx: Ctx) -> JSON:
    si = ctx.store.get(ctx.args[0], ctx.account, "setup_intent", "intent")
    _check_client_secret(ctx, si)
    return si


def setup_intent_retrieve(ctx: Ctx) -> JSON:
    return _intent(ctx)


def setup_intent_confirm(ctx: Ctx) -> JSON:
    return _confirm(ctx, _intent(ctx))


def _confirm(ctx: Ctx, si: JSON) -> JSON:
    if si["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise unexpected_state(
            "setup_intent",
            f"You cannot confirm this SetupIntent because it has a status of {si['status']}.",
        )
    params = ctx.params
    if params.get("payment_method_data"):
        pm = new_bank_payment_method(ctx, params["payment_method_data"])
    elif params.get("payment_method") or si["payment_method"]:
        pm = ctx.store.get(
            params.get("payment_method") or si["payment_method"],
            ctx.account,
            "payment_method",
            "payment_method",
        )
        if pm["type"] != ACH:
            raise invalid(
                f"The PaymentMethod {pm['id']} is not a us_bank_account.", param="payment_method"
            )
    else:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            param="payment_method",
            code="setup_intent_unexpected_state",
        )
    acceptance = (params.get("mandate_data") or {}).get("customer_acceptance")
    if not isinstance(acceptance, dict):
        raise invalid(
            "mandate_data[customer_acceptance] is required to set up a us_bank_account.",
            param="mandate_data",
            code="mandate_required",
        )
    private = ctx.store.private_of(si["id"])
    private["acceptance"] = copy.deepcopy(acceptance)
    si["payment_method"] = pm["id"]
    si["last_setup_error"] = None
    si["status"] = "requires_action"
    private.update(
        {
            "attempts": 0,
            "expires_at": ctx.now + MICRODEPOSIT_EXPIRY_SECONDS,
        }
    )
    si["next_action"] = {
        "type": "verify_with_microdeposits",
        "verify_with_microdeposits": {
            "arrival_date": ctx.now + MICRODEPOSIT_ARRIVAL_SECONDS,
            "hosted_verification_url": (
                f"{ctx.base_url}/stripe/microdeposits/{si['id']}?client_secret="
                f"{si['client_secret']}"
            ),
            "microdeposit_type": "descriptor_code",
        },
    }
    ctx.emit("setup_intent.requires_action", si)
    return si


def _fail(ctx: Ctx, si: JSON, code: str, message: str) -> JSON:
    pm = ctx.store.objects.get(si["payment_method"] or "")
    si["last_setup_error"] = {
        "code": code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "payment_method": copy.deepcopy(pm) if pm else None,
        "type": "invalid_request_error",
    }
    si["next_action"] = None
    si["payment_method"] = None
    si["status"] = "requires_payment_method"
    ctx.emit("setup_intent.setup_failed", si)
    return si


def verify(ctx: Ctx, si: JSON, *, amounts: list[int] | None, descriptor_code: str | None) -> JSON:
    """Check the customer's answer; shared by the API and the hosted verification page."""
    if si["status"] != "requires_action":
        raise unexpected_state(
            "setup_intent",
            f"This SetupIntent has a status of {si['status']}; there is nothing to verify.",
        )
    if (amounts is None) == (descriptor_code is None):
        raise validation("Pass either amounts or descriptor_code.", param="descriptor_code")
    private = ctx.store.private_of(si["id"])
    if ctx.now > private["expires_at"]:
        _fail(
            ctx,
            si,
            "payment_method_microdeposit_verification_timeout",
            "The micro-deposits expired before they were verified. Add the account again.",
        )
        raise invalid(
            "Microdeposit verification timed out.",
            code="payment_method_microdeposit_verification_timeout",
        )
    if descriptor_code is not None:
        good = descriptor_code.strip().upper() == MICRODEPOSIT_DESCRIPTOR
        mismatch = "payment_method_microdeposit_verification_descriptor_code_mismatch"
    else:
        good = sorted(amounts or []) == sorted(MICRODEPOSIT_AMOUNTS)
        mismatch = "payment_method_microdeposit_verification_amounts_mismatch"
    if not good:
        private["attempts"] = int(private.get("attempts", 0)) + 1
        left = MICRODEPOSIT_MAX_ATTEMPTS - private["attempts"]
        if left <= 0:
            _fail(
                ctx,
                si,
                "payment_method_microdeposit_verification_attempts_exceeded",
                "You have exceeded the number of allowed verification attempts.",
            )
            raise invalid(
                "You have exceeded the number of allowed verification attempts.",
                code="payment_method_microdeposit_verification_attempts_exceeded",
            )
        raise StripeError(
            400,
            "invalid_request_error",
            f"The verification did not match. You have {left} attempts left.",
            code=mismatch,
            extra={"setup_intent": copy.deepcopy(si)},
        )
    mandate = mandate_create(ctx, si["payment_method"], _accepted(private["acceptance"]))
    pm = ctx.store.get(si["payment_method"], ctx.account, "payment_method")
    if si["customer"]:
        attach(ctx, pm, si["customer"])
    si.update({"status": "succeeded", "next_action": None, "mandate": mandate["id"]})
    ctx.emit("setup_intent.succeeded", si)
    return si


def _accepted(acceptance: JSON) -> JSON:
    """`infer_from_client` (what Stripe.js sends) becomes the browser's recorded details."""
    online = acceptance.get("online") or {}
    if acceptance.get("type") == "online" and online.get("infer_from_client") in (True, "true"):
        return {
            "type": "online",
            "online": {
                "ip_address": online.get("ip_address") or "127.0.0.1",
                "user_agent": online.get("user_agent") or "sandbox-stripe-js",
            },
        }
    return acceptance


def setup_intent_verify_microdeposits(ctx: Ctx) -> JSON:
    si = _intent(ctx)
    amounts = ctx.params.get("amounts")
    return verify(
        ctx,
        si,
        amounts=list(amounts) if amounts else None,
        descriptor_code=ctx.params.get("descriptor_code"),
    )


def setup_intent_cancel(ctx: Ctx) -> JSON:
    si = ctx.store.get(ctx.args[0], ctx.account, "setup_intent", "intent")
    if si["status"] in ("succeeded", "canceled"):
        raise unexpected_state(
            "setup_intent", f"You cannot cancel this SetupIntent: it is {si['status']}."
        )
    si.update(
        {
            "status": "canceled",
            "cancellation_reason": ctx.params.get("cancellation_reason"),
            "next_action": None,
        }
    )
    ctx.emit("setup_intent.canceled", si)
    return si


ROUTES: list[Route] = [
    post("/v1/setup_intents", SI_CREATE, setup_intent_create),
    get(
        "/v1/setup_intents/{id}",
        {"client_secret": Str(), "expand": EXPAND},
        setup_intent_retrieve,
        publishable=True,
    ),
    post("/v1/setup_intents/{id}/confirm", CONFIRM_FIELDS, setup_intent_confirm, publishable=True),
    post(
        "/v1/setup_intents/{id}/verify_microdeposits",
        VERIFY_FIELDS,
        setup_intent_verify_microdeposits,
        publishable=True,
    ),
    post(
        "/v1/setup_intents/{id}/cancel",
        {
            "cancellation_reason": Enum("abandoned", "duplicate", "requested_by_customer"),
            "expand": EXPAND,
        },
        setup_intent_cancel,
    ),
]
