"""Connect accounts (created ready to charge) and account links for onboarding pages.

Every account has a payout schedule (`settings.payouts.schedule`, daily with a 2-day delay
unless set) and an external bank account payouts go to: Stripe's test bank account
(000123456789) unless `external_account` names another, whose test number may make payouts
fail (000111111113 `account_closed`, 000111111116 `no_account`, ...).
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe.banks import TEST_ROUTING, TEST_TOKENS, bank_fingerprint, outcome_for
from sandbox.stripe.context import Ctx, Route, delete, get, merge_metadata, only, post
from sandbox.stripe.errors import invalid
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
)
from sandbox.stripe.resources.ledger import DEFAULT_DELAY_DAYS, touch
from sandbox.stripe.store import JSON, StripeStore, random_id

# Stripe's test bank account: payouts to it succeed.
DEFAULT_BANK = "000123456789"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCHEDULE = Obj(
    {
        "interval": Enum("daily", "weekly", "monthly", "manual"),
        # An integer, or "minimum" (checked in _schedule: the schema has no either-or type).
        "delay_days": Str(max_length=10),
        "weekly_anchor": Enum(*WEEKDAYS),
        "weekly_payout_days": ListOf(Enum(*WEEKDAYS[:5]), max_items=5),
        "monthly_anchor": Int(minimum=1, maximum=31),
        "monthly_payout_days": ListOf(Int(minimum=1, maximum=31), max_items=31),
    }
)
SETTINGS = Obj(
    {
        "payouts": Obj(
            {
                "schedule": SCHEDULE,
                "debit_negative_balances": Bool(),
                "statement_descriptor": Str(max_length=22),
            }
        ),
        # Accepted as sent: branding and descriptors the sandbox does not act on.
        **{
            name: Loose()
            for name in (
                "bacs_debit_payments",
                "branding",
                "card_issuing",
                "card_payments",
                "invoices",
                "payments",
                "treasury",
            )
        },
    }
)

BUSINESS_PROFILE = Obj(
    {
        k: Str()
        for k in ("name", "url", "mcc", "product_description", "support_email", "support_phone")
    }
)
ACCOUNT_FIELDS = {
    "email": Str(),
    "business_type": Enum("company", "individual", "non_profit", "government_entity"),
    "business_profile": BUSINESS_PROFILE,
    "metadata": Metadata(),
    "default_currency": Str(),
    # Accepted as sent: the sandbox treats every account as fully verified.
    "capabilities": Loose(),
    "company": Loose(),
    "individual": Loose(),
    "settings": SETTINGS,
    "tos_acceptance": Loose(),
    # A `btok_` test token or a bank_account hash (checked in _external_account).
    "external_account": Loose(),
    "expand": EXPAND,
}
ACCOUNT_CREATE = {
    **ACCOUNT_FIELDS,
    "type": Enum("standard", "express", "custom"),
    "country": Str(),
    "controller": Loose(),
}


def _requirements() -> JSON:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def default_settings(name: str | None) -> JSON:
    """A new account's settings: a daily payout schedule with Stripe's US 2-day delay."""
    return {
        "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
        "card_payments": {"statement_descriptor_prefix": None},
        "dashboard": {"display_name": name, "timezone": "Etc/UTC"},
        "payments": {"statement_descriptor": None},
        "payouts": {
            "debit_negative_balances": True,
            "schedule": {"delay_days": DEFAULT_DELAY_DAYS, "interval": "daily"},
            "statement_descriptor": None,
        },
    }


def account_json(account_id: str, now: int, params: JSON, account_type: str) -> JSON:
    profile = params.get("business_profile") or {}
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_address": None,
            "support_email": profile.get("support_email"),
            "support_phone": profile.get("support_phone"),
            "support_url": None,
            "url": profile.get("url"),
        },
        "business_type": params.get("business_type"),
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": (params.get("country") or "US").upper(),
        "created": now,
        "default_currency": params.get("default_currency") or "usd",
        "details_submitted": True,
        "email": params.get("email"),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": _requirements(),
        "metadata": params.get("metadata") or {},
        "payouts_enabled": True,
        "settings": default_settings(profile.get("name")),
        "requirements": _requirements(),
        "tos_acceptance": {"date": now, "ip": "127.0.0.1", "user_agent": None},
        "type": account_type,
    }


def _bank_facts(value: object) -> JSON:
    """What `external_account` names: a `btok_us_verified*` token or a bank_account hash."""
    if isinstance(value, str) and value in TEST_TOKENS:
        return {"routing_number": TEST_ROUTING, "account_number": TEST_TOKENS[value]}
    if isinstance(value, dict) and value.get("object") == "bank_account":
        number, routing = value.get("account_number"), value.get("routing_number", TEST_ROUTING)
        if not (isinstance(number, str) and number.isdigit() and 4 <= len(number) <= 17):
            raise invalid(
                "Invalid account number: 4 to 17 digits.",
                param="external_account[account_number]",
            )
        if not (isinstance(routing, str) and routing.isdigit() and len(routing) == 9):
            raise invalid(
                "Invalid routing number: 9 digits.", param="external_account[routing_number]"
            )
        currency = value.get("currency", "usd")
        holder = value.get("account_holder_name")
        return {
            "routing_number": routing,
            "account_number": number,
            "currency": currency if isinstance(currency, str) else "usd",
            "account_holder_name": holder if isinstance(holder, str) else None,
        }
    raise invalid(
        "external_account must be a test bank token (btok_us_verified...) or a bank_account "
        "hash with account_number and routing_number.",
        param="external_account",
    )


def attach_bank(store: StripeStore, account: JSON, facts: JSON) -> JSON:
    """Make `facts` the account's default external account (the one payouts go to)."""
    number = facts["account_number"]
    bank = {
        "id": random_id("ba"),
        "object": "bank_account",
        "account": account["id"],
        "account_holder_name": facts.get("account_holder_name"),
        "account_holder_type": None,
        "account_type": None,
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": facts.get("currency") or account["default_currency"],
        "default_for_currency": True,
        "fingerprint": bank_fingerprint(facts["routing_number"], number),
        "last4": number[-4:],
        "metadata": {},
        "routing_number": facts["routing_number"],
        "status": "new",
    }
    store.private_of(bank["id"])["payout_failure"] = outcome_for(number).failure_code
    accounts = account["external_accounts"]
    for other in accounts["data"]:
        other["default_for_currency"] = False
    accounts["data"] = [bank, *accounts["data"]]
    accounts["total_count"] = len(accounts["data"])
    return bank


