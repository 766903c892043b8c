"""Braintree's browser side on the sandbox origin: client tokens, the client API, the pages.

`/braintree/web/braintree.js` stands in for braintree-web / Drop-in (`braintree.dropin.create`,
`braintree.hostedFields.create`, `braintree.threeDSecure.create`); the card form is the iframe
`/braintree/hosted-fields`, which posts the number to the client API on its own origin
(`/merchants/<id>/client_api/v1/payment_methods/credit_cards`, authorised by the client
token's fingerprint) and hands the page only the nonce and the card's type and last 4.
`/braintree/3ds/<challenge>` is the issuer's 3-D Secure challenge page.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import json
import re
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from sandbox.braintree import cards, vault
from sandbox.braintree.call import Call, amount, text
from sandbox.braintree.errors import ValidationError, invalid
from sandbox.braintree.store import random_id
from sandbox.wire import Request, Response, json_response, text_response

if TYPE_CHECKING:
    from sandbox.braintree.provider import BraintreeProvider, SandboxMerchant

TOKEN_SECONDS = 24 * 3600
CHALLENGE_SECONDS = 10 * 60
_CLIENT_API = re.compile(r"^/merchants/([^/]+)/client_api/v1/(.+)$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$")
ASSET_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@cache
def asset(name: str) -> str:
    return (resources.files("sandbox.braintree") / "assets" / name).read_text(encoding="utf-8")


def _fingerprint(private_key: str, claims: str) -> str:
    mac = hmac.new(private_key.encode(), claims.encode(), hashlib.sha256).hexdigest()
    return f"{mac}|{claims}"


# --- the server API: client tokens -----------------------------------------------------------
def client_token(call: Call) -> tuple[str, Any]:
    """POST /client_token: a version 2 client token (base64 JSON) for the browser side."""
    params = call.section("client_token")
    path = ("client_token",)
    customer_id = text(params, "customer_id", path)
    if customer_id is not None and customer_id not in call.store.customers:
        raise invalid(
            path, "customer_id", "92804", "Customer specified by customer_id does not exist"
        )
    account = text(params, "merchant_account_id", path) or call.default_merchant_account
    if account not in call.merchant_accounts:
        raise invalid(
            path,
            "merchant_account_id",
            "92807",
            "Merchant account specified by merchant_account_id does not exist",
        )
    claims = urlencode(
        {
            "created_at": int(call.now),
            "merchant_id": call.merchant_id,
            "merchant_account_id": account,
            "customer_id": customer_id or "",
        }
    )
    key = call.store.fingerprint_key
    api = f"{call.base_url}/merchants/{call.merchant_id}/client_api"
    token = {
        "version": 2,
        "authorizationFingerprint": _fingerprint(key, claims),
        "configUrl": f"{api}/v1/configuration",
        "clientApiUrl": api,
        "assetsUrl": call.base_url,
        "environment": "sandbox",
        "merchantId": call.merchant_id,
        "merchantAccountId": account,
        "threeDSecureEnabled": True,
    }
    encoded = base64.b64encode(json.dumps(token).encode()).decode()
    return "client_token", {"value": encoded}


def _authorised(merchant: SandboxMerchant, fingerprint: Any, now: float) -> dict[str, str]:
    """The claims of a valid, unexpired fingerprint for this merchant; else ValueError."""
    if not isinstance(fingerprint, str) or "|" not in fingerprint:
        raise ValueError("authorizationFingerprint is missing")
    claims = fingerprint.split("|", 1)[1]
    if not hmac.compare_digest(_fingerprint(merchant.store.fingerprint_key, claims), fingerprint):
        raise ValueError("authorizationFingerprint is invalid")
    values = dict(parse_qsl(claims))
    if values.get("merchant_id") != merchant.merchant_id:
        raise ValueError("authorizationFingerprint is for another merchant")
    if int(values.get("created_at", "0")) + TOKEN_SECONDS < now:
        raise ValueError("authorizationFingerprint has expired")
    return values


# --- the client API (JSON, called by the card form and braintree.js) ---------------------------
def _client_error(status: int, message: str) -> Response:
    return json_response(status, {"error": {"message": message}}, _CORS)


_CORS = [("Access-Control-Allow-Origin", "*")]


def _tokenize(
    provider: BraintreeProvider,
    merchant: SandboxMerchant,
    request: Request,
    body: dict[str, Any],
) -> Response:
    card_fields = body.get("creditCard")
    if not isinstance(card_fields, dict):
        return _client_error(422, "creditCard is required")
    params = {
        "number": card_fields.get("number"),
        "expiration_date": card_fields.get("expirationDate"),
    }
    with merchant.store.lock:
        call = provider.call(request, merchant)
        try:
            card = vault.raw_card(params, ("credit_card",))
        except ValidationError as exc:
            return _client_error(422, exc.message)
        nonce = vault.nonce_create(call.store, cards.Card.from_json(card), call.now)
    provider.services.dirty.set()
    return json_response(201, {"creditCards": [_payment_method(nonce, card)]}, _CORS)


def _payment_method(nonce: str, card: dict[str, Any]) -> dict[str, Any]:
    return {
        "nonce": nonce,
        "type": "CreditCard",
        "description": f"ending in {card['last_4'][-2:]}",
        "details": {
            "cardType": card["card_type"],
            "lastFour": card["last_4"],
            "lastTwo": card["last_4"][-2:],
            "bin": card["bin"],
            "expirationMonth": card["expiration_month"],
            "expirationYear": card["expiration_year"],
        },
    }


def _lookup(
    provider: BraintreeProvider,
    merchant: SandboxMerchant,
    request: Request,
    nonce: str,
    body: dict[str, Any],
) -> Response:
    """3-D Secure lookup: frictionless cards pass at once, challenge cards get the issuer page."""
    with merchant.store.lock:
        call = provider.call(request, merchant)
        try:
            cents = amount(body.get("amount"), ("three_d_secure",))
            card = cards.Card.from_json(vault.nonce_card(call, nonce, ("three_d_secure",)))
        except ValidationError as exc:
            return _client_error(422, exc.message)
        if card.behaviour == "3ds_frictionless":
            outcome = "authenticated"
        elif card.behaviour in ("3ds_challenge", "3ds_challenge_fail"):
            challenge_id = random_id(24)
            merchant.store.challenges[challenge_id] = {
                "card": card.to_json(),
                "amount_cents": cents,
                "created_at": call.now,
            }
            return json_response(
                201,
                {
                    "paymentMethod": None,
                    "lookup": {"acsUrl": f"{request.base_url}/braintree/3ds/{challenge_id}"},
                },
                _CORS,
            )
        else:
            outcome = "not_enrolled"
        result = _three_d_secure_result(call, card, outcome)
    provider.services.dirty.set()
    return json_response(201, result, _CORS)


def _three_d_secure_result(call: Call, card: cards.Card, outcome: str) -> dict[str, Any]:
    """A fresh nonce carrying the 3-D Secure outcome, as braintree-web's verifyCard returns."""
    marked = dataclasses.replace(
        card, three_d_secure=None if outcome == "not_enrolled" else outcome
    )
    nonce = vault.nonce_create(call.store, marked, call.now)
    passed = outcome == "authenticated"
    return {
        "paymentMethod": {
            **_payment_method(nonce, marked.to_json()),
            "threeDSecureInfo": {
                "liabilityShifted": passed,
                "liabilityShiftPossible": outcome != "not_enrolled",
                "status": {
                    "authenticated": "authenticate_successful",
                    "failed": "authenticate_failed",
                }.get(outcome, "lookup_not_enrolled"),
            },
        },
        "lookup": None,
    }


