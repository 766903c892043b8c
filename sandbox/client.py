"""A small client for the control API (/_sandbox/...), for test suites in other parts.

Stdlib only, so a suite can drive a sandbox started in a thread, a subprocess or `make run`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ControlAPIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            f"{self.base_url}/_sandbox/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise ControlAPIError(exc.code, str(detail)) from exc

    def reset(self) -> None:
        self.request("POST", "reset")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "state")
        return result

    def count(self, object_type: str) -> int:
        """How many objects of a type exist (e.g. "charge"), across all accounts."""
        return int(self.state()["stripe"]["objects"].get(object_type, 0))

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        seconds: float | None = None,
    ) -> None:
        spec: dict[str, Any] = {"kind": kind, "count": count, "method": method, "path": path}
        if seconds is not None:
            spec["seconds"] = seconds
        self.request("POST", "faults", {k: v for k, v in spec.items() if v is not None})

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def webhooks(
        self, *, faults: dict[str, Any] | None = None, retry: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "POST", "webhooks", {"faults": faults or {}, "retry": retry or {}}
        )
        return result

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "webhooks")["deliveries"])

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return bool(self.request("POST", "webhooks/wait", {"timeout": timeout})["idle"])

    def set_stripe_webhook(self, url: str | None, secrets: list[str] | None = None) -> None:
        body: dict[str, Any] = {"url": url}
        if secrets is not None:
            body["secrets"] = secrets
        self.request("POST", "stripe/webhook", body)

    def advance_clock(self, seconds: float) -> int:
        return int(self.request("POST", "clock", {"advance_seconds": seconds})["now"])

    def stripe_action(
        self, kind: str, object_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """E.g. ("payment_intents", pi_id, "authenticate", {"outcome": "approve"})."""
        result: dict[str, Any] = self.request(
            "POST", f"stripe/{kind}/{object_id}/{action}", body or {}
        )
        return result

    def stripe_object(self, object_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"stripe/objects/{object_id}")
        return result

    # --- Plaid -------------------------------------------------------------------------------
    def plaid(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any /_sandbox/plaid/<path> call, e.g. ("POST", "keys/rotate")."""
        result: dict[str, Any] = self.request(method, f"plaid/{path.lstrip('/')}", body)
        return result

    def plaid_item(self, item_id: str) -> dict[str, Any]:
        return self.plaid("GET", f"items/{item_id}")

    def plaid_webhooks(self) -> list[dict[str, Any]]:
        """Every Plaid webhook built so far (sent or, without a URL, only recorded)."""
        return list(self.plaid("GET", "webhooks")["webhooks"])

    def plaid_fire_webhook(
        self, item_id: str, webhook_code: str, webhook_type: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"webhook_code": webhook_code}
        if webhook_type is not None:
            body["webhook_type"] = webhook_type
        return self.plaid("POST", f"items/{item_id}/fire_webhook", body)

    def plaid_set_verification_status(
        self, account_id: str, status: str, *, webhook: bool = False
    ) -> dict[str, Any]:
        return self.plaid(
            "POST",
            f"accounts/{account_id}/verification_status",
            {"verification_status": status, "webhook": webhook},
        )

    def plaid_rotate_key(self) -> str:
        return str(self.plaid("POST", "keys/rotate")["current"])

    def plaid_expire_keys(self, kid: str | None = None) -> dict[str, Any]:
        return self.plaid("POST", "keys/expire", {} if kid is None else {"kid": kid})

    def plaid_signature_faults(self, **faults: Any) -> dict[str, Any]:
        """alg="none"|"HS256"|"ES256", tamper_body=bool, unknown_kid=bool."""
        return self.plaid("POST", "webhook/faults", faults)

    # --- Braintree ---------------------------------------------------------------------------
    def braintree(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Any /_sandbox/braintree/<path> call, e.g. ("POST", "transactions/ID/dispute")."""
        result: dict[str, Any] = self.request(method, f"braintree/{path.lstrip('/')}", body)
        return result

    def braintree_sample_notification(
        self, kind: str, subject_id: str, *, deliver: bool = False, merchant_id: str | None = None
    ) -> dict[str, str]:
        """{"bt_signature", "bt_payload"} like the SDK's WebhookTesting.sample_notification,
        signed by that sandbox merchant (default: the default one)."""
        body: dict[str, Any] = {"kind": kind, "id": subject_id, "deliver": deliver}
        if merchant_id is not None:
            body["merchant_id"] = merchant_id
        fields = self.braintree("POST", "webhooks/sample", body)
        return {"bt_signature": fields["bt_signature"], "bt_payload": fields["bt_payload"]}