def _schedule(account: JSON, sent: JSON | None) -> JSON | None:
    """Apply `settings[payouts][schedule]`; the previous schedule, or None when not sent."""
    if not sent:
        return None
    current = account["settings"]["payouts"]["schedule"]
    previous = dict(current)
    interval = sent.get("interval") or current["interval"]
    delay = sent.get("delay_days")
    if delay is not None and interval == "manual":
        raise invalid(
            "delay_days cannot be set when the payout interval is manual.",
            param="settings[payouts][schedule][delay_days]",
        )
    if (
        delay is not None
        and delay != "minimum"
        and not (delay.isdigit() and DEFAULT_DELAY_DAYS <= int(delay) <= 365)
    ):
        raise invalid(
            f"Invalid delay_days: 'minimum' or a number of days from {DEFAULT_DELAY_DAYS} to 365.",
            param="settings[payouts][schedule][delay_days]",
        )
    schedule: JSON = {
        "delay_days": DEFAULT_DELAY_DAYS
        if delay == "minimum"
        else int(delay or current["delay_days"]),
        "interval": interval,
    }
    for name, needed in (
        ("weekly", ("weekly_anchor", "weekly_payout_days")),
        ("monthly", ("monthly_anchor", "monthly_payout_days")),
    ):
        if interval != name:
            continue
        for key in needed:
            value = sent.get(key) if key in sent else current.get(key)
            if value:
                schedule[key] = value
        if not any(key in schedule for key in needed):
            raise invalid(
                f"A {name} payout schedule needs {needed[0]} (or {needed[1]}).",
                param=f"settings[payouts][schedule][{needed[0]}]",
            )
    account["settings"]["payouts"]["schedule"] = schedule
    return previous


def _apply_settings(store: StripeStore, account: JSON, params: JSON) -> JSON:
    """Payout settings and external account from create/update params; what changed before."""
    previous: JSON = {}
    # An account from a state file written before payouts existed has no settings yet.
    account.setdefault("settings", default_settings(account["business_profile"].get("name")))
    payouts = (params.get("settings") or {}).get("payouts") or {}
    before = _schedule(account, payouts.get("schedule"))
    if before is not None:
        previous["settings"] = {"payouts": {"schedule": before}}
    for name in ("debit_negative_balances", "statement_descriptor"):
        if name in payouts:
            account["settings"]["payouts"][name] = payouts[name]
    if params.get("external_account") is not None:
        previous["external_accounts"] = {"total_count": account["external_accounts"]["total_count"]}
        attach_bank(store, account, _bank_facts(params["external_account"]))
    return previous


def ensure_platform(store: StripeStore, platform: str, now: int) -> JSON:
    """The platform's own account object, made on first use of its key."""
    with store.lock:
        existing = store.find(platform, platform, "account")
        if existing is not None:
            return existing
        account = store.add(account_json(platform, now, {}, "standard"), platform)
        attach_bank(
            store, account, {"routing_number": TEST_ROUTING, "account_number": DEFAULT_BANK}
        )
        return account


