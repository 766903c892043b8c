"""What a Stripe endpoint handler receives, how routes are declared, and event creation."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.stripe.params import Param
from sandbox.stripe.store import JSON, Auth, StripeStore, random_id

# The version stripe-python 16 pins; used when a request sends no Stripe-Version, and by the
# events the sandbox clock causes.
DEFAULT_API_VERSION = "2026-10-28.endive"
# Events older than this are no longer returned by the Events API, as at Stripe.
EVENT_RETENTION_SECONDS = 30 * 24 * 3600


@dataclass
class Ctx:
    store: StripeStore
    auth: Auth
    params: JSON
    args: tuple[str, ...]
    api_version: str
    request_id: str | None
    idempotency_key: str | None
    now: int
    base_url: str  # the sandbox origin as the client reached it, for pages we link to
    # Redeems a `btok_` issued by the sandbox's Plaid (see sandbox.server); None: none known.
    bank_tokens: Callable[[str], JSON | None] = lambda token: None

    @property
    def account(self) -> str:
        return self.auth.account

    def emit(
        self,
        event_type: str,
        obj: JSON,
        *,
        previous: JSON | None = None,
        account: str | None = None,
    ) -> JSON:
        return emit_event(
            self.store,
            platform=self.auth.platform,
            account=account or self.auth.account,
            event_type=event_type,
            obj=obj,
            previous=previous,
            api_version=self.api_version,
            now=self.now,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )


def account_ctx(store: StripeStore, account: str, *, now: int, base_url: str = "") -> Ctx:
    """A handler context acting as `account` without a request (control API, the clock)."""
    platform = store.private.get(account, {}).get("platform", account)
    return Ctx(
        store=store,
        auth=Auth(platform=platform, account=account, publishable=False),
        params={},
        args=(),
        api_version=DEFAULT_API_VERSION,
        request_id=None,
        idempotency_key=None,
        now=now,
        base_url=base_url,
    )


def emit_event(
    store: StripeStore,
    *,
    platform: str,
    account: str,
    event_type: str,
    obj: JSON,
    previous: JSON | None,
    api_version: str,
    now: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> JSON:
    """Record an event (a snapshot of `obj` now) and hand it to webhook delivery."""
    data: JSON = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    event: JSON = {
        "id": random_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": now,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
    if account != platform:
        # Connect: events on a connected account name it, so the platform can route them.
        event["account"] = account
    with store.lock:
        store.add(event, account)
        store.private_of(event["id"])["platform"] = platform
        store.on_event(event)
    return event


Handler = Callable[[Ctx], JSON]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Param]
    handler: Handler
    publishable: bool = False  # callable with a pk_ key (what Stripe.js may do)


def _route(
    method: str, path: str, spec: Mapping[str, Param], handler: Handler, publishable: bool
) -> Route:
    regex = "^" + re.sub(r"\{\w+\}", r"([^/]+)", path) + "$"
    return Route(method, re.compile(regex), spec, handler, publishable)


def get(
    path: str, spec: Mapping[str, Param], handler: Handler, *, publishable: bool = False
) -> Route:
    return _route("GET", path, spec, handler, publishable)


def post(
    path: str, spec: Mapping[str, Param], handler: Handler, *, publishable: bool = False
) -> Route:
    return _route("POST", path, spec, handler, publishable)


def delete(path: str, spec: Mapping[str, Param], handler: Handler) -> Route:
    return _route("DELETE", path, spec, handler, False)


def only(params: JSON, *names: str) -> JSON:
    """The subset of sent params among `names` (for updates: only what was sent changes)."""
    return {name: params[name] for name in names if name in params}


def merge_metadata(current: JSON, update: Any) -> JSON:
    """Stripe metadata update: "" clears all, a key set to "" is deleted, others are set."""
    if update is None:
        return current
    if update == {}:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
