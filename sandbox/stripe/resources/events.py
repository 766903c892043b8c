"""The Events API: retrieve and list the last 30 days, with Stripe's filters."""

from __future__ import annotations

from fnmatch import fnmatchcase

from sandbox.stripe.context import EVENT_RETENTION_SECONDS, Ctx, Route, get
from sandbox.stripe.errors import missing, validation
from sandbox.stripe.params import EXPAND, LIST_PARAMS, Bool, ListOf, Str, in_range
from sandbox.stripe.store import JSON

EVENT_LIST = {
    **LIST_PARAMS,
    "type": Str(),
    "types": ListOf(Str(), max_items=20),
    "delivery_success": Bool(),
}


def delivered(ctx: Ctx, event: JSON) -> bool:
    """Stripe: true when every webhook endpoint has acknowledged the event."""
    return (
        event["pending_webhooks"] == 0
        and ctx.store.private_of(event["id"]).get("delivery") != "failed"
    )


def _visible(ctx: Ctx, event: JSON) -> bool:
    created: int = event["created"]
    return created >= ctx.now - EVENT_RETENTION_SECONDS


def event_retrieve(ctx: Ctx) -> JSON:
    event = ctx.store.get(ctx.args[0], ctx.account, "event")
    if not _visible(ctx, event):
        raise missing("event", ctx.args[0])
    return event


def event_list(ctx: Ctx) -> JSON:
    params = ctx.params
    if params.get("type") and params.get("types"):
        raise validation("You cannot specify both type and types.", param="types")
    items = [e for e in ctx.store.items("event", ctx.account) if _visible(ctx, e)]
    if params.get("type"):
        # `type` accepts a wildcard such as `charge.*`.
        items = [e for e in items if fnmatchcase(e["type"], params["type"])]
    if params.get("types"):
        items = [e for e in items if e["type"] in params["types"]]
    if params.get("created"):
        items = [e for e in items if in_range(e["created"], params["created"])]
    if params.get("delivery_success") is not None:
        items = [e for e in items if delivered(ctx, e) is params["delivery_success"]]
    return ctx.store.page(items, params, "/v1/events")


ROUTES: list[Route] = [
    get("/v1/events", EVENT_LIST, event_list),
    get("/v1/events/{id}", {"expand": EXPAND}, event_retrieve),
]
