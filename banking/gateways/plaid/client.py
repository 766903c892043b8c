"""Every Plaid call goes through `call`: client, timeouts, the resilience core, translation.

- The client is built from settings on first use (never at import): `PLAID_API_BASE` (the
  sandbox) when set, else the host of `PLAID_ENV`. urllib3's own retries are off; ours decide.
- Responses are read raw (`_preload_content=False`) and parsed as plain JSON: the SDK's typed
  models reject enum values they do not know (a new `verification_status` would become an
  exception), and its DEBUG logging of preloaded bodies would print access tokens.
- Retries and the "plaid" circuit breaker are config.resilience's; this module says which
  errors are worth another attempt (a 429, a 5xx `API_ERROR`, and network errors for calls
  marked `retry_uncertain`: a read, or a write whose duplicate is harmless; exchange and token
  rotation are not retried after an uncertain outcome, since a second attempt could lose the
  token the first one produced) and which ones are an outage (network errors, 5xx
  `API_ERROR`, an answer that is not JSON). A bank's `INSTITUTION_ERROR` is not Plaid's outage
  and never opens the breaker; neither does any refusal of a request.
- Translation: SDK exceptions become banking.exceptions here and nowhere else; messages never
  quote Plaid's free text (which may echo request values), only its error codes. An open
  breaker is `PlaidUnavailableError` with a Retry-After.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plaid
import urllib3
from django.conf import settings
from plaid.api import plaid_api

from banking.exceptions import (
    PlaidAuthenticationError,
    PlaidItemLoginRequiredError,
    PlaidMicrodepositCodeError,
    PlaidRequestError,
    PlaidUnavailableError,
)
from config import resilience
from config.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# Plaid's tunables, read on every call (tests shorten them).
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 15.0
MAX_ATTEMPTS = 3
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0
BREAKER_FAIL_MAX = 5
BREAKER_RESET_TIMEOUT_SECONDS = 30.0

_HOSTS = {
    "sandbox": plaid.Environment.Sandbox,
    "production": plaid.Environment.Production,
}


@dataclass(frozen=True)
class PlaidFailure:
    """Plaid's error object, minus its free-text messages."""

    status: int
    error_type: str
    error_code: str
    request_id: str


_lock = threading.Lock()
_clients: dict[tuple[str, str, str], plaid_api.PlaidApi] = {}


def plaid_host() -> str:
    if settings.PLAID_API_BASE:
        return str(settings.PLAID_API_BASE).rstrip("/")
    try:
        return str(_HOSTS[settings.PLAID_ENV])
    except KeyError as exc:
        raise PlaidAuthenticationError("PLAID_ENV must be 'sandbox' or 'production'.") from exc


def api() -> plaid_api.PlaidApi:
    """The PlaidApi for the current settings (one per host and credentials, thread-safe)."""
    key = (plaid_host(), settings.PLAID_CLIENT_ID, settings.PLAID_SECRET)
    with _lock:
        client = _clients.get(key)
        if client is None:
            if not key[1] or not key[2]:
                raise PlaidAuthenticationError("PLAID_CLIENT_ID and PLAID_SECRET must be set.")
            configuration = plaid.Configuration(
                host=key[0], api_key={"clientId": key[1], "secret": key[2]}
            )
            configuration.retries = False
            client = plaid_api.PlaidApi(plaid.ApiClient(configuration))
            _clients[key] = client
        return client


def _failure(exc: plaid.ApiException) -> PlaidFailure:
    body: Any = None
    if exc.body:
        try:
            body = json.loads(exc.body)
        except (ValueError, TypeError):
            body = None
    body = body if isinstance(body, dict) else {}
    return PlaidFailure(
        status=int(exc.status or 0),
        error_type=str(body.get("error_type") or ""),
        error_code=str(body.get("error_code") or ""),
        request_id=str(body.get("request_id") or ""),
    )


_MICRODEPOSIT_CODES = {"INCORRECT_DEPOSIT_VERIFICATION", "TOO_MANY_VERIFICATION_ATTEMPTS"}


