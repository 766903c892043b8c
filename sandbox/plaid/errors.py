"""Plaid error objects: `error_type` + `error_code` + messages, with the HTTP status Plaid uses.

Plaid answers every failure with the same JSON object (and the request's `request_id`), so
handlers raise `PlaidError` and the provider renders it in one place.
"""

from __future__ import annotations

from typing import Any

_DOCS = "https://plaid.com/docs/errors/"
# Plaid's documented statuses per error type; individual codes may override (see `PlaidError`).
_STATUS_BY_TYPE = {
    "INVALID_REQUEST": 400,
    "INVALID_INPUT": 400,
    "INVALID_RESULT": 400,
    "ITEM_ERROR": 400,
    "INSTITUTION_ERROR": 400,
    "SANDBOX_ERROR": 400,
    "MICRODEPOSITS_ERROR": 400,
    "RATE_LIMIT_EXCEEDED": 429,
    "API_ERROR": 500,
}


class PlaidError(Exception):
    """One Plaid error; `body(request_id)` is exactly what Plaid puts on the wire."""

    def __init__(
        self,
        error_type: str,
        error_code: str,
        message: str,
        *,
        display_message: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error_code = error_code
        self.message = message
        self.display_message = display_message
        self.status = status or _STATUS_BY_TYPE.get(error_type, 400)

    def item_error(self) -> dict[str, Any]:
        """The error as it is embedded in an Item (`item.error`) or a webhook: no request_id."""
        return {
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_code_reason": None,
            "error_message": self.message,
            "display_message": self.display_message,
            "request_id": "",
            "causes": [],
            "status": self.status,
            "documentation_url": _DOCS + self.error_type.lower().replace("_", "-"),
            "suggested_action": None,
        }

    def body(self, request_id: str) -> dict[str, Any]:
        return {**self.item_error(), "request_id": request_id}


def invalid_request(code: str, message: str, status: int = 400) -> PlaidError:
    return PlaidError("INVALID_REQUEST", code, message, status=status)


def invalid_input(code: str, message: str) -> PlaidError:
    return PlaidError("INVALID_INPUT", code, message)


def item_error(code: str, message: str, display: str | None = None) -> PlaidError:
    return PlaidError("ITEM_ERROR", code, message, display_message=display)


def login_required() -> PlaidError:
    return item_error(
        "ITEM_LOGIN_REQUIRED",
        "the login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information. use Link's update "
        "mode to restore the item to a good state",
        "To update your credentials, please log in to your bank again.",
    )


def invalid_credentials() -> PlaidError:
    return item_error(
        "INVALID_CREDENTIALS",
        "the provided credentials were not correct",
        "The credentials you provided were incorrect. Check that your credentials are the "
        "same that you use to access your online banking.",
    )


def item_not_found() -> PlaidError:
    return item_error(
        "ITEM_NOT_FOUND",
        "the Item you requested cannot be found. This Item does not exist, has been previously "
        "removed via /item/remove, or has had access removed by the user",
    )


def product_not_ready(message: str) -> PlaidError:
    return item_error("PRODUCT_NOT_READY", message)
