"""Typed application errors and the one place that turns any error into the API's error format.

Every app raises subclasses of `ApplicationError` carrying a stable `code`, an error `type` and
an HTTP status; DRF's own exceptions are mapped here too, so clients always receive
`{"error": {"type", "code", "message", "param"}}` and never a 500 page for bad input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from config.card_numbers import mask_card_numbers

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An expected failure with a client-facing code; subclasses fix type, code and status."""

    status_code: int = 400
    error_type: str = "invalid_request_error"
    code: str = "invalid_request"
    default_message: str = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.param = param
        self.headers = headers or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    status_code = 404
    code = "resource_missing"
    default_message = "No such object."


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"


class UnprocessableError(ApplicationError):
    status_code = 422
    code = "unprocessable"


class ServiceUnavailableError(ApplicationError):
    status_code = 503
    error_type = "api_error"
    code = "service_unavailable"
    default_message = "A dependency is unavailable; retry later."


def error_body(
    *, error_type: str, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    # Some messages quote the input ("x" is not a valid choice) and a param can be a metadata
    # key: an error never repeats a card number.
    message = mask_card_numbers(message)
    param = mask_card_numbers(param) if param else param
    return {"error": {"type": error_type, "code": code, "message": message, "param": param}}


def _first_validation_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str]:
    """Flatten DRF's nested validation detail to its first (param, code, message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_validation_error(value, f"{prefix}.{name}" if prefix and name else name)
    if isinstance(detail, list) and detail:
        return _first_validation_error(detail[0], prefix)
    code = getattr(detail, "code", "invalid") or "invalid"
    return (prefix or None, str(code), str(detail))


_DRF_TYPES: dict[type[Exception], tuple[str, str]] = {
    drf_exceptions.NotAuthenticated: ("authentication_error", "not_authenticated"),
    drf_exceptions.AuthenticationFailed: ("authentication_error", "authentication_failed"),
    drf_exceptions.PermissionDenied: ("permission_error", "permission_denied"),
    drf_exceptions.NotFound: ("invalid_request_error", "resource_missing"),
    drf_exceptions.MethodNotAllowed: ("invalid_request_error", "method_not_allowed"),
    drf_exceptions.NotAcceptable: ("invalid_request_error", "not_acceptable"),
    drf_exceptions.UnsupportedMediaType: ("invalid_request_error", "unsupported_media_type"),
    drf_exceptions.ParseError: ("invalid_request_error", "parse_error"),
    drf_exceptions.Throttled: ("rate_limit_error", "rate_limited"),
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: one error shape for application, DRF and Django errors."""
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        set_rollback()
        body = error_body(
            error_type=exc.error_type, code=exc.code, message=exc.message, param=exc.param
        )
        return Response(body, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, drf_exceptions.ValidationError):
        set_rollback()
        param, code, message = _first_validation_error(exc.detail)
        body = error_body(
            error_type="invalid_request_error", code=code, message=message, param=param
        )
        return Response(body, status=400)

    if isinstance(exc, drf_exceptions.APIException):
        set_rollback()
        error_type, code = next(
            (value for cls, value in _DRF_TYPES.items() if isinstance(exc, cls)),
            ("api_error", exc.default_code),
        )
        raised_code = exc.get_codes()
        if isinstance(raised_code, str) and raised_code != exc.default_code:
            code = raised_code  # a specific code given where it was raised
        headers: dict[str, str] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf_exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        body = error_body(
            error_type=error_type,
            code=code,
            message=str(exc.detail),
            param=getattr(exc, "param", None),
        )
        return Response(body, status=exc.status_code, headers=headers)

    return None


# Under /api/ every answer is JSON, errors included: a client parsing our error shape must
# never meet Django's HTML 404/500 page (or the technical one with DEBUG on).
API_PATH_PREFIX = "/api/"
# Longer request targets answer 414 here, in the error shape; gunicorn's own limit
# (config/gunicorn.py, limit_request_line) is set above this so that we are the ones to answer.
MAXIMUM_API_URL_LENGTH = 4096
_STATUS_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request_error", "bad_request", "The request could not be understood."),
    403: ("permission_error", "permission_denied", "This request is not allowed."),
    404: ("invalid_request_error", "resource_missing", "Unrecognized request URL."),
    405: ("invalid_request_error", "method_not_allowed", "Method not allowed on this URL."),
    413: ("invalid_request_error", "request_too_large", "The request body is too large."),
    414: ("invalid_request_error", "uri_too_long", "The request URL is too long."),
    500: ("api_error", "internal_error", "Something went wrong on our side; retry later."),
}


def _shaped_error_response(status: int) -> HttpResponse:
    error_type, code, message = _STATUS_ERRORS.get(
        status,
        (
            "api_error" if status >= 500 else "invalid_request_error",
            HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
            f"{HTTPStatus(status).phrase}.",
        ),
    )
    body = error_body(error_type=error_type, code=code, message=message)
    return JsonResponse(body, status=status)


class ApiErrorShapeMiddleware:
    """Gives every error answered under /api/ the API's JSON error shape.

    DRF views already answer in it (`api_exception_handler`); this covers what happens outside
    them: an unknown URL (Django's 404), an uncaught exception (Django logs it, then its 500
    page), a too-long URL and errors raised by other middleware. Place it outside every
    middleware whose errors it should reshape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(API_PATH_PREFIX):
            return self.get_response(request)
        if len(request.get_full_path()) > MAXIMUM_API_URL_LENGTH:
            return _shaped_error_response(414)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            shaped = _shaped_error_response(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    shaped[header] = response[header]
            return shaped
        return response
