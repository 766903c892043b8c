"""Every Plaid call goes through `call`: client, timeouts, bounded retries, error translation.

- The client is built from settings on first use (never at import): `PLAID_API_BASE` (the
  sandbox) when set, else the host of `PLAID_ENV`. urllib3's own retries are off; ours decide.
- Responses are read raw (`_preload_content=False`) and parsed as plain JSON: the SDK's typed
  models reject enum values they do not know (a new `verification_status` would become an
  exception), and its DEBUG logging of preloaded bodies would print access tokens.
- Retries: only what may succeed on a second try and cannot do harm twice: a 429, a 5xx
  `API_ERROR`, and network errors for calls marked `retry_uncertain` (a read, or a write whose
  duplicate is harmless). Exchange and token rotation are not retried after an uncertain
  outcome, since a second attempt could lose the token the first one produced.
- Translation: SDK exceptions become banking.exceptions here and nowhere else; messages never
  quote Plaid's free text (which may echo request values), only its error codes.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
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
from config.exceptions import ApplicationError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 15.0
MAX_ATTEMPTS = 3
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0

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


def _backoff(attempt: int) -> float:
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def call(
    operation: Callable[..., Any], request: Any, *, name: str, retry_uncertain: bool
) -> dict[str, Any]:
    """Call one PlaidApi operation and return its JSON body as a dict."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = operation(
                request,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            )
            body = json.loads(response.data)
        except plaid.ApiException as exc:
            failure = _failure(exc)
            # Status 0: the request could not be built or sent; its outcome is uncertain only
            # when it may have reached Plaid, which the SDK cannot tell us, so follow the flag.
            retry = _retryable(failure) or (failure.status == 0 and retry_uncertain)
            if retry and attempt < MAX_ATTEMPTS:
                time.sleep(_backoff(attempt))
                continue
            logger.warning(
                "Plaid %s failed: %s %s (request %s)",
                name,
                failure.error_type or failure.status,
                failure.error_code,
                failure.request_id,
            )
            raise translate(failure) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if retry_uncertain and attempt < MAX_ATTEMPTS:
                time.sleep(_backoff(attempt))
                continue
            logger.warning("Plaid %s unreachable: %s", name, type(exc).__name__)
            raise PlaidUnavailableError() from None
        except ValueError:
            logger.warning("Plaid %s answered something that is not JSON", name)
            raise PlaidUnavailableError() from None
        if not isinstance(body, dict):
            raise PlaidUnavailableError()
        return body
    raise PlaidUnavailableError()  # pragma: no cover - the loop always returns or raises
