"""Errors of the API plumbing itself (bad parameters, idempotency keys), rendered by
config.exceptions like every app's."""

from __future__ import annotations

from typing import Any

from config.exceptions import ApplicationError, ConflictError, UnprocessableError, error_body


class InvalidRequestError(ApplicationError):
    """A parameter the plumbing reads (a list cursor, an `Idempotency-Key`) is not valid."""

    status_code = 400
    code = "parameter_invalid"


class IdempotencyKeyInUseError(ConflictError):
    code = "idempotency_key_in_use"
    error_type = "idempotency_error"
    default_message = (
        "A request with this Idempotency-Key is still being processed; retry after it completes."
    )


class IdempotencyKeyReusedError(UnprocessableError):
    code = "idempotency_key_reused"
    error_type = "idempotency_error"
    default_message = "This Idempotency-Key was already used with different request parameters."


def application_error_body(exc: ApplicationError) -> dict[str, Any]:
    """The API's error body for `exc`, as an operation's stored or returned answer."""
    return error_body(
        error_type=exc.error_type, code=exc.code, message=exc.message, param=exc.param
    )
