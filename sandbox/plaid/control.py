"""The Plaid part of the control API (/_sandbox/plaid/...): inspect Items, drive what Plaid
does on its own (deposits landing, users revoking access), and rotate or break webhook keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.plaid import api, items
from sandbox.plaid.errors import PlaidError
from sandbox.provider import ControlError, control_ok
from sandbox.wire import Request, Response

if TYPE_CHECKING:
    from sandbox.plaid.provider import PlaidProvider

_ITEM = re.compile(r"^items/([A-Za-z0-9]+)(?:/(fire_webhook))?$")
_ACCOUNT = re.compile(r"^accounts/([A-Za-z0-9]+)/verification_status$")


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ControlError(400, "body must be a JSON object")
    return payload


def _string(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(400, f"{name} must be a non-empty string")
    return value


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    """An Item with its sandbox-only facts (numbers, attempts) for assertions; never the token."""
    view = {k: v for k, v in item.items() if k != "access_token"}
    view["rendered"] = api.render_item(item, consent_fields=True)
    return view


def _fire(provider: PlaidProvider, item_id: str, payload: Any) -> Response:
    body = _object(payload)
    code = _string(body, "webhook_code")
    webhook_type = body.get("webhook_type") or ("AUTH" if code in items.AUTH_CODES else "ITEM")
    with provider.store.lock:
        item = provider.store.items.get(item_id)
        if item is None:
            raise ControlError(404, f"no such item: {item_id}")
        try:
            items.fire(
                item, str(webhook_type), code, provider.services.clock.timestamp(), provider.emit
            )
        except PlaidError as exc:
            raise ControlError(400, exc.message) from exc
        view = _item_view(item)
    provider.services.dirty.set()
    return control_ok(view)


def _set_status(provider: PlaidProvider, account_id: str, payload: Any) -> Response:
    """Any status, even one Plaid has not documented, so receivers can test unknown values."""
    body = _object(payload)
    status = _string(body, "verification_status")
    send = body.get("webhook", False)
    if not isinstance(send, bool):
        raise ControlError(400, "webhook must be a boolean")
    with provider.store.lock:
        found = provider.store.account(account_id)
        if found is None:
            raise ControlError(404, f"no such account: {account_id}")
        item, account = found
        if send:
            items.set_verification(item, account, status, provider.emit)
        else:
            account["verification_status"] = status
        view = _item_view(item)
    provider.services.dirty.set()
    return control_ok(view)


def _keys(provider: PlaidProvider, action: str, payload: Any) -> Response:
    now = provider.services.clock.timestamp()
    if action == "rotate":
        provider.keys.rotate(now)
    elif action == "expire":
        body = _object(payload)
        kid = body.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ControlError(400, "kid must be a string (or omit it to expire all but current)")
        try:
            provider.keys.expire(now, kid)
        except KeyError as exc:
            raise ControlError(404, f"no live key {kid}") from exc
    provider.services.dirty.set()
    return control_ok({"current": provider.keys.current().kid, "keys": provider.keys.listing()})


def dispatch(provider: PlaidProvider, request: Request, path: str, payload: Any) -> Response:
    method = request.method
    if path == "state" and method == "GET":
        return control_ok(provider.summary())
    if path == "tick" and method == "POST":
        with provider.store.lock:
            items.tick(provider.store, provider.services.clock.timestamp(), provider.emit)
        return control_ok(provider.summary())
    if path == "webhooks" and method == "GET":
        with provider.store.lock:
            return control_ok({"webhooks": list(provider.store.webhooks)})
    if path == "webhook/faults" and method in ("GET", "POST"):
        if method == "POST":
            try:
                provider.keys.faults.update(_object(payload))
            except ValueError as exc:
                raise ControlError(400, str(exc)) from exc
        return control_ok(provider.keys.faults.to_json())
    if path == "keys" and method == "GET":
        return control_ok({"current": provider.keys.current().kid, "keys": provider.keys.listing()})
    if path in ("keys/rotate", "keys/expire") and method == "POST":
        return _keys(provider, path.removeprefix("keys/"), payload)
    if path == "credentials" and method in ("GET", "POST"):
        if method == "POST":
            body = _object(payload)
            provider.set_credentials(_string(body, "client_id"), _string(body, "secret"))
        return control_ok({"client_id": provider.credentials()[0]})
    match = _ITEM.match(path)
    if match and match.group(2) is None and method == "GET":
        with provider.store.lock:
            item = provider.store.items.get(match.group(1))
            if item is None:
                raise ControlError(404, f"no such item: {match.group(1)}")
            return control_ok(_item_view(item))
    if match and match.group(2) == "fire_webhook" and method == "POST":
        return _fire(provider, match.group(1), payload)
    match = _ACCOUNT.match(path)
    if match and method == "POST":
        return _set_status(provider, match.group(1), payload)
    raise ControlError(404, f"unknown control endpoint: {method} /_sandbox/plaid/{path}")
