"""The Stripe stand-in's request pipeline, webhook signing and control API.

Pipeline for /v1: API version -> key -> route -> form decoding and parameter schema ->
idempotency claim -> processor fault -> handler under the state lock -> stored result. Every
answer carries `Request-Id`, as Stripe's do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sandbox.provider import ControlError, Provider, Services
from sandbox.stripe import browser, control
from sandbox.stripe.context import DEFAULT_API_VERSION, Ctx, Route, account_ctx
from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.idempotency import IdempotencyStore, Stored
from sandbox.stripe.params import parse_form, parse_multipart, validate
from sandbox.stripe.resources import (
    accounts,
    bank_accounts,
    customers,
    disputes,
    events,
    files,
    ledger,
    money,
    payment_intents,
    payment_methods,
    payouts,
    setup_intents,
)
from sandbox.stripe.store import JSON, Auth, StripeStore, platform_account_id, random_id
from sandbox.webhooks import WebhookFaults
from sandbox.wire import Request, Response, json_response

DEFAULT_WEBHOOK_SECRET = "whsec_ledgerline_sandbox"  # noqa: S105 (public dev default)
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z_]+)?$")
_KEY = re.compile(r"^(sk|rk|pk)_test_([A-Za-z0-9_]{1,200})$")
ROUTES: list[Route] = [
    *accounts.ROUTES,
    *customers.ROUTES,
    *bank_accounts.ROUTES,
    *payment_methods.ROUTES,
    *payment_intents.ROUTES,
    *setup_intents.ROUTES,
    *money.ROUTES,
    *disputes.ROUTES,
    *ledger.ROUTES,
    *payouts.ROUTES,
    *files.ROUTES,
    *events.ROUTES,
]
CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Expose-Headers",
        "Request-Id, Stripe-Version, Idempotent-Replayed, Original-Request",
    ),
]


def _redact(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:]


def sign(body: bytes, timestamp: int, secret: str) -> str:
    """Stripe's v1 scheme: HMAC-SHA256 of `<timestamp>.<body>` keyed by the whole whsec_ string."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class StripeProvider(Provider):
    name = "stripe"

    def __init__(
        self,
        services: Services,
        *,
        webhook_url: str | None = None,
        webhook_secrets: Sequence[str] = (DEFAULT_WEBHOOK_SECRET,),
    ) -> None:
        super().__init__(services)
        self.store = StripeStore()
        self.store.on_event = self._on_event
        self.idempotency = IdempotencyStore(services.clock)
        self._config_lock = threading.Lock()
        self.webhook_url = webhook_url
        self.webhook_secrets = list(webhook_secrets) or [DEFAULT_WEBHOOK_SECRET]
        # Redeems `btok_` tokens of the sandbox's Plaid; wired by sandbox.server.Sandbox.
        self.bank_tokens: Callable[[str], JSON | None] = lambda token: None

    # --- Provider --------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return path.startswith(("/v1/", "/stripe/")) or path in ("/v1", "/v3", "/v3/")

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/v1"):
            return self._api(request)
        return browser.page(self, request)

    def summary(self) -> dict[str, Any]:
        with self._config_lock:
            webhook = {"url": self.webhook_url, "secrets": len(self.webhook_secrets)}
        return {
            "objects": self.store.count(),
            "idempotency_keys": len(self.idempotency),
            "webhook": webhook,
        }

    def snapshot(self) -> dict[str, Any]:
        return {"store": self.store.snapshot(), "idempotency": self.idempotency.snapshot()}

    def restore(self, data: dict[str, Any]) -> None:
        self.store.restore(data.get("store", {}))
        self.idempotency.restore(data.get("idempotency", []))

    def reset(self) -> None:
        self.store.reset()
        self.idempotency.reset()

    # --- the API pipeline ------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        request_id = random_id("req", 14)
        headers = [("Request-Id", request_id), *CORS_HEADERS]
        if request.method == "OPTIONS":
            allow = [
                ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
                (
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Stripe-Account, Stripe-Version, Idempotency-Key",
                ),
                ("Access-Control-Max-Age", "600"),
            ]
            return Response(204, b"", headers + allow)
        try:
            version = self._version(request)
            headers.append(("Stripe-Version", version))
            auth = self._authenticate(request)
            route, args = self._match(request)
            if auth.publishable and not route.publishable:
                raise invalid(
                    "This API call cannot be made with a publishable API key. Please use a "
                    "secret API key.",
                    status=401,
                    stored=False,
                )
            content_type = request.header("content-type")
            if request.method == "POST" and content_type.startswith("multipart/form-data"):
                raw = parse_multipart(request.body, content_type)
            else:
                raw = parse_form(request.body if request.method == "POST" else request.query)
            params = validate(raw, route.spec)
        except StripeError as exc:
            return self._error_response(exc, request_id, headers)
        key = request.header("idempotency-key") if request.method == "POST" else ""
        scope = f"{auth.platform}/{auth.account}"
        if key:
            headers.append(("Idempotency-Key", key))
            try:
                stored = self.idempotency.begin(scope, key, f"{request.method} {request.path}", raw)
            except StripeError as exc:
                return self._error_response(exc, request_id, headers)
            if stored is not None:
                replay = [("Idempotent-Replayed", "true"), ("Original-Request", stored.request_id)]
                return Response(
                    stored.status,
                    stored.body,
                    [("Content-Type", "application/json"), *headers, *replay],
                )
        result: Stored | None = None
        try:
            response, result = self._execute(
                request,
                route=route,
                args=args,
                params=params,
                auth=auth,
                version=version,
                request_id=request_id,
                key=key,
                headers=headers,
            )
        finally:
            if key:
                self.idempotency.finish(scope, key, result)
        return response

    def _execute(
        self,
        request: Request,
        *,
        route: Route,
        args: tuple[str, ...],
        params: JSON,
        auth: Auth,
        version: str,
        request_id: str,
        key: str,
        headers: list[tuple[str, str]],
    ) -> tuple[Response, Stored | None]:
        faults = self.services.faults
        fault = faults.take(request.method, request.path)
        kind = fault.kind if fault else None
        if fault is not None and kind in ("timeout", "latency"):  # before any effect
            faults.sleep(fault.seconds)
            if kind == "timeout":
                return Response(0, drop_connection=True), None
        if kind == "rate_limit_429":
            error = StripeError(
                429,
                "invalid_request_error",
                "Too many requests hit the API too quickly. We recommend an exponential "
                "backoff of your requests.",
                code="rate_limit",
                stored=False,
            )
            return self._error_response(error, request_id, headers), None
        status, payload, stored = 200, {}, True
        if kind == "error_500":
            # Stripe stores a 500 once the endpoint began, so a retry with the key gets it again.
            status, payload = (
                500,
                StripeError(500, "api_error", "An unknown error occurred").body(request_id),
            )
        else:
            self.tick(request.base_url)
            with self.store.lock:
                ctx = Ctx(
                    store=self.store,
                    auth=auth,
                    params=params,
                    args=args,
                    api_version=version,
                    request_id=request_id,
                    idempotency_key=key or None,
                    now=self.services.clock.timestamp(),
                    base_url=request.base_url,
                    bank_tokens=self.bank_tokens,
                )
                try:
                    payload = self.store.render(
                        route.handler(ctx), params.get("expand") or [], auth.account
                    )
                except StripeError as exc:
                    status, payload, stored = exc.status, exc.body(request_id), exc.stored
            if request.method != "GET":
                self.services.dirty.set()
        if kind == "error_500_after":
            # The call took effect; the answer (and what the key replays) is a 500.
            status, payload, stored = (
                500,
                StripeError(500, "api_error", "An unknown error occurred").body(request_id),
                True,
            )
        if kind == "timeout_after" and fault is not None:
            faults.sleep(fault.seconds)
        if route.handler is files.file_contents and status == 200:
            # Downloads are the file's bytes, not JSON.
            content = base64.b64decode(payload["content"])
            response = Response(200, content, [("Content-Type", payload["type"]), *headers])
        else:
            response = json_response(status, payload, headers)
        response.drop_connection = kind in ("lose_response", "timeout_after")
        return response, Stored(status, response.body, request_id) if stored else None

    def _error_response(
        self, exc: StripeError, request_id: str, headers: list[tuple[str, str]]
    ) -> Response:
        return json_response(exc.status, exc.body(request_id), [*headers, *exc.headers])

    def _version(self, request: Request) -> str:
        version = request.header("stripe-version") or DEFAULT_API_VERSION
        if not _VERSION.match(version):
            raise invalid(f"Invalid Stripe API version: {version}", stored=False)
        return version

    def _authenticate(self, request: Request) -> Auth:
        header = request.header("authorization").strip()
        if not header:
            raise invalid(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
                stored=False,
            )
        scheme, _, value = header.partition(" ")
        key = value.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            raise invalid(
                "Invalid authorization header: use Bearer auth.", status=401, stored=False
            )
        match = _KEY.match(key)
        if match is None:
            raise invalid(f"Invalid API Key provided: {_redact(key)}", status=401, stored=False)
        platform = platform_account_id(match.group(2))
        accounts.ensure_platform(self.store, platform, self.services.clock.timestamp())
        account = request.header("stripe-account").strip() or platform
        if account != platform and accounts.connected_platform(self.store, account) != platform:
            raise StripeError(
                403,
                "invalid_request_error",
                f"The provided key '{_redact(key)}' does not have access to account '{account}' "
                "(or that account does not exist). Application access may have been revoked.",
                code="account_invalid",
                stored=False,
            )
        if account != platform and self.store.find(account, platform, "account") is None:
            raise StripeError(
                403,
                "invalid_request_error",
                f"Account '{account}' was deleted.",
                code="account_invalid",
                stored=False,
            )
        return Auth(platform=platform, account=account, publishable=match.group(1) == "pk")

    def _match(self, request: Request) -> tuple[Route, tuple[str, ...]]:
        for route in ROUTES:
            if route.method == request.method:
                found = route.pattern.match(request.path)
                if found:
                    return route, found.groups()
        raise invalid(
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404,
            stored=False,
        )

    # --- webhooks --------------------------------------------------------------------------
    def _on_event(self, event: JSON) -> None:
        with self._config_lock:
            url, keys = self.webhook_url, list(self.webhook_secrets)
        if not url:
            return
        event["pending_webhooks"] = 1
        body = json.dumps(event, indent=2).encode()

        def signer(payload: bytes, timestamp: int, faults: WebhookFaults) -> dict[str, str]:
            used = ["whsec_wrong_" + secrets.token_hex(12)] if faults.wrong_secret else keys
            # During secret rotation Stripe signs with every active secret, one v1 each.
            v1 = ",".join(f"v1={sign(payload, timestamp, secret)}" for secret in used)
            return {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": f"t={timestamp},{v1}",
            }

        self.services.webhooks.submit(
            url=url, body=body, signer=signer, key=event["id"], on_result=self._delivered
        )

    def _delivered(self, event_id: str, accepted: bool) -> None:
        with self.store.lock:
            event = self.store.objects.get(event_id)
            if event is None:
                return
            private = self.store.private_of(event_id)
            if accepted:
                event["pending_webhooks"] = 0
                private["delivery"] = "succeeded"
            elif private.get("delivery") != "succeeded":
                private["delivery"] = "failed"
        self.services.dirty.set()

    def configure_webhook(self, *, url: str | None, secrets_: Sequence[str] | None) -> None:
        with self._config_lock:
            self.webhook_url = url
            if secrets_ is not None:
                self.webhook_secrets = list(secrets_) or [DEFAULT_WEBHOOK_SECRET]

    # --- objects reached without an API key (pages and control API) ------------------------
    def context_for(self, object_id: str, base_url: str) -> tuple[Ctx, JSON]:
        """A handler context acting as the account that owns `object_id`."""
        with self.store.lock:
            obj = self.store.objects.get(object_id)
            if obj is None:
                raise ControlError(404, f"no such object: {object_id}")
            ctx = account_ctx(
                self.store,
                self.store.scope[object_id],
                now=self.services.clock.timestamp(),
                base_url=base_url,
            )
            return ctx, obj

    def tick(self, base_url: str) -> list[str]:
        """Apply what the sandbox clock made due: bank debits settle, then money moves
        (funds become available, payouts and disputes progress, scheduled payouts run)."""
        settled = self.settle_due_debits(base_url)
        if payouts.advance(self.store, self.services.clock.timestamp()):
            self.services.dirty.set()
        return settled

    def clock_moved(self) -> None:
        # Money moves at once (and its webhooks leave); bank debits keep settling lazily, on
        # the next API call or tick, as docs/sandbox.md describes.
        if payouts.advance(self.store, self.services.clock.timestamp()):
            self.services.dirty.set()

    def settle_due_debits(self, base_url: str) -> list[str]:
        """Settle ACH debits whose time has come on the sandbox clock (as the bank would)."""
        due = bank_accounts.due_debits(self.store, self.services.clock.timestamp())
        for intent_id in due:
            ctx, pi = self.context_for(intent_id, base_url)
            with self.store.lock:
                if pi["status"] == "processing":
                    payment_intents.settle(ctx, pi, None)
        if due:
            self.services.dirty.set()
        return due

    def control(self, request: Request, path: str, payload: Any) -> Response:
        return control.dispatch(self, request, path, payload)

    def resend(self, event: JSON) -> None:
        with self.store.lock:
            self._on_event(event)
