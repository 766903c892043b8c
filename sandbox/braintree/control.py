"""The Braintree part of the control API (/_sandbox/braintree/...): inspect, drive test flows.

What Braintree does on its own (a cardholder disputes, the processor settles or disburses, a
dispute is decided) is triggered here; `webhooks/sample` is the SDK's `WebhookTesting`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.braintree import disputes, notifications, transactions
from sandbox.braintree.errors import HTTPError, ValidationError
from sandbox.provider import ControlError, control_ok
from sandbox.wire import Request, Response

if TYPE_CHECKING:
    from sandbox.braintree.provider import BraintreeProvider

_ACTION = re.compile(r"^(transactions|disputes)/([^/]+)/(\w+)$")
_OBJECT = re.compile(r"^objects/(transactions|customers|disputes|disbursements)/([^/]+)$")


def _choice(payload: Any, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = payload.get(name, default) if isinstance(payload, dict) else default
    if value not in allowed:
        raise ControlError(400, f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def _webhook(provider: BraintreeProvider, request: Request, payload: Any) -> Response:
    if request.method == "POST":
        if not isinstance(payload, dict) or set(payload) - {"url"}:
            raise ControlError(400, 'send {"url": "http://..."} (or null)')
        url = payload.get("url")
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise ControlError(400, "url must be an http(s) URL or null")
        provider.configure(webhook_url=url)
    return control_ok({"url": provider.webhook_url})


def _sample(provider: BraintreeProvider, payload: Any) -> Response:
    kind = _choice(payload, "kind", tuple(notifications.KINDS))
    subject_id = payload.get("id", "sample_id") if isinstance(payload, dict) else "sample_id"
    if not isinstance(subject_id, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", subject_id):
        raise ControlError(400, "id must be 1-64 letters, digits, _ or -")
    merchant_id = payload.get("merchant_id") if isinstance(payload, dict) else None
    merchant = provider.default if merchant_id is None else provider.merchant(str(merchant_id))
    if merchant is None:
        raise ControlError(400, f"merchant_id must be one of {', '.join(provider.merchants)}")
    if isinstance(payload, dict) and payload.get("deliver"):
        return control_ok(provider.emit(kind, notifications.KINDS[kind], subject_id, merchant))
    _, public_key, private_key = provider.keys(merchant)
    now = provider.services.clock.now()
    with merchant.store.lock:
        fields = notifications.build(
            merchant.store,
            kind,
            subject_id,
            now=now,
            timestamp=now,
            public_key=public_key,
            private_key=private_key,
            merchant_id=merchant.merchant_id,
        )
    return control_ok(fields)


def _action(
    provider: BraintreeProvider, request: Request, target: re.Match[str], payload: Any
) -> Response:
    """POST transactions/{id}/settle|dispute or disputes/{id}/resolve."""
    kind, object_id, action = target.groups()
    merchant = provider.holder(kind, object_id) or provider.default
    store = merchant.store
    with store.lock:
        call = provider.call(request, merchant, args=(object_id, "settle"))
        if kind == "transactions" and action in ("settle", "dispute"):
            txn = store.transactions.get(object_id)
            if txn is None:
                raise ControlError(404, f"no such transaction: {object_id}")
            if action == "settle":
                try:
                    transactions.testing(call)
                except ValidationError as exc:
                    raise ControlError(409, exc.message) from exc
            else:
                if txn["type"] != "sale" or txn["status"] not in ("settled", "settling"):
                    raise ControlError(409, "only a settling or settled sale can be disputed")
                reason = _choice(
                    payload, "reason", ("fraud", "product_not_received", "general"), "fraud"
                )
                disputes.open_dispute(store, txn, call.now, call.emit, reason)
            result: Any = store.transactions[object_id]
        elif kind == "disputes" and action == "resolve":
            record = store.disputes.get(object_id)
            if record is None:
                raise ControlError(404, f"no such dispute: {object_id}")
            if record["status"] not in ("open", "disputed"):
                raise ControlError(409, f"the dispute is already {record['status']}")
            outcome = _choice(payload, "outcome", ("won", "lost"))
            disputes.set_status(store, record, outcome, call.now, call.emit)
            result = record
        else:
            raise ControlError(404, f"no control action {action} for {kind}")
    provider.services.dirty.set()
    return control_ok(result)


def dispatch(provider: BraintreeProvider, request: Request, path: str, payload: Any) -> Response:
    method = request.method
    if path == "state" and method == "GET":
        return control_ok(provider.summary())
    merchants = list(provider.merchants.values())
    if path == "tick" and method == "POST":
        changed = []
        for merchant in merchants:
            store = merchant.store
            with store.lock:
                before = {t["id"]: t["status"] for t in store.transactions.values()}
                provider.call(request, merchant)
                changed += [
                    t["id"]
                    for t in store.transactions.values()
                    if before.get(t["id"]) != t["status"]
                ]
        provider.services.dirty.set()
        return control_ok({"changed": changed})
    if path == "disbursements" and method == "POST":
        created = []
        for merchant in merchants:
            with merchant.store.lock:
                call = provider.call(request, merchant)
                created += transactions.disburse(merchant.store, call.now, call.emit, force=True)
        provider.services.dirty.set()
        return control_ok({"disbursements": created})
    if path == "webhook" and method in ("GET", "POST"):
        return _webhook(provider, request, payload)
    if path == "webhooks/sample" and method == "POST":
        return _sample(provider, payload)
    if path == "notifications" and method == "GET":
        built = []
        for merchant in merchants:
            with merchant.store.lock:
                built += merchant.store.notifications
        return control_ok({"notifications": sorted(built, key=lambda entry: entry["at"])})
    found = _OBJECT.match(path)
    if found and method == "GET":
        kind, object_id = found.groups()
        holder = provider.holder(kind, object_id)
        if holder is None:
            raise ControlError(404, f"no such object: {object_id}")
        with holder.store.lock:
            return control_ok(getattr(holder.store, kind)[object_id])
    action = _ACTION.match(path)
    if action and method == "POST":
        try:
            return _action(provider, request, action, payload)
        except HTTPError as exc:
            raise ControlError(exc.status, exc.message) from exc
    raise ControlError(404, f"unknown control endpoint: {method} /_sandbox/braintree/{path}")