def connected_platform(store: StripeStore, account_id: str) -> str | None:
    with store.lock:
        return store.private.get(account_id, {}).get("platform")


def _platform_only(ctx: Ctx) -> None:
    if ctx.auth.connected:
        raise invalid(
            "This request cannot be made on behalf of a connected account (Stripe-Account).",
            status=403,
        )


def _connected(ctx: Ctx, account_id: str) -> JSON:
    _platform_only(ctx)
    return ctx.store.get(account_id, ctx.auth.platform, "account", "account")


def account_create(ctx: Ctx) -> JSON:
    _platform_only(ctx)
    account = account_json(
        random_id("acct", 16), ctx.now, ctx.params, ctx.params.get("type") or "express"
    )
    ctx.store.add(account, ctx.auth.platform)
    ctx.store.private_of(account["id"])["platform"] = ctx.auth.platform
    if ctx.params.get("external_account") is None:
        attach_bank(
            ctx.store, account, {"routing_number": TEST_ROUTING, "account_number": DEFAULT_BANK}
        )
    _apply_settings(ctx.store, account, ctx.params)
    # Sandbox accounts are verified at once, so Connect hears it is ready to charge.
    ctx.emit("account.updated", account, previous={"charges_enabled": False}, account=account["id"])
    return account


def account_retrieve(ctx: Ctx) -> JSON:
    if ctx.auth.connected and ctx.args[0] == ctx.account:
        return ctx.store.get(ctx.account, ctx.auth.platform, "account")
    if ctx.args[0] == ctx.auth.platform:
        return ensure_platform(ctx.store, ctx.auth.platform, ctx.now)
    return _connected(ctx, ctx.args[0])


def account_current(ctx: Ctx) -> JSON:
    if ctx.auth.connected:
        return ctx.store.get(ctx.account, ctx.auth.platform, "account")
    return ensure_platform(ctx.store, ctx.auth.platform, ctx.now)


def account_update(ctx: Ctx) -> JSON:
    account = _connected(ctx, ctx.args[0])
    previous: dict[str, Any] = {}
    for name, value in only(ctx.params, "email", "business_type", "default_currency").items():
        previous[name] = account[name]
        account[name] = value
    if ctx.params.get("business_profile"):
        previous["business_profile"] = dict(account["business_profile"])
        account["business_profile"].update(ctx.params["business_profile"])
    if "metadata" in ctx.params:
        previous["metadata"] = account["metadata"]
        account["metadata"] = merge_metadata(account["metadata"], ctx.params["metadata"])
    previous.update(_apply_settings(ctx.store, account, ctx.params))
    touch(ctx.store, account["id"])
    ctx.emit("account.updated", account, previous=previous, account=account["id"])
    return account


def account_delete(ctx: Ctx) -> JSON:
    account = _connected(ctx, ctx.args[0])
    with ctx.store.lock:
        del ctx.store.objects[account["id"]]
        ctx.store.private_of(account["id"])["deleted"] = True
    return {"id": account["id"], "object": "account", "deleted": True}


def account_list(ctx: Ctx) -> JSON:
    _platform_only(ctx)
    items = [
        a for a in ctx.store.items("account", ctx.auth.platform) if a["id"] != ctx.auth.platform
    ]
    return ctx.store.page(items, ctx.params, "/v1/accounts")


ACCOUNT_LINK_CREATE = {
    "account": Str(required=True),
    "type": Enum("account_onboarding", "account_update", required=True),
    "refresh_url": Str(),
    "return_url": Str(),
    "collect": Enum("currently_due", "eventually_due"),
    "collection_options": Loose(),
    "expand": EXPAND,
}


def account_link_create(ctx: Ctx) -> JSON:
    account = _connected(ctx, ctx.params["account"])
    token = random_id("link", 24)
    ctx.store.private_of(token).update(
        {
            "account": account["id"],
            "return_url": ctx.params.get("return_url"),
            "expires": ctx.now + 300,
        }
    )
    return {
        "object": "account_link",
        "created": ctx.now,
        "expires_at": ctx.now + 300,
        "url": f"{ctx.base_url}/stripe/connect/onboarding/{token}",
    }


ROUTES: list[Route] = [
    post("/v1/accounts", ACCOUNT_CREATE, account_create),
    get("/v1/accounts", LIST_PARAMS, account_list),
    get("/v1/account", {"expand": EXPAND}, account_current),
    get("/v1/accounts/{id}", {"expand": EXPAND}, account_retrieve),
    post("/v1/accounts/{id}", ACCOUNT_FIELDS, account_update),
    delete("/v1/accounts/{id}", {}, account_delete),
    post("/v1/account_links", ACCOUNT_LINK_CREATE, account_link_create),
]
