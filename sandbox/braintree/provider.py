"""The Braintree stand-in's request pipeline, webhook emission and hooks into the shared server.

The official SDK reaches it through `braintree.Environment(name, host, port, "http://host:port",
False, None, host, port)` and calls `/merchants/<merchant_id>/...` with Basic auth of the
public and private keys. Pipeline: route -> keys and merchant -> XML body -> processor fault
-> clock-driven settlement and the handler under the store lock -> XML answer (422
`api-error-response` for validation errors and declines).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sandbox.braintree import (
    browser,
    control,
    customers,
    disputes,
    documents,
    notifications,
    transactions,
)
from sandbox.braintree.call import Call
from sandbox.braintree.errors import HTTPError, ValidationError
from sandbox.braintree.store import BraintreeStore, random_id
from sandbox.braintree.xmlwire import XMLInputError, dump, parse
from sandbox.provider import Provider, Services
from sandbox.wire import Request, Response

DEFAULT_MERCHANT_ID = "ledgerline_sandbox_merchant"
DEFAULT_PUBLIC_KEY = "ledgerline_sandbox_public"
DEFAULT_PRIVATE_KEY = "ledgerline_sandbox_private"
XML_TYPE = "application/xml; charset=utf-8"
MAX_NOTIFICATIONS = 2000  # kept for inspection; older ones are only in the delivery log
Handler = Callable[[Call], "tuple[str, Any] | None"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    status: int = 200


def _route(method: str, path: str, handler: Handler, status: int = 200) -> Route:
    return Route(method, re.compile("^" + path.replace("{id}", "([^/]+)") + "$"), handler, status)


ROUTES = [
    _route("POST", "/client_token", browser.client_token, 201),
    _route("POST", "/transactions", transactions.sale, 201),
    _route("POST", "/transactions/advanced_search_ids", transactions.search_ids),
    _route("POST", "/transactions/advanced_search", transactions.search),
    _route("GET", "/transactions/{id}", transactions.find),
    _route("PUT", "/transactions/{id}/submit_for_settlement", transactions.submit_for_settlement),
    _route(
        "POST",
        "/transactions/{id}/submit_for_partial_settlement",
        transactions.submit_for_partial_settlement,
    ),
    _route("PUT", "/transactions/{id}/void", transactions.void),
    _route("POST", "/transactions/{id}/refund", transactions.refund, 201),
    _route(
        "PUT",
        "/transactions/{id}/(settle|settlement_confirm|settlement_decline|settlement_pending)",
        transactions.testing,
    ),
    _route("POST", "/customers", customers.create, 201),
    _route("POST", "/customers/advanced_search_ids", customers.search_ids),
    _route("POST", "/customers/advanced_search", customers.search),
    _route("GET", "/customers/{id}", customers.find),
    _route("PUT", "/customers/{id}", customers.update),
    _route("DELETE", "/customers/{id}", customers.delete),
    _route("POST", "/disputes/advanced_search", disputes.search),
    _route("GET", "/disputes/{id}", disputes.find),
    _route("PUT", "/disputes/{id}/accept", disputes.accept),
    _route("POST", "/disputes/{id}/evidence", disputes.add_evidence, 201),
    _route("PUT", "/disputes/{id}/finalize", disputes.finalize),
    _route("POST", "/document_uploads", documents.create, 201),
]
_MERCHANT_PATH = re.compile(r"^/merchants/([^/]+)(/.*)$")


def xml_response(status: int, root: str, value: Any) -> Response:
    return Response(status, dump(root, value), [("Content-Type", XML_TYPE)])


def error_response(exc: HTTPError) -> Response:
    return Response(exc.status, exc.body(), [("Content-Type", XML_TYPE)])


class BraintreeProvider(Provider):
    name = "braintree"

    def __init__(
        self,
        services: Services,
        *,
        merchant_id: str = DEFAULT_MERCHANT_ID,
        public_key: str = DEFAULT_PUBLIC_KEY,
        private_key: str = DEFAULT_PRIVATE_KEY,
        webhook_url: str | None = None,
    ) -> None:
        super().__init__(services)
        self.store = BraintreeStore()
        self._config_lock = threading.Lock()
        self.merchant_id = merchant_id
        self.public_key = public_key
        self.private_key = private_key
        self.webhook_url = webhook_url
        # Braintree merchants have one merchant account per currency; the first is the default.
        self.merchant_accounts = {merchant_id: "USD", f"{merchant_id}_eur": "EUR"}

    # --- Provider --------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return path.startswith(("/merchants/", "/braintree/"))

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/braintree/") or "/client_api/" in request.path:
            return browser.page(self, request)
        return self._api(request)

    def control(self, request: Request, path: str, payload: Any) -> Response:
        return control.dispatch(self, request, path, payload)

    def summary(self) -> dict[str, Any]:
        with self._config_lock:
            webhook = {"url": self.webhook_url}
            merchant = self.merchant_id
        return {"objects": self.store.count(), "merchant_id": merchant, "webhook": webhook}

    def snapshot(self) -> dict[str, Any]:
        return {"store": self.store.snapshot()}

    def restore(self, data: dict[str, Any]) -> None:
        self.store.restore(data.get("store", {}))

    def reset(self) -> None:
        self.store.reset()

    # --- configuration ---------------------------------------------------------------------
    def keys(self) -> tuple[str, str, str]:
        with self._config_lock:
            return self.merchant_id, self.public_key, self.private_key

    def configure(
        self,
        *,
        webhook_url: str | None,
        public_key: str | None = None,
        private_key: str | None = None,
    ) -> None:
        with self._config_lock:
            self.webhook_url = webhook_url
            if public_key is not None and private_key is not None:
                self.public_key, self.private_key = public_key, private_key

    # --- the API pipeline ------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        try:
            route, args = self._match(request)
            self._authenticate(request)
            version = request.header("x-apiversion")
            if version and (not version.isdigit() or int(version) < 4):
                raise HTTPError(426, "this API version is no longer supported; upgrade the SDK")
            content_type = request.header("content-type")
            if content_type.lower().startswith("multipart/form-data"):
                body = documents.parse_multipart(content_type, request.body)
            else:
                body = parse(request.body) if request.method in ("POST", "PUT") else {}
        except HTTPError as exc:
            return error_response(exc)
        except XMLInputError as exc:
            return error_response(HTTPError(400, f"the request body is not valid XML: {exc}"))
        faults = self.services.faults
        fault = faults.take(request.method, request.path)
        kind = fault.kind if fault else None
        if fault is not None and kind in ("timeout", "latency"):
            faults.sleep(fault.seconds)
            if kind == "timeout":
                return Response(0, drop_connection=True)
        if kind == "rate_limit_429":
            return error_response(HTTPError(429, "too many requests"))
        if kind == "error_500":
            return error_response(HTTPError(500, "internal server error"))
        response = self._execute(request, route, args, body)
        if kind == "error_500_after":  # the call took effect; the caller cannot tell
            response = error_response(HTTPError(500, "internal server error"))
        if kind == "timeout_after" and fault is not None:
            faults.sleep(fault.seconds)
        response.drop_connection = kind in ("lose_response", "timeout_after")
        return response

    def _execute(
        self, request: Request, route: Route, args: tuple[str, ...], body: dict[str, Any]
    ) -> Response:
        with self.store.lock:
            call = self.call(request, args=args, body=body)
            try:
                answer = route.handler(call)
            except ValidationError as exc:
                response = xml_response(422, "api_error_response", exc.document())
            except HTTPError as exc:
                response = error_response(exc)
            else:
                response = (
                    Response(200, b"", [("Content-Type", XML_TYPE)])
                    if answer is None
                    else xml_response(route.status, *answer)
                )
        if request.method != "GET":
            self.services.dirty.set()
        return response

    def call(
        self,
        request: Request,
        *,
        args: tuple[str, ...] = (),
        body: dict[str, Any] | None = None,
    ) -> Call:
        """A handler context; applies the clock's due transitions first (store lock held)."""
        now = self.services.clock.now()
        transactions.tick(self.store, now, self.emit)
        return Call(
            store=self.store,
            now=now,
            body=body or {},
            args=args,
            query=dict(parse_qsl(request.query)),
            merchant_id=self.keys()[0],
            merchant_accounts=self.merchant_accounts,
            emit=self.emit,
            base_url=request.base_url,
        )

    def _match(self, request: Request) -> tuple[Route, tuple[str, ...]]:
        found = _MERCHANT_PATH.match(request.path)
        if found is not None:
            rest = found.group(2)
            for route in ROUTES:
                match = route.pattern.match(rest)
                if match and route.method == request.method:
                    return route, match.groups()
        raise HTTPError(404, f"no such endpoint: {request.method} {request.path}")

    def _authenticate(self, request: Request) -> None:
        merchant_id, public_key, private_key = self.keys()
        scheme, _, value = request.header("authorization").strip().partition(" ")
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        if not (
            scheme.lower() == "basic"
            and secrets.compare_digest(user.encode(), public_key.encode())
            and secrets.compare_digest(password.encode(), private_key.encode())
        ):
            raise HTTPError(401, "authentication failed: check the public and private keys")
        found = _MERCHANT_PATH.match(request.path)
        if found is None or found.group(1) != merchant_id:
            raise HTTPError(403, "these keys do not belong to that merchant")

    # --- webhooks --------------------------------------------------------------------------
    def emit(self, kind: str, root: str, subject_id: str) -> dict[str, str]:
        """Build a notification now (its subject as it is now), record it and send it."""
        with self._config_lock:
            url, public_key, private_key = self.webhook_url, self.public_key, self.private_key
        faults = self.services.webhooks.settings()["faults"]
        now = self.services.clock.now()
        if faults["wrong_secret"]:
            private_key = "wrong_" + secrets.token_hex(12)
        stale = faults["stale_seconds"] if faults["stale_timestamp"] else 0
        with self.store.lock:
            fields = notifications.build(
                self.store,
                kind,
                subject_id,
                now=now,
                timestamp=now - stale,
                public_key=public_key,
                private_key=private_key,
            )
            key = f"braintree:{kind}:{subject_id}:{random_id(8)}"
            self.store.notifications.append(
                {"key": key, "kind": kind, "subject_id": subject_id, "url": url, "at": now}
            )
            del self.store.notifications[:-MAX_NOTIFICATIONS]
        if url:
            self.services.webhooks.submit(
                url=url,
                body=notifications.form_body(fields),
                signer=lambda body, timestamp, faults: {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "Braintree/1.0",
                },
                key=key,
            )
        return fields
