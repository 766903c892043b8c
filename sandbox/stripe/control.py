"""The Stripe part of the control API (/_sandbox/stripe/...): inspect state, drive test flows.

These are things a real Stripe does on its own (a cardholder disputes, a bank answers, a
cardholder passes 3-D Secure); tests trigger them here without a browser.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.provider import ControlError, control_ok
from sandbox.stripe.errors import StripeError
from sandbox.stripe.resources import payouts
from sandbox.stripe.resources.disputes import disputable, dispute_create, resolve
from sandbox.stripe.resources.ledger import touch
from sandbox.stripe.resources.payment_intents import authenticate, settle
from sandbox.wire import Request, Response

if TYPE_CHECKING:
    from sandbox.stripe.provider import StripeProvider


def _choice(payload: Any, name: str, allowed: tuple[str, ...]) -> str:
    value = payload.get(name) if isinstance(payload, dict) else None
    if value not in allowed:
        raise ControlError(400, f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def _strings(payload: Any, name: str) -> list[str] | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ControlError(400, f"{name} must be a list of non-empty strings")
    return value


def _webhook(provider: StripeProvider, request: Request, payload: Any) -> Response:
    if request.method == "POST":
        if not isinstance(payload, dict):
            raise ControlError(400, "body must be a JSON object")
        url = payload.get("url", provider.webhook_url)
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise ControlError(400, "url must be an http(s) URL or null")
        provider.configure_webhook(url=url, secrets_=_strings(payload, "secrets"))
    return control_ok({"url": provider.webhook_url, "secrets": provider.webhook_secrets})


def _object_action(
    provider: StripeProvider,
    request: Request,
    *,
    kind: str,
    object_id: str,
    action: str,
    payload: Any,
) -> Response:
    ctx, obj = provider.context_for(object_id, request.base_url)
    try:
        with provider.store.lock:
            if (
                kind == "payment_intents"
                and action == "authenticate"
                and obj["object"] == "payment_intent"
            ):
                result = authenticate(
                    ctx, obj, _choice(payload, "outcome", ("approve", "fail")) == "approve"
                )
            elif (
                kind == "payment_intents"
                and action == "settle"
                and obj["object"] == "payment_intent"
            ):
                result = settle(
                    ctx, obj, _choice(payload, "outcome", ("succeeded", "failed")) == "succeeded"
                )
            elif kind == "charges" and action == "dispute" and obj["object"] == "charge":
                if disputable(obj) <= 0:
                    raise ControlError(
                        400,
                        "only a captured, undisputed, not fully refunded charge can be disputed",
                    )
                reason = (
                    payload.get("reason", "fraudulent")
                    if isinstance(payload, dict)
                    else "fraudulent"
                )
                result = dispute_create(ctx, obj, str(reason))
            elif kind == "events" and action == "resend" and obj["object"] == "event":
                provider.resend(obj)
                result = obj
            elif kind == "accounts" and action == "update" and obj["object"] == "account":
                result = _account_update(ctx, obj, payload)
            elif kind == "payouts" and action == "fail" and obj["object"] == "payout":
                result = payouts.fail(ctx, obj, _failure_code(payload))
            elif kind == "accounts" and action == "payout_failure" and obj["object"] == "account":
                result = _payout_failure(ctx, obj, payload)
            elif kind == "accounts" and action == "payout_run" and obj["object"] == "account":
                result = {"payouts": payouts.run_now(ctx, obj)}
            elif kind == "payouts" and action == "move" and obj["object"] == "payout":
                result = payouts.move_now(ctx, obj)
            elif kind == "disputes" and action == "resolve" and obj["object"] == "dispute":
                result = resolve(ctx, obj, _choice(payload, "outcome", ("won", "lost")))
            else:
                raise ControlError(404, f"no control action {action} for {object_id}")
    except StripeError as exc:
        raise ControlError(exc.status, exc.message) from exc
    provider.services.dirty.set()
    return control_ok(result)


def _account_update(ctx: Any, account: dict[str, Any], payload: Any) -> dict[str, Any]:
    """Flip readiness flags (e.g. charges_enabled) to test how the platform reacts."""
    flags = ("charges_enabled", "payouts_enabled", "details_submitted")
    if not isinstance(payload, dict) or not payload or set(payload) - set(flags):
        raise ControlError(400, f"send any of {', '.join(flags)} as booleans")
    previous = {}
    for name, value in payload.items():
        if not isinstance(value, bool):
            raise ControlError(400, f"{name} must be a boolean")
        previous[name] = account[name]
        account[name] = value
    touch(ctx.store, account["id"])
    ctx.emit("account.updated", account, previous=previous)
    return account


def _failure_code(payload: Any) -> str:
    code = payload.get("failure_code", "account_closed") if isinstance(payload, dict) else None
    if code not in payouts.FAILURE_MESSAGES:
        raise ControlError(
            400, f"failure_code must be one of {', '.join(sorted(payouts.FAILURE_MESSAGES))}"
        )
    return str(code)


def _payout_failure(ctx: Any, account: dict[str, Any], payload: Any) -> dict[str, Any]:
    """Make the account's next payouts fail with `failure_code` (null: succeed again)."""
    if not isinstance(payload, dict) or set(payload) != {"failure_code"}:
        raise ControlError(400, 'send {"failure_code": "account_closed"} or {"failure_code": null}')
    code = None if payload["failure_code"] is None else _failure_code(payload)
    ctx.store.private_of(account["id"])["payout_failure"] = code
    return {"account": account["id"], "payout_failure": code}


_ACTION = re.compile(r"^(payment_intents|charges|events|accounts|payouts|disputes)/([^/]+)/(\w+)$")


def dispatch(provider: StripeProvider, request: Request, path: str, payload: Any) -> Response:
    if path == "state" and request.method == "GET":
        return control_ok(provider.summary())
    if path == "tick" and request.method == "POST":
        return control_ok({"settled": provider.tick(request.base_url)})
    if path == "webhook" and request.method in ("GET", "POST"):
        return _webhook(provider, request, payload)
    if path.startswith("objects/") and request.method == "GET":
        object_id = path.removeprefix("objects/")
        with provider.store.lock:
            obj = provider.store.objects.get(object_id)
            if obj is None:
                raise ControlError(404, f"no such object: {object_id}")
            return control_ok(
                {
                    "object": obj,
                    "account": provider.store.scope[object_id],
                    "sandbox": provider.store.private.get(object_id, {}),
                }
            )
    match = _ACTION.match(path)
    if match and request.method == "POST":
        kind, object_id, action = match.groups()
        return _object_action(
            provider, request, kind=kind, object_id=object_id, action=action, payload=payload
        )
    raise ControlError(404, f"unknown control endpoint: {request.method} /_sandbox/stripe/{path}")