def translate(failure: PlaidFailure) -> ApplicationError:
    """Plaid's error object as one of our exceptions (codes only, never Plaid's free text)."""
    details = {
        "plaid_error_type": failure.error_type,
        "plaid_error_code": failure.error_code,
        "request_id": failure.request_id,
    }
    code = failure.error_code
    if failure.status == 0 or failure.error_type in ("API_ERROR", "RATE_LIMIT_EXCEEDED"):
        return PlaidUnavailableError()
    if failure.error_type == "INSTITUTION_ERROR":
        return PlaidUnavailableError("The bank is not responding right now; retry later.")
    if code in ("INVALID_API_KEYS", "UNAUTHORIZED_ENVIRONMENT", "INVALID_PRODUCT") or (
        failure.status in (401, 403) and not code
    ):
        return PlaidAuthenticationError()
    if code == "ITEM_LOGIN_REQUIRED":
        return PlaidItemLoginRequiredError(**details)
    if code in _MICRODEPOSIT_CODES:
        return PlaidMicrodepositCodeError(**details)
    message = f"The bank-linking provider refused the request ({code or 'unknown error'})."
    return PlaidRequestError(message, code=(code or "plaid_error").lower(), **details)


def _retryable(failure: PlaidFailure) -> bool:
    return failure.status == 429 or (
        failure.status >= 500 and failure.error_type in ("API_ERROR", "")
    )


class MalformedAnswerError(Exception):
    """Plaid answered 2xx with something that is not a JSON object (a proxy's page, ...)."""


def _uncertain(exc: BaseException) -> bool:
    """The request may or may not have reached Plaid (status 0: the SDK could not tell)."""
    if isinstance(exc, plaid.ApiException):
        return not exc.status
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError))


def _retryable_answer(exc: BaseException) -> bool:
    return isinstance(exc, plaid.ApiException) and bool(exc.status) and _retryable(_failure(exc))


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt, for a call whose duplicate is harmless."""
    return _retryable_answer(exc) or _uncertain(exc)


def is_outage(exc: BaseException) -> bool:
    """Plaid is unreachable or broken (never a refusal, a rate limit or a bank's error)."""
    if _uncertain(exc) or isinstance(exc, MalformedAnswerError):
        return True
    if isinstance(exc, plaid.ApiException):
        failure = _failure(exc)
        return failure.status >= 500 and failure.error_type in ("API_ERROR", "")
    return False


def policy() -> resilience.Policy:
    """How Plaid is called, from the tunables above."""
    return resilience.Policy(
        name="plaid",
        is_retryable=is_retryable,
        is_outage=is_outage,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        attempts=MAX_ATTEMPTS,
        backoff_initial=BACKOFF_INITIAL_SECONDS,
        backoff_max=BACKOFF_MAX_SECONDS,
        fail_max=BREAKER_FAIL_MAX,
        reset_timeout=BREAKER_RESET_TIMEOUT_SECONDS,
    )


def breaker_reset() -> None:
    """Start a fresh, closed Plaid breaker (tests; an operator after fixing an outage)."""
    resilience.breaker_reset("plaid")


def call(
    operation: Callable[..., Any], request: Any, *, name: str, retry_uncertain: bool
) -> dict[str, Any]:
    """Call one PlaidApi operation and return its JSON body as a dict."""
    current = policy()

    def send() -> dict[str, Any]:
        response = operation(request, _preload_content=False, _request_timeout=current.timeout)
        try:
            body = json.loads(response.data)
        except ValueError:
            raise MalformedAnswerError from None
        if not isinstance(body, dict):
            raise MalformedAnswerError
        return body

    try:
        return resilience.call(
            current, name, send, retry_if=None if retry_uncertain else _retryable_answer
        )
    except resilience.CircuitOpenError as exc:
        raise PlaidUnavailableError(retry_after=exc.retry_after) from None
    except plaid.ApiException as exc:
        failure = _failure(exc)
        logger.warning(
            "Plaid %s failed: %s %s (request %s)",
            name,
            failure.error_type or failure.status,
            failure.error_code,
            failure.request_id,
        )
        raise translate(failure) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        logger.warning("Plaid %s unreachable: %s", name, type(exc).__name__)
        raise PlaidUnavailableError() from None
    except MalformedAnswerError:
        logger.warning("Plaid %s answered something that is not JSON", name)
        raise PlaidUnavailableError() from None
    except ValueError as exc:
        # The SDK refused to build the request (its own argument checks): nothing was sent.
        logger.warning("Plaid %s request not sent: %s", name, type(exc).__name__)
        raise PlaidUnavailableError() from None
