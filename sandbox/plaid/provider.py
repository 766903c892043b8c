"""The Plaid stand-in's request pipeline, webhook signing and hooks into the shared server.

Pipeline for the API: POST only -> JSON object body -> client_id/secret (headers as
plaid-python sends them, or body fields) -> known fields -> processor fault -> clock-driven
transitions and the handler under the store lock. Every answer carries `request_id` in the body.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
import threading
from typing import Any

from sandbox.plaid import api, control, errors, items, link
from sandbox.plaid.errors import PlaidError
from sandbox.plaid.keys import KeyRing
from sandbox.plaid.store import JSON, PlaidStore
from sandbox.provider import Provider, Services
from sandbox.webhooks import WebhookFaults
from sandbox.wire import Request, Response, json_response

DEFAULT_CLIENT_ID = "ledgerline_sandbox_client"
DEFAULT_SECRET = "ledgerline_sandbox_secret"  # noqa: S105 (public dev default)
_REQUEST_ID_ALPHABET = string.ascii_letters + string.digits


def request_id() -> str:
    """Plaid's request ids are 15 letters and digits."""
    return "".join(secrets.choice(_REQUEST_ID_ALPHABET) for _ in range(15))


class PlaidProvider(Provider):
    name = "plaid"

    def __init__(
        self,
        services: Services,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        secret: str = DEFAULT_SECRET,
    ) -> None:
        super().__init__(services)
        self.store = PlaidStore()
        self.keys = KeyRing(services.clock.timestamp())
        self._config_lock = threading.Lock()
        self.client_id = client_id
        self.secret = secret
        self.sessions = link.Sessions()
        self._webhook_seq = itertools.count(1)

    # --- Provider --------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return path in api.ENDPOINTS or link.handles(path)

    def handle(self, request: Request) -> Response:
        if request.path in api.ENDPOINTS:
            return self._api(request)
        return link.page(self, request)

    def control(self, request: Request, path: str, payload: Any) -> Response:
        return control.dispatch(self, request, path, payload)

    def summary(self) -> dict[str, Any]:
        with self._config_lock:
            client_id = self.client_id
        return {
            "objects": self.store.count(),
            "client_id": client_id,
            "keys": [k["kid"] for k in self.keys.listing()],
        }

    def snapshot(self) -> dict[str, Any]:
        return {"store": self.store.snapshot(), "keys": self.keys.snapshot()}

    def restore(self, data: dict[str, Any]) -> None:
        self.store.restore(data.get("store", {}))
        if data.get("keys"):
            self.keys.restore(data["keys"])

    def reset(self) -> None:
        self.store.reset()
        self.keys.reset(self.services.clock.timestamp())
        self.sessions.reset()

    # --- configuration ---------------------------------------------------------------------
    def credentials(self) -> tuple[str, str]:
        with self._config_lock:
            return self.client_id, self.secret

    def set_credentials(self, client_id: str, secret: str) -> None:
        with self._config_lock:
            self.client_id, self.secret = client_id, secret

    # --- the API pipeline ------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        rid = request_id()
        try:
            if request.method != "POST":
                raise errors.invalid_request(
                    "NOT_FOUND", f"{request.method} is not supported: Plaid's API takes POST", 404
                )
            body = self._body(request)
            self._authenticate(request, body)
            endpoint = api.ENDPOINTS[request.path]
            api.check_fields(endpoint, body)
        except PlaidError as exc:
            return json_response(exc.status, exc.body(rid))
        fault = self.services.faults.take(request.method, request.path)
        kind = fault.kind if fault else None
        if fault is not None and kind in ("timeout", "latency"):
            self.services.faults.sleep(fault.seconds)
            if kind == "timeout":
                return Response(0, drop_connection=True)
        if kind == "rate_limit_429":
            error = PlaidError(
                "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", "rate limit exceeded for this client_id"
            )
            return json_response(error.status, error.body(rid))
        if kind == "error_500":
            error = PlaidError(
                "API_ERROR", "INTERNAL_SERVER_ERROR", "an unexpected error occurred", status=500
            )
            return json_response(500, error.body(rid))
        with self.store.lock:
            now = self.services.clock.timestamp()
            items.tick(self.store, now, self.emit)
            call = api.Call(body=body, now=now, store=self.store, keys=self.keys, emit=self.emit)
            try:
                status, payload = 200, {**endpoint.handler(call), "request_id": rid}
            except PlaidError as exc:
                status, payload = exc.status, exc.body(rid)
        self.services.dirty.set()
        response = json_response(status, payload)
        response.drop_connection = kind == "lose_response"
        return response

    def _body(self, request: Request) -> JSON:
        content_type = request.header("content-type", "application/json").split(";")[0].strip()
        if content_type.lower() != "application/json":
            raise errors.invalid_request(
                "INVALID_HEADERS", "the Content-Type header must be application/json"
            )
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.invalid_request(
                "INVALID_BODY", "body could not be parsed as JSON"
            ) from exc
        if not isinstance(body, dict):
            raise errors.invalid_request("INVALID_BODY", "body must be a JSON object")
        return body

    def _authenticate(self, request: Request, body: JSON) -> None:
        # plaid-python sends PLAID-CLIENT-ID / PLAID-SECRET headers; Plaid also takes body fields.
        client_id = request.header("plaid-client-id") or body.get("client_id")
        secret = request.header("plaid-secret") or body.get("secret")
        missing = [n for n, v in (("client_id", client_id), ("secret", secret)) if not v]
        if missing:
            raise errors.invalid_request(
                "MISSING_FIELDS", f"the following required fields are missing: {', '.join(missing)}"
            )
        want_id, want_secret = self.credentials()
        if not (
            isinstance(client_id, str)
            and isinstance(secret, str)
            and secrets.compare_digest(client_id.encode(), want_id.encode())
            and secrets.compare_digest(secret.encode(), want_secret.encode())
        ):
            raise errors.invalid_input("INVALID_API_KEYS", "invalid client_id or secret provided")

    # --- webhooks --------------------------------------------------------------------------
    def emit(self, item: JSON, payload: JSON) -> None:
        """Record a webhook and, when the Item has a URL, sign it and queue its delivery."""
        url = item.get("webhook")
        self.store.webhooks.append({"item_id": item["item_id"], "url": url, "body": payload})
        if not url:
            return
        # Plaid's bodies are pretty-printed; the JWT hashes exactly these bytes.
        body = json.dumps(payload, indent=2).encode()
        keys = self.keys

        def signer(data: bytes, timestamp: int, faults: WebhookFaults) -> dict[str, str]:
            return {
                "Content-Type": "application/json",
                "User-Agent": "Plaid Technologies, Inc.",
                "Plaid-Verification": keys.sign(data, timestamp, wrong_key=faults.wrong_secret),
            }

        key = f"plaid:{item['item_id']}:{payload['webhook_code']}:{next(self._webhook_seq)}"
        self.services.webhooks.submit(url=url, body=body, signer=signer, key=key)
