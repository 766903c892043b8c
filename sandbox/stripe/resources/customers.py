"""Customers: create, retrieve, update, delete (a tombstone stays retrievable), list."""

from __future__ import annotations

import secrets
import string

from sandbox.stripe.context import Ctx, Route, delete, get, merge_metadata, only, post
from sandbox.stripe.errors import invalid
from sandbox.stripe.params import ADDRESS, EXPAND, LIST_PARAMS, Metadata, Obj, Str, in_range
from sandbox.stripe.resources.payment_methods import attach, resolve_payment_method
from sandbox.stripe.store import JSON, random_id

CUSTOMER_FIELDS = {
    "email": Str(max_length=512),
    "name": Str(max_length=256),
    "description": Str(),
    "phone": Str(max_length=20),
    "address": ADDRESS,
    "metadata": Metadata(),
    "invoice_settings": Obj({"default_payment_method": Str()}),
    "preferred_locales": Str(),
    "expand": EXPAND,
}
CUSTOMER_CREATE = {**CUSTOMER_FIELDS, "payment_method": Str()}
SIMPLE_FIELDS = ("email", "name", "description", "phone")


def _address(sent: JSON | None) -> JSON | None:
    if not sent:
        return None
    return {k: sent.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def _live(ctx: Ctx, customer_id: str, param: str = "id") -> JSON:
    customer = ctx.store.get(customer_id, ctx.account, "customer", param)
    if customer.get("deleted"):
        raise invalid(
            f"No such customer: '{customer_id}'", param=param, code="resource_missing", status=404
        )
    return customer


def _set_default_pm(ctx: Ctx, customer: JSON, pm_id: str | None) -> None:
    if pm_id is not None:
        pm = ctx.store.find(pm_id, ctx.account, "payment_method")
        if pm is None or pm["customer"] != customer["id"]:
            raise invalid(
                f"The customer does not have a payment method with the ID {pm_id}. The payment "
                "method must be attached to the customer.",
                param="invoice_settings[default_payment_method]",
                code="resource_missing",
            )
    customer["invoice_settings"]["default_payment_method"] = pm_id


def customer_create(ctx: Ctx) -> JSON:
    customer: JSON = {
        "id": random_id("cus", 14),
        "object": "customer",
        "address": _address(ctx.params.get("address")),
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": ctx.params.get("description"),
        "discount": None,
        "email": ctx.params.get("email"),
        "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": ctx.params.get("metadata") or {},
        "name": ctx.params.get("name"),
        "next_invoice_sequence": 1,
        "phone": ctx.params.get("phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    ctx.store.add(customer, ctx.account)
    if ctx.params.get("payment_method"):
        attach(ctx, resolve_payment_method(ctx, ctx.params["payment_method"]), customer["id"])
    if (ctx.params.get("invoice_settings") or {}).get("default_payment_method"):
        _set_default_pm(ctx, customer, ctx.params["invoice_settings"]["default_payment_method"])
    ctx.emit("customer.created", customer)
    return customer


def customer_retrieve(ctx: Ctx) -> JSON:
    # A deleted customer is still retrievable as a tombstone, as at Stripe.
    return ctx.store.get(ctx.args[0], ctx.account, "customer")


def customer_update(ctx: Ctx) -> JSON:
    customer = _live(ctx, ctx.args[0])
    previous: JSON = {}
    for name, value in only(ctx.params, *SIMPLE_FIELDS).items():
        previous[name] = customer[name]
        customer[name] = value
    if "address" in ctx.params:
        previous["address"] = customer["address"]
        customer["address"] = _address(ctx.params["address"])
    if "metadata" in ctx.params:
        previous["metadata"] = customer["metadata"]
        customer["metadata"] = merge_metadata(customer["metadata"], ctx.params["metadata"])
    settings = ctx.params.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        previous["invoice_settings"] = dict(customer["invoice_settings"])
        _set_default_pm(ctx, customer, settings["default_payment_method"])
    ctx.emit("customer.updated", customer, previous=previous)
    return customer


def customer_delete(ctx: Ctx) -> JSON:
    customer = _live(ctx, ctx.args[0])
    snapshot = dict(customer)
    for pm in ctx.store.items("payment_method", ctx.account):
        if pm["customer"] == customer["id"]:
            pm["customer"] = None
    tombstone = {"id": customer["id"], "object": "customer", "deleted": True}
    with ctx.store.lock:
        ctx.store.objects[customer["id"]] = tombstone
    ctx.emit("customer.deleted", snapshot)
    return tombstone


def customer_list(ctx: Ctx) -> JSON:
    items = [c for c in ctx.store.items("customer", ctx.account) if not c.get("deleted")]
    if ctx.params.get("email"):
        items = [c for c in items if c["email"] == ctx.params["email"]]
    if ctx.params.get("created"):
        items = [c for c in items if in_range(c["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/customers")


ROUTES: list[Route] = [
    post("/v1/customers", CUSTOMER_CREATE, customer_create),
    get("/v1/customers", {**LIST_PARAMS, "email": Str(max_length=512)}, customer_list),
    get("/v1/customers/{id}", {"expand": EXPAND}, customer_retrieve),
    post("/v1/customers/{id}", CUSTOMER_FIELDS, customer_update),
    delete("/v1/customers/{id}", {}, customer_delete),
]
