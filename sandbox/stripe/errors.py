"""Stripe's error objects: `{"error": {type, code, decline_code, param, message, ...}}` + status."""

from __future__ import annotations

from typing import Any

DOC_URL = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error. `stored` says whether idempotency keeps it: Stripe keeps only results of
    requests that began executing, so parameter validation errors are not stored."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        stored: bool = True,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.stored = stored
        self.headers = headers or []

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOC_URL + self.code
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def invalid(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    stored: bool = True,
) -> StripeError:
    return StripeError(
        status, "invalid_request_error", message, code=code, param=param, stored=stored
    )


def validation(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter error found before the endpoint runs; never stored under an idempotency key."""
    return invalid(message, param=param, code=code, stored=False)


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return invalid(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404
    )


def unexpected_state(kind: str, message: str) -> StripeError:
    return invalid(message, code=f"{kind}_unexpected_state")