def _client_api(provider: BraintreeProvider, request: Request) -> Response:
    found = _CLIENT_API.match(request.path)
    if request.method == "OPTIONS":
        return Response(
            204,
            b"",
            [
                *_CORS,
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", "Content-Type"),
            ],
        )
    merchant = provider.merchant(found.group(1)) if found is not None else None
    if found is None or merchant is None:
        return _client_error(404, "unknown merchant")
    if request.method == "GET":
        fingerprint = dict(parse_qsl(request.query)).get("authorizationFingerprint")
        body: Any = {"authorizationFingerprint": fingerprint}
    else:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _client_error(400, "body must be JSON")
        if not isinstance(body, dict):
            return _client_error(400, "body must be a JSON object")
    try:
        _authorised(merchant, body.get("authorizationFingerprint"), provider.services.clock.now())
    except (ValueError, TypeError) as exc:
        return _client_error(401, str(exc))
    rest = found.group(2)
    if rest == "configuration" and request.method == "GET":
        merchant_id = merchant.merchant_id
        return json_response(
            200,
            {
                "merchantId": merchant_id,
                "environment": "sandbox",
                "clientApiUrl": f"{request.base_url}/merchants/{merchant_id}/client_api",
                "threeDSecureEnabled": True,
                "creditCards": {
                    "supportedCardTypes": ["Visa", "MasterCard", "American Express", "Discover"]
                },
            },
            _CORS,
        )
    if rest == "payment_methods/credit_cards" and request.method == "POST":
        return _tokenize(provider, merchant, request, body)
    lookup = re.match(r"^payment_methods/([^/]+)/three_d_secure/lookup$", rest)
    if lookup and request.method == "POST":
        return _lookup(provider, merchant, request, lookup.group(1), body)
    return _client_error(404, f"no such client API endpoint: {rest}")


