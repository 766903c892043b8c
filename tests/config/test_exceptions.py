"""One error shape for every API failure: {"error": {"type", "code", "message", "param"}}."""

from __future__ import annotations

from rest_framework import exceptions as drf_exceptions

from config.exceptions import ApplicationError, NotFoundError, api_exception_handler


class _AmountTooLargeError(ApplicationError):
    status_code = 422
    code = "amount_too_large"


def test_application_error_keeps_code_status_and_param() -> None:
    response = api_exception_handler(_AmountTooLargeError("Too much.", param="amount"), {})
    assert response is not None
    assert response.status_code == 422
    assert response.data == {
        "error": {
            "type": "invalid_request_error",
            "code": "amount_too_large",
            "message": "Too much.",
            "param": "amount",
        }
    }


def test_validation_error_names_the_first_bad_parameter() -> None:
    exc = drf_exceptions.ValidationError({"currency": ["Not a valid choice."]})
    response = api_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 400
    assert response.data["error"]["param"] == "currency"
    assert response.data["error"]["message"] == "Not a valid choice."


def test_nested_validation_error_uses_a_dotted_param() -> None:
    exc = drf_exceptions.ValidationError({"billing": {"email": ["Enter a valid email."]}})
    response = api_exception_handler(exc, {})
    assert response is not None
    assert response.data["error"]["param"] == "billing.email"


def test_throttled_answers_429_with_retry_after() -> None:
    response = api_exception_handler(drf_exceptions.Throttled(wait=2.4), {})
    assert response is not None
    assert response.status_code == 429
    assert response["Retry-After"] == "3"
    assert response.data["error"]["type"] == "rate_limit_error"


def test_not_found_maps_to_resource_missing() -> None:
    response = api_exception_handler(NotFoundError(), {})
    assert response is not None
    assert response.status_code == 404
    assert response.data["error"]["code"] == "resource_missing"


def test_authentication_failure_is_401() -> None:
    response = api_exception_handler(drf_exceptions.AuthenticationFailed(), {})
    assert response is not None
    assert response.status_code in (401, 403)
    assert response.data["error"]["type"] == "authentication_error"


def test_unknown_exceptions_are_left_to_django() -> None:
    assert api_exception_handler(RuntimeError("boom"), {}) is None
