"""Pages on the sandbox origin that stand in for Stripe's browser side.

`/v3/` is the Stripe.js stand-in, `/stripe/elements/card` the card iframe it mounts,
`/stripe/elements/us_bank_account` its bank-details form, `/stripe/microdeposits/<seti>` the
hosted micro-deposit verification page,
`/stripe/3ds/<pi>` the bank's 3-D Secure page, `/stripe/connect/onboarding/<token>` the page
an account link opens.
"""

from __future__ import annotations

import hmac
import html
import json
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sandbox.provider import ControlError
from sandbox.stripe.errors import StripeError
from sandbox.stripe.resources.money import format_amount
from sandbox.stripe.resources.payment_intents import authenticate
from sandbox.stripe.resources.setup_intents import verify
from sandbox.wire import Request, Response, redirect_response, text_response

if TYPE_CHECKING:
    from sandbox.stripe.provider import StripeProvider


@cache
def asset(name: str) -> str:
    return (resources.files("sandbox.stripe") / "assets" / name).read_text(encoding="utf-8")


def _render(name: str, **values: str) -> str:
    return Template(asset(name)).substitute(
        {k: html.escape(v, quote=True) for k, v in values.items()}
    )


def _not_found() -> Response:
    return text_response(404, "<!doctype html><title>Not found</title><p>Not found.</p>")


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _intent(
    provider: StripeProvider, request: Request, intent_id: str, secret: str
) -> tuple[Any, dict[str, Any]] | None:
    try:
        ctx, obj = provider.context_for(intent_id, request.base_url)
    except ControlError:
        return None
    if obj.get("object") != "payment_intent" or not hmac.compare_digest(
        obj["client_secret"], secret
    ):
        return None
    return ctx, obj


def _three_d_secure(provider: StripeProvider, request: Request, intent_id: str) -> Response:
    if request.method == "GET":
        fields = dict(parse_qsl(request.query))
    else:
        try:
            fields = dict(parse_qsl(request.body.decode("utf-8")))
        except UnicodeDecodeError:
            return text_response(400, "<!doctype html><p>Bad form.</p>")
    found = _intent(provider, request, intent_id, fields.get("client_secret", ""))
    if found is None:
        return _not_found()
    ctx, pi = found
    origin, mode = fields.get("origin", ""), fields.get("mode", "redirect")
    if request.method == "GET":
        with provider.store.lock:
            pm = provider.store.objects.get(pi["payment_method"] or "", {})
            last4 = pm.get("card", {}).get("last4", "????")
        page = _render(
            "authenticate.html",
            amount=format_amount(pi["amount"], pi["currency"]),
            last4=last4,
            intent=pi["id"],
            client_secret=pi["client_secret"],
            origin=origin,
            mode=mode,
        )
        return text_response(200, page)
    approved = fields.get("outcome") == "approve"
    try:
        with provider.store.lock:
            authenticate(ctx, pi, approved)
    except StripeError as exc:
        if exc.status != 402:  # a decline after approval is an answer, not a page error
            return text_response(409, f"<!doctype html><p>{html.escape(exc.message)}</p>")
    provider.services.dirty.set()
    return_url = provider.store.private_of(pi["id"]).get("return_url")
    if mode != "frame" and return_url:
        status = (
            "succeeded"
            if pi["status"] in ("succeeded", "requires_capture", "processing")
            else "failed"
        )
        return redirect_response(
            _with_query(
                return_url,
                {
                    "payment_intent": pi["id"],
                    "payment_intent_client_secret": pi["client_secret"],
                    "redirect_status": status,
                },
            )
        )
    config = json.dumps({"origin": origin, "intent": pi["id"]}).replace("<", "\\u003c")
    page = Template(asset("done.html")).substitute(
        result="completed" if approved else "failed", config=config
    )
    return text_response(200, page)


def _microdeposits(provider: StripeProvider, request: Request, intent_id: str) -> Response:
    """Stripe's hosted verification page (`next_action.verify_with_microdeposits`)."""
    fields = dict(parse_qsl(request.query))
    if request.method == "POST":
        try:
            fields.update(parse_qsl(request.body.decode("utf-8")))
        except UnicodeDecodeError:
            return text_response(400, "<!doctype html><p>Bad form.</p>")
    secret = fields.get("client_secret", "")
    try:
        ctx, si = provider.context_for(intent_id, request.base_url)
    except ControlError:
        return _not_found()
    if si.get("object") != "setup_intent" or not hmac.compare_digest(si["client_secret"], secret):
        return _not_found()
    message = ""
    if request.method == "POST":
        try:
            with provider.store.lock:
                verify(ctx, si, amounts=None, descriptor_code=fields.get("descriptor_code", ""))
        except StripeError as exc:
            message = exc.message
        provider.services.dirty.set()
    done = si["status"] == "succeeded"
    page = _render(
        "microdeposits.html",
        intent=si["id"],
        client_secret=secret,
        status="Your bank account is verified." if done else si["status"].replace("_", " "),
        message=message,
    )
    return text_response(200, page)


def _onboarding(provider: StripeProvider, token: str) -> Response:
    with provider.store.lock:
        link = provider.store.private.get(token)
    if not link or "account" not in link or link["expires"] < provider.services.clock.timestamp():
        return text_response(
            410,
            "<!doctype html><p>This account link has expired. Ask the platform for a new one.</p>",
        )
    return text_response(
        200,
        _render(
            "onboarding.html", account=link["account"], return_url=link.get("return_url") or "/"
        ),
    )


def page(provider: StripeProvider, request: Request) -> Response:
    path = request.path
    if request.method not in ("GET", "HEAD", "POST"):
        return text_response(405, "<!doctype html><p>Method not allowed.</p>")
    if path in ("/v3", "/v3/"):
        return Response(
            200,
            asset("stripe.js").encode(),
            [
                ("Content-Type", "application/javascript; charset=utf-8"),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )
    if path == "/stripe/elements/card":
        return text_response(200, asset("card.html"))
    if path == "/stripe/elements/us_bank_account":
        return text_response(200, asset("bank.html"))
    if path.startswith("/stripe/microdeposits/"):
        return _microdeposits(provider, request, path.removeprefix("/stripe/microdeposits/"))
    if path.startswith("/stripe/3ds/"):
        return _three_d_secure(provider, request, path.removeprefix("/stripe/3ds/"))
    if path.startswith("/stripe/connect/onboarding/"):
        return _onboarding(provider, path.removeprefix("/stripe/connect/onboarding/"))
    return _not_found()