# --- pages -----------------------------------------------------------------------------------
def _page(name: str, **values: str) -> Response:
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    return text_response(200, Template(asset(name)).substitute(escaped))


def _origin(request: Request, fields: dict[str, str]) -> str | None:
    origin = fields.get("origin", "")
    return origin if _ORIGIN.match(origin) else None


def _challenge(provider: BraintreeProvider, request: Request, challenge_id: str) -> Response:
    fields = request.form()
    if fields is None:
        return text_response(400, "<!doctype html><p>Bad form.</p>")
    origin = _origin(request, fields)
    merchant = provider.holder("challenges", challenge_id) or provider.default
    with merchant.store.lock:
        challenge = merchant.store.challenges.get(challenge_id)
        expired = challenge is None or (
            challenge["created_at"] + CHALLENGE_SECONDS < provider.services.clock.now()
        )
        if expired or origin is None or challenge is None:
            return text_response(404, "<!doctype html><p>This authentication has expired.</p>")
        card = cards.Card.from_json(challenge["card"])
        if request.method == "GET":
            return _page(
                "three-d-secure.html",
                challenge=challenge_id,
                origin=origin,
                amount=f"{challenge['amount_cents'] // 100}.{challenge['amount_cents'] % 100:02d}",
                last4=card.last_4,
            )
        del merchant.store.challenges[challenge_id]
        approved = fields.get("outcome") == "approve" and card.behaviour != "3ds_challenge_fail"
        result = _three_d_secure_result(
            provider.call(request, merchant), card, "authenticated" if approved else "failed"
        )
    provider.services.dirty.set()
    return _page("three-d-secure-done.html", origin=origin, result=json.dumps(result))


def page(provider: BraintreeProvider, request: Request) -> Response:
    path = request.path
    if "/client_api/" in path:
        return _client_api(provider, request)
    if request.method not in ("GET", "HEAD", "POST"):
        return text_response(405, "<!doctype html><p>Method not allowed.</p>")
    if path.startswith("/braintree/3ds/"):
        return _challenge(provider, request, path.removeprefix("/braintree/3ds/"))
    if path == "/braintree/hosted-fields":
        origin = _origin(request, dict(parse_qsl(request.query)))
        if origin is None:
            return text_response(400, "<!doctype html><p>origin is required.</p>")
        return _page("hosted-fields.html", origin=origin)
    name = path.removeprefix("/braintree/web/")
    suffix = name[name.rfind(".") :] if "." in name else ""
    if path.startswith("/braintree/web/") and re.fullmatch(r"[a-z0-9\-]+\.(js|css)", name):
        try:
            content = asset(name)
        except FileNotFoundError:
            content = ""
        if content:
            return Response(
                200,
                content.encode(),
                [("Content-Type", ASSET_TYPES[suffix]), ("Access-Control-Allow-Origin", "*")],
            )
    return text_response(404, "<!doctype html><title>Not found</title><p>Not found.</p>")
