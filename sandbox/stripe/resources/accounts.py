"""Connect accounts (created ready to charge) and account links for onboarding pages."""

from __future__ import annotations

from typing import Any

from sandbox.stripe.context import Ctx, Route, delete, get, merge_metadata, only, post
from sandbox.stripe.errors import invalid
from sandbox.stripe.params import EXPAND, LIST_PARAMS, Enum, Loose, Metadata, Obj, Str
from sandbox.stripe.store import JSON, StripeStore, random_id

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
    "settings": Loose(),
    "tos_acceptance": Loose(),
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
        "requirements": _requirements(),
        "tos_acceptance": {"date": now, "ip": "127.0.0.1", "user_agent": None},
        "type": account_type,
    }


def ensure_platform(store: StripeStore, platform: str, now: int) -> JSON:
    """The platform's own account object, made on first use of its key."""
    with store.lock:
        existing = store.find(platform, platform, "account")
        if existing is not None:
            return existing
        return store.add(account_json(platform, now, {}, "standard"), platform)


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
