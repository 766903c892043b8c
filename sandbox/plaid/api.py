"""Plaid's API endpoints (JSON POST bodies), one function per path, and how objects render.

Each handler receives a `Call` (the parsed body, the sandbox time, the store and key ring)
under the store lock and returns the response body without `request_id`; the provider adds
it and renders any `PlaidError` raised. What Plaid never shows (full account numbers, tokens
of other kinds, micro-deposit codes) stays out of every renderer but `/auth/get`'s numbers.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.plaid import errors, items
from sandbox.plaid.errors import PlaidError
from sandbox.plaid.items import VERIFIED, Emit, iso
from sandbox.plaid.keys import KeyRing
from sandbox.plaid.store import ENVIRONMENT, JSON, PlaidStore, token

LINK_TOKEN_SECONDS = 4 * 3600
# Products Plaid's enum knows that the sandbox lists as available on every Item.
AVAILABLE_PRODUCTS = ["balance", "identity", "transactions"]
KNOWN_PRODUCTS = frozenset({"auth", "balance", "identity", "transactions", "transfer", "signal"})
PROCESSORS = frozenset({"stripe", "dwolla", "modern_treasury", "moov", "adyen", "checkout"})
VERIFICATION_STATUSES = frozenset(
    {
        "automatically_verified",
        "pending_automatic_verification",
        "pending_manual_verification",
        "unsent",
        "manually_verified",
        "verification_expired",
        "verification_failed",
        "database_matched",
        "database_insights_pass",
        "database_insights_pass_with_caution",
        "database_insights_fail",
    }
)
_TOKEN = re.compile(r"^(access|public|link)-(sandbox|development|production)-[0-9a-f-]{36}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")


@dataclass
class Call:
    body: JSON
    now: int
    store: PlaidStore
    keys: KeyRing
    emit: Emit


Handler = Callable[[Call], JSON]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


# --- rendering -------------------------------------------------------------------------------
def render_account(account: JSON) -> JSON:
    out: JSON = {
        "account_id": account["account_id"],
        "balances": {
            "available": account["available"],
            "current": account["current"],
            "limit": account["limit"],
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
        },
        "mask": account["mask"],
        "name": account["name"],
        "official_name": account["official_name"],
        "type": account["type"],
        "subtype": account["subtype"],
        "holder_category": "personal",
    }
    # Plaid includes these only when they apply (micro-deposit accounts, supporting banks).
    if account["verification_status"] is not None:
        out["verification_status"] = account["verification_status"]
    if account.get("persistent_account_id"):
        out["persistent_account_id"] = account["persistent_account_id"]
    return out


def render_item(item: JSON, *, consent_fields: bool = False) -> JSON:
    expires = item["consent_expiration_time"]
    out: JSON = {
        "item_id": item["item_id"],
        "institution_id": item["institution_id"],
        "institution_name": item["institution_name"],
        "webhook": item["webhook"],
        "auth_method": item["auth_method"],
        "error": item["error"],
        "available_products": [p for p in AVAILABLE_PRODUCTS if p not in item["products"]],
        "billed_products": list(item["products"]),
        "products": list(item["products"]),
        "consented_products": list(item["products"]),
        "consent_expiration_time": iso(expires) if expires else None,
        "update_type": "background",
    }
    if consent_fields:
        out["created_at"] = iso(item["created_at"])
    return out


# --- field helpers ---------------------------------------------------------------------------
def _field_error(name: str, message: str) -> PlaidError:
    return errors.invalid_request("INVALID_FIELD", f"{name} {message}")


def text(body: JSON, name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.invalid_request(
                "MISSING_FIELDS", f"the following required fields are missing: {name}"
            )
        return ""
    if not isinstance(value, str):
        raise _field_error(name, "must be a string")
    return value


def obj(body: JSON, name: str) -> JSON:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _field_error(name, "must be an object")
    return value


def strings(body: JSON, name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _field_error(name, "must be a list of strings")
    return value


def flag(body: JSON, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _field_error(name, "must be a boolean")
    return value


def webhook_url(value: str) -> str | None:
    if not value:
        return None
    if not _URL.match(value):
        raise _field_error("webhook", "must be an http(s) URL")
    return value


def products(values: list[str] | None, name: str) -> list[str]:
    for value in values or []:
        if value not in KNOWN_PRODUCTS:
            raise errors.invalid_input(
                "INVALID_PRODUCT", f"{name} contains an invalid product: {value}"
            )
    return list(dict.fromkeys(values or []))


def item_for(call: Call, *, usable: bool = False) -> JSON:
    """The Item an access token names; `usable` also refuses Items in an error state."""
    value = text(call.body, "access_token")
    match = _TOKEN.match(value)
    if match is None or match.group(1) != "access":
        raise errors.invalid_input(
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: "
            "access-<environment>-<identifier>",
        )
    if match.group(2) != ENVIRONMENT:
        raise errors.invalid_input(
            "INVALID_ACCESS_TOKEN",
            f"provided access token is for the {match.group(2)} environment, not sandbox",
        )
    item_id = call.store.access_tokens.get(value)
    if item_id is None:
        raise errors.invalid_input(
            "INVALID_ACCESS_TOKEN", "could not find matching access token (it may be invalidated)"
        )
    item = call.store.items.get(item_id)
    if item is None:
        raise errors.item_not_found()
    if usable and item["error"] is not None:
        error = item["error"]
        raise PlaidError(
            error["error_type"],
            error["error_code"],
            error["error_message"],
            display_message=error["display_message"],
        )
    return item


def accounts_for(call: Call, item: JSON) -> list[JSON]:
    wanted = strings(obj(call.body, "options"), "account_ids")
    if wanted is None:
        return list(item["accounts"])
    by_id = {a["account_id"]: a for a in item["accounts"]}
    unknown = [a for a in wanted if a not in by_id]
    if unknown:
        raise errors.invalid_input(
            "INVALID_ACCOUNT_ID", f"one or more of the account IDs is invalid: {unknown[0]}"
        )
    return [by_id[a] for a in wanted]


def account_for(call: Call, item: JSON) -> JSON:
    account_id = text(call.body, "account_id")
    accounts: list[JSON] = item["accounts"]
    for account in accounts:
        if account["account_id"] == account_id:
            return account
    raise errors.invalid_input("INVALID_ACCOUNT_ID", f"invalid account_id provided: {account_id}")


# --- endpoints -------------------------------------------------------------------------------
def link_token_create(call: Call) -> JSON:
    body = call.body
    text(body, "client_name")
    text(body, "language")
    countries = strings(body, "country_codes")
    if not countries:
        raise _field_error("country_codes", "must list at least one country")
    user = obj(body, "user")
    if not text(user, "client_user_id", required=False) and not body.get("user_token"):
        raise errors.invalid_request(
            "MISSING_FIELDS", "the following required fields are missing: user.client_user_id"
        )
    item_id = None
    if body.get("access_token") is not None:
        item_id = item_for(call)["item_id"]  # update mode: the Item must exist
    wanted = products(strings(body, "products"), "products")
    if item_id is None and not wanted:
        raise errors.invalid_request(
            "MISSING_FIELDS", "the following required fields are missing: products"
        )
    auth = obj(body, "auth")
    # Account Select in update mode; like Plaid, the flag means nothing without access_token.
    account_selection = flag(obj(body, "update"), "account_selection_enabled", False)
    value = token("link")
    call.store.link_tokens[value] = {
        "created": call.now,
        "expires": call.now + LINK_TOKEN_SECONDS,
        "client_name": body["client_name"],
        "client_user_id": user.get("client_user_id"),
        "products": wanted or ["auth"],
        "webhook": webhook_url(text(body, "webhook", required=False)),
        "item_id": item_id,
        "redirect_uri": text(body, "redirect_uri", required=False) or None,
        # Plaid turns automated micro-deposits on for Auth by default; same-day is opt-in.
        "automated_microdeposits": flag(auth, "automated_microdeposits_enabled", True),
        "same_day_microdeposits": flag(auth, "same_day_microdeposits_enabled", False),
        "account_selection": account_selection and item_id is not None,
    }
    return {"link_token": value, "expiration": iso(call.now + LINK_TOKEN_SECONDS)}


def public_token_exchange(call: Call) -> JSON:
    value = text(call.body, "public_token")
    found = call.store.public_tokens.pop(value, None)
    if found is None or found["expires"] < call.now:
        raise errors.invalid_input(
            "INVALID_PUBLIC_TOKEN",
            "provided public token is expired or was already exchanged. Public tokens expire 30 "
            "minutes after creation and can be exchanged once",
        )
    item = call.store.items.get(found["item_id"])
    if item is None:
        raise errors.item_not_found()
    return {"access_token": item["access_token"], "item_id": item["item_id"]}


def accounts_get(call: Call) -> JSON:
    item = item_for(call, usable=True)
    return {
        "accounts": [render_account(a) for a in accounts_for(call, item)],
        "item": render_item(item),
    }


def auth_get(call: Call) -> JSON:
    item = item_for(call, usable=True)
    accounts = [a for a in accounts_for(call, item) if a["type"] == "depository"]
    if not accounts:
        raise errors.item_error("NO_AUTH_ACCOUNTS", "no valid checking or savings account(s) found")
    if any(a["verification_status"] == "pending_automatic_verification" for a in accounts):
        raise errors.product_not_ready(
            "the requested product is not yet ready: the automated micro-deposit has not been "
            "verified"
        )
    if any(
        a["verification_status"] in ("verification_expired", "verification_failed")
        and item["auth_method"] == items.AUTOMATED
        for a in accounts
    ):
        raise errors.item_error(
            "VERIFICATION_EXPIRED", "the automated micro-deposit verification has expired"
        )
    return {
        "accounts": [render_account(a) for a in accounts],
        "numbers": {
            "ach": [
                {
                    "account_id": a["account_id"],
                    "account": a["account_number"],
                    "routing": a["routing"],
                    "wire_routing": a.get("wire_routing"),
                }
                for a in accounts
            ],
            "eft": [],
            "international": [],
            "bacs": [],
        },
        "item": render_item(item),
    }


def item_get(call: Call) -> JSON:
    return {"item": render_item(item_for(call), consent_fields=True)}


def item_remove(call: Call) -> JSON:
    item = item_for(call)
    store = call.store
    del store.items[item["item_id"]]
    # The access token stays known so later calls answer ITEM_NOT_FOUND, as Plaid's do.
    for table in (store.public_tokens, store.processor_tokens, store.bank_account_tokens):
        for key in [k for k, v in table.items() if v.get("item_id") == item["item_id"]]:
            del table[key]
    return {}


def access_token_invalidate(call: Call) -> JSON:
    item = item_for(call)
    del call.store.access_tokens[item["access_token"]]
    item["access_token"] = token("access")
    call.store.access_tokens[item["access_token"]] = item["item_id"]
    return {"new_access_token": item["access_token"]}


def _money_account(call: Call) -> tuple[JSON, JSON]:
    item = item_for(call, usable=True)
    account = account_for(call, item)
    if account["type"] != "depository":
        raise errors.item_error(
            "NO_AUTH_ACCOUNTS", "only checking and savings accounts can move money"
        )
    if account["verification_status"] not in VERIFIED:
        raise errors.product_not_ready(
            f"the account is {account['verification_status']}; verify it before creating a "
            "processor token"
        )
    return item, account


def stripe_bank_account_token(call: Call) -> JSON:
    item, account = _money_account(call)
    value = "btok_" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(24)
    )
    call.store.bank_account_tokens[value] = {
        "item_id": item["item_id"],
        "account_id": account["account_id"],
        "mask": account["mask"],
        "created": call.now,
    }
    return {"stripe_bank_account_token": value}


def redeem_stripe_bank_account_token(store: PlaidStore, value: str) -> JSON | None:
    """What the Stripe stand-in (same process) learns from a `btok_`: the bank's answer.

    None for a token Plaid never issued (or whose Item was removed); `{"used": True}` for one
    already redeemed, since Stripe tokens are single-use. The full numbers leave here only to
    the Stripe stand-in, which keeps last 4, routing number and a fingerprint, as Stripe does.
    """
    with store.lock:
        issued = store.bank_account_tokens.get(value)
        if issued is None:
            return None
        if issued.get("used"):
            return {"used": True}
        found = store.account(issued["account_id"])
        if found is None:
            return None
        item, account = found
        issued["used"] = True
        return {
            "used": False,
            "routing_number": account["routing"],
            "account_number": account["account_number"],
            "account_type": account["subtype"],
            "bank_name": item.get("institution_name") or "STRIPE TEST BANK",
            "account_holder_name": account.get("owner_name") or account["name"],
        }


def processor_token_create(call: Call) -> JSON:
    processor = text(call.body, "processor")
    if processor not in PROCESSORS:
        raise _field_error("processor", f"must be one of {', '.join(sorted(PROCESSORS))}")
    item, account = _money_account(call)
    value = token("processor")
    call.store.processor_tokens[value] = {
        "item_id": item["item_id"],
        "account_id": account["account_id"],
        "processor": processor,
    }
    return {"processor_token": value}


def verification_key_get(call: Call) -> JSON:
    kid = text(call.body, "key_id")
    key = call.keys.get(kid)
    if key is None:
        raise errors.invalid_input(
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID", f"invalid key_id provided: {kid}"
        )
    return {"key": key.jwk()}


def sandbox_public_token_create(call: Call) -> JSON:
    inst = items.institution(text(call.body, "institution_id"))
    initial = products(strings(call.body, "initial_products"), "initial_products")
    if not initial:
        raise _field_error("initial_products", "must list at least one product")
    options = obj(call.body, "options")
    username = text(options, "override_username", required=False) or "user_good"
    password = text(options, "override_password", required=False) or "pass_good"
    method = items.check_login(inst, username, password, automated=True)
    # Link would ask for the numbers at Houndstooth; the API flow uses Plaid's test ones.
    numbers = (inst.routing, "1111222233330000") if method == items.AUTOMATED else None
    item = items.link_credentials(
        call.store,
        inst=inst,
        method=method,
        username=username,
        templates=items.selectable(method),
        webhook=webhook_url(text(options, "webhook", required=False)),
        products=initial,
        now=call.now,
        numbers=numbers,
    )
    return {"public_token": items.public_token(call.store, item, call.now)}


def sandbox_set_verification_status(call: Call) -> JSON:
    item = item_for(call)
    account = account_for(call, item)
    status = text(call.body, "verification_status")
    if status not in ("automatically_verified", "verification_expired"):
        raise _field_error(
            "verification_status", "must be automatically_verified or verification_expired"
        )
    if account["verification_status"] != "pending_automatic_verification":
        raise errors.invalid_request(
            "INVALID_FIELD",
            "the account is not pending automatic verification (only automated micro-deposit "
            "accounts can be set)",
        )
    items.set_verification(item, account, status, call.emit)
    return {}


_CODE_TYPES = {
    **dict.fromkeys(items.ITEM_CODES, "ITEM"),
    **dict.fromkeys(items.AUTH_CODES, "AUTH"),
}


def sandbox_fire_webhook(call: Call) -> JSON:
    item = item_for(call)
    code = text(call.body, "webhook_code")
    webhook_type = text(call.body, "webhook_type", required=False) or _CODE_TYPES.get(code, "")
    if not item["webhook"]:
        raise PlaidError(
            "SANDBOX_ERROR",
            "SANDBOX_WEBHOOK_INVALID",
            "the Item has no webhook URL: set one in /link/token/create or "
            "/sandbox/public_token/create",
        )
    items.fire(item, webhook_type, code, call.now, call.emit)
    return {"webhook_fired": True}


def sandbox_reset_login(call: Call) -> JSON:
    item = item_for(call)
    items.fire(item, "ITEM", "ERROR", call.now, call.emit)
    return {"reset_login": True}


_ACCESS = ("access_token",)
ENDPOINTS: dict[str, Endpoint] = {
    "/link/token/create": Endpoint(
        link_token_create,
        ("client_name", "language", "country_codes"),
        (
            "user",
            "user_id",
            "user_token",
            "products",
            "required_if_supported_products",
            "optional_products",
            "additional_consented_products",
            "webhook",
            "access_token",
            "access_tokens",
            "link_customization_name",
            "appearance_mode",
            "redirect_uri",
            "android_package_name",
            "institution_data",
            "card_switch",
            "account_filters",
            "eu_config",
            "institution_id",
            "payment_configuration",
            "payment_initiation",
            "employment",
            "income_verification",
            "base_report",
            "credit_partner_insights",
            "cra_options",
            "cra_report_parameter",
            "consumer_report_permissible_purpose",
            "auth",
            "transfer",
            "update",
            "identity",
            "identity_verification",
            "investments",
            "investments_auth",
            "statements",
            "transactions",
            "hosted_link",
            "cra_enabled",
            "cashflow_report",
            "enable_multi_item_link",
            "financekit_supported",
            "third_party_user_token",
        ),
    ),
    "/item/public_token/exchange": Endpoint(public_token_exchange, ("public_token",)),
    "/accounts/get": Endpoint(accounts_get, _ACCESS, ("options",)),
    "/auth/get": Endpoint(auth_get, _ACCESS, ("options",)),
    "/item/get": Endpoint(item_get, _ACCESS),
    "/item/remove": Endpoint(item_remove, _ACCESS, ("reason_code", "reason_note")),
    "/item/access_token/invalidate": Endpoint(access_token_invalidate, _ACCESS),
    "/processor/stripe/bank_account_token/create": Endpoint(
        stripe_bank_account_token, ("access_token", "account_id")
    ),
    "/processor/token/create": Endpoint(
        processor_token_create, ("access_token", "account_id", "processor")
    ),
    "/webhook_verification_key/get": Endpoint(verification_key_get, ("key_id",)),
    "/sandbox/public_token/create": Endpoint(
        sandbox_public_token_create,
        ("institution_id", "initial_products"),
        ("options", "user_id", "user_token"),
    ),
    "/sandbox/item/set_verification_status": Endpoint(
        sandbox_set_verification_status, ("access_token", "account_id", "verification_status")
    ),
    "/sandbox/item/fire_webhook": Endpoint(
        sandbox_fire_webhook, ("access_token", "webhook_code"), ("webhook_type", "options")
    ),
    "/sandbox/item/reset_login": Endpoint(sandbox_reset_login, _ACCESS),
}


def check_fields(endpoint: Endpoint, body: JSON) -> None:
    """Plaid refuses unknown top-level fields and names every missing required one."""
    allowed = {"client_id", "secret", *endpoint.required, *endpoint.optional}
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise errors.invalid_request(
            "UNKNOWN_FIELDS",
            f"the following fields are not recognized by this endpoint: {', '.join(unknown)}",
        )
    missing = [k for k in endpoint.required if body.get(k) is None]
    if missing:
        raise errors.invalid_request(
            "MISSING_FIELDS", f"the following required fields are missing: {', '.join(missing)}"
        )
