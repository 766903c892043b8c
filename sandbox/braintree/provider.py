"""The Braintree stand-in's request pipeline, webhook emission and hooks into the shared server.

The official SDK reaches it through `braintree.Environment(name, host, port, "http://host:port",
False, None, host, port)` and calls `/merchants/<merchant_id>/...` with Basic auth of the
public and private keys. Pipeline: route -> keys and merchant -> XML body -> processor fault
-> clock-driven settlement and the handler under the merchant's store lock -> XML answer (422
`api-error-response` for validation errors and declines).

The stand-in knows several merchants, each with its own keys, merchant accounts and store, as
Braintree keeps merchants apart: a merchant's keys reach only its own objects, and its
notifications are signed with its own keys. The first merchant is the default one.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
# A second merchant (the demo's GBP business): its own keys, objects and merchant accounts.
DEMO_MERCHANT_ID = "ledgerline_sandbox_demo"
DEMO_PUBLIC_KEY = "ledgerline_sandbox_demo_public"
DEMO_PRIVATE_KEY = "ledgerline_sandbox_demo_private"
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


@dataclass
class SandboxMerchant:
    """One Braintree merchant: its keys, its merchant accounts and everything it created."""

    merchant_id: str
    public_key: str
    private_key: str
    # merchant account id -> currency; the first is the default. Braintree names them freely;
    # these follow the `<merchant id>_<currency>` convention Ledgerline's gateway asks for.
    merchant_accounts: dict[str, str]
    store: BraintreeStore = field(default_factory=BraintreeStore)


def merchant_accounts(merchant_id: str, *others: str) -> dict[str, str]:
    """A default USD merchant account named as the merchant, then one per other currency."""
    return {merchant_id: "USD", **{f"{merchant_id}_{c.lower()}": c.upper() for c in others}}


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
        self._config_lock = threading.Lock()
        self.webhook_url = webhook_url
        default = SandboxMerchant(
            merchant_id, public_key, private_key, merchant_accounts(merchant_id, "EUR")
        )
        demo = SandboxMerchant(
            DEMO_MERCHANT_ID,
            DEMO_PUBLIC_KEY,
            DEMO_PRIVATE_KEY,
            merchant_accounts(DEMO_MERCHANT_ID, "GBP", "EUR"),
        )
        self.merchants = {m.merchant_id: m for m in (default, demo)}
        for merchant in self.merchants.values():
            merchant.store.siblings = [
                other.store for other in self.merchants.values() if other is not merchant
            ]

    @property
    def default(self) -> SandboxMerchant:
        return next(iter(self.merchants.values()))

    @property
    def store(self) -> BraintreeStore:
        """The default merchant's store."""
        return self.default.store

    def merchant(self, merchant_id: str) -> SandboxMerchant | None:
        return self.merchants.get(merchant_id)

    def holder(self, kind: str, object_id: str) -> SandboxMerchant | None:
        """The merchant whose store holds that object (ids are unique across merchants)."""
        for merchant in self.merchants.values():
            with merchant.store.lock:
                if object_id in getattr(merchant.store, kind):
                    return merchant
        return None

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
        """Object counts over every merchant, then each merchant's own."""
        with self._config_lock:
            webhook = {"url": self.webhook_url}
        counts = {mid: merchant.store.count() for mid, merchant in self.merchants.items()}
        total: dict[str, int] = {}
        for objects in counts.values():
            for kind, count in objects.items():
                total[kind] = total.get(kind, 0) + count
        merchants = {
            mid: {"objects": counts[mid], "merchant_accounts": dict(merchant.merchant_accounts)}
            for mid, merchant in self.merchants.items()
        }
        return {
            "objects": total,
            "merchant_id": self.default.merchant_id,
            "merchants": merchants,
            "webhook": webhook,
        }

    def snapshot(self) -> dict[str, Any]:
        return {"merchants": {mid: m.store.snapshot() for mid, m in self.merchants.items()}}

    def restore(self, data: dict[str, Any]) -> None:
        saved = data.get("merchants")
        if not isinstance(saved, dict):  # a state file from when there was one merchant
            saved = {self.default.merchant_id: data.get("store", {})}
        for merchant_id, merchant in self.merchants.items():
            merchant.store.restore(saved.get(merchant_id) or {})

    def reset(self) -> None:
        for merchant in self.merchants.values():
            merchant.store.reset()

    # --- configuration ---------------------------------------------------------------------
    def keys(self, merchant: SandboxMerchant | None = None) -> tuple[str, str, str]:
        """(merchant id, public key, private key) of that merchant (default: the default)."""
        merchant = merchant or self.default
        with self._config_lock:
            return merchant.merchant_id, merchant.public_key, merchant.private_key

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
                self.default.public_key, self.default.private_key = public_key, private_key

    # --- the API pipeline ------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        try:
            route, args = self._match(request)
            merchant = self._authenticate(request)
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
        response = self._execute(request, merchant, route, args, body)
        if kind == "error_500_after":  # the call took effect; the caller cannot tell
            response = error_response(HTTPError(500, "internal server error"))
        if kind == "timeout_after" and fault is not None:
            faults.sleep(fault.seconds)
        response.drop_connection = kind in ("lose_response", "timeout_after")
        return response

    def _execute(
        self,
        request: Request,
        merchant: SandboxMerchant,
        route: Route,
        args: tuple[str, ...],
        body: dict[str, Any],
    ) -> Response:
        with merchant.store.lock:
            call = self.call(request, merchant, args=args, body=body)
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
        merchant: SandboxMerchant | None = None,
        *,
        args: tuple[str, ...] = (),
        body: dict[str, Any] | None = None,
    ) -> Call:
        """A handler context for the merchant (default: the default one); applies the clock's
        due transitions to its objects first (its store lock held)."""
        merchant = merchant or self.default
        now = self.services.clock.now()
        emit = self.emitter(merchant)
        transactions.tick(merchant.store, now, emit)
        return Call(
            store=merchant.store,
            now=now,
            body=body or {},
            args=args,
            query=dict(parse_qsl(request.query)),
            merchant_id=merchant.merchant_id,
            merchant_accounts=merchant.merchant_accounts,
            emit=emit,
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

    def _authenticate(self, request: Request) -> SandboxMerchant:
        """The merchant whose keys the call carries; its path must name that merchant."""
        scheme, _, value = request.header("authorization").strip().partition(" ")
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        owner = None
        for merchant in self.merchants.values():
            _, public_key, private_key = self.keys(merchant)
            # Both comparisons always run: the answer's timing names no key.
            public_ok = secrets.compare_digest(user.encode(), public_key.encode())
            private_ok = secrets.compare_digest(password.encode(), private_key.encode())
            if public_ok and private_ok:
                owner = merchant
        if scheme.lower() != "basic" or owner is None:
            raise HTTPError(401, "authentication failed: check the public and private keys")
        found = _MERCHANT_PATH.match(request.path)
        if found is None or found.group(1) != owner.merchant_id:
            raise HTTPError(403, "these keys do not belong to that merchant")
        return owner

    # --- webhooks --------------------------------------------------------------------------
    def emitter(self, merchant: SandboxMerchant) -> Callable[[str, str, str], dict[str, str]]:
        """`emit` for that merchant's objects."""
        return lambda kind, root, subject_id: self.emit(kind, root, subject_id, merchant)

    def emit(
        self, kind: str, root: str, subject_id: str, merchant: SandboxMerchant | None = None
    ) -> dict[str, str]:
        """Build a notification now (its subject as it is now), signed with the merchant's keys
        (default: the default merchant), record it in its store and send it."""
        merchant = merchant or self.default
        store = merchant.store
        _, public_key, private_key = self.keys(merchant)
        with self._config_lock:
            url = self.webhook_url
        faults = self.services.webhooks.settings()["faults"]
        now = self.services.clock.now()
        if faults["wrong_secret"]:
            private_key = "wrong_" + secrets.token_hex(12)
        stale = faults["stale_seconds"] if faults["stale_timestamp"] else 0
        with store.lock:
            fields = notifications.build(
                store,
                kind,
                subject_id,
                now=now,
                timestamp=now - stale,
                public_key=public_key,
                private_key=private_key,
                merchant_id=merchant.merchant_id,
            )
            key = f"braintree:{kind}:{subject_id}:{random_id(8)}"
            store.notifications.append(
                {
                    "key": key,
                    "kind": kind,
                    "subject_id": subject_id,
                    "merchant_id": merchant.merchant_id,
                    "url": url,
                    "at": now,
                }
            )
            del store.notifications[:-MAX_NOTIFICATIONS]
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
