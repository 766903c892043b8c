"""Stripe's side of the resilience core (config.resilience): which errors to retry, which
count as an outage, and how every SDK error is translated into payments.exceptions.

- Retried: only what may succeed on a second try (network errors, 409 lock or
  idempotency-in-flight, 429, 5xx). Every mutating call carries an idempotency key, so a
  retry can never charge twice.
- Outages (counted by the "stripe" breaker): network errors and 5xx. Declines and invalid
  requests are business answers, not failures, and never open it.
- Translation: SDK exceptions become payments.exceptions here and nowhere else; an open
  breaker is `ProcessorUnavailableError` with a Retry-After, or outcome-unknown for a write
  whose earlier attempt may have reached Stripe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
import stripe

from config import resilience
from config.card_numbers import mask_card_numbers
from config.exceptions import ApplicationError
from payments.exceptions import (
    CardDeclinedError,
    ProcessorAuthenticationError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
    ProcessorUnavailableError,
)
from payments.gateways.stripe import client

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Stripe's tunables, read on every call (tests shorten them); the timeouts are the client's.
MAX_ATTEMPTS = 3
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0
BREAKER_FAIL_MAX = 5
BREAKER_RESET_TIMEOUT_SECONDS = 30.0


def _status(exc: BaseException) -> int:
    return int(getattr(exc, "http_status", None) or 0)


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt with the same idempotency key."""
    if isinstance(exc, stripe.APIConnectionError):
        return True
    if isinstance(exc, stripe.StripeError):
        status = _status(exc)
        return status in (409, 429) or status >= 500
    return False


def is_outage(exc: BaseException) -> bool:
    """Counts against the breaker: the processor is unreachable or broken, not just saying no."""
    if isinstance(exc, stripe.APIConnectionError):
        return True
    return isinstance(exc, stripe.StripeError) and _status(exc) >= 500


def policy() -> resilience.Policy:
    """How Stripe is called, from the tunables above and the client's timeouts."""
    return resilience.Policy(
        name="stripe",
        is_retryable=is_retryable,
        is_outage=is_outage,
        connect_timeout=client.CONNECT_TIMEOUT_SECONDS,
        read_timeout=client.READ_TIMEOUT_SECONDS,
        attempts=MAX_ATTEMPTS,
        backoff_initial=BACKOFF_INITIAL_SECONDS,
        backoff_max=BACKOFF_MAX_SECONDS,
        fail_max=BREAKER_FAIL_MAX,
        reset_timeout=BREAKER_RESET_TIMEOUT_SECONDS,
    )


def breaker() -> pybreaker.CircuitBreaker:
    """The Stripe breaker of this process."""
    return resilience.breaker(policy())


def breaker_reset(*, fail_max: int | None = None, reset_timeout: float | None = None) -> None:
    """Start a fresh, closed breaker (tests; an operator after fixing an outage)."""
    global BREAKER_FAIL_MAX, BREAKER_RESET_TIMEOUT_SECONDS  # noqa: PLW0603 - the tunables
    if fail_max is not None:
        BREAKER_FAIL_MAX = fail_max
    if reset_timeout is not None:
        BREAKER_RESET_TIMEOUT_SECONDS = reset_timeout
    resilience.breaker_reset("stripe")


def retry_after_seconds() -> int:
    """Seconds until the open breaker lets a probe through (at least 1)."""
    return resilience.retry_after_seconds(policy())


def ensure_available() -> None:
    """Refuse before any local side effect when the breaker is open (fail fast)."""
    try:
        resilience.ensure_available(policy())
    except resilience.CircuitOpenError as exc:
        raise ProcessorUnavailableError(retry_after=exc.retry_after) from None


def _error_data(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    data = body.get("error")
    return data if isinstance(data, dict) else {}


def translate(exc: stripe.StripeError, *, mutating: bool) -> ApplicationError:
    """Map an SDK error (after retries) to the project's exception. Messages carry no secrets."""
    data = _error_data(exc)
    code = str(data.get("code") or getattr(exc, "code", "") or "")
    message = mask_card_numbers(str(data.get("message") or ""))
    param = data.get("param") or None
    if isinstance(exc, stripe.CardError):
        return CardDeclinedError(
            message or "The card was declined.",
            code=code or "card_declined",
            decline_code=str(data.get("decline_code") or ""),
            param=param,
            processor_object_id=str((data.get("payment_intent") or {}).get("id") or "") or None,
        )
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        logger.error("Stripe refused the platform credentials (status %s)", _status(exc))
        return ProcessorAuthenticationError()
    if isinstance(exc, stripe.RateLimitError):
        return ProcessorUnavailableError(
            "The payment processor is rate limiting requests; retry later.", retry_after=2
        )
    if isinstance(exc, stripe.APIConnectionError) or _status(exc) >= 500:
        if mutating:
            return ProcessorOutcomeUnknownError()
        return ProcessorUnavailableError()
    if _status(exc) == 409:
        return ProcessorConflictError()
    return ProcessorRequestError(
        message or "The payment processor rejected the request.",
        code=code or "processor_invalid_request",
        param=param,
    )


def call(operation: str, fn: Callable[[], T], *, mutating: bool) -> T:
    """Run one logical processor call with retries, the breaker and translation."""
    try:
        return resilience.call(policy(), operation, fn)
    except resilience.CircuitOpenError as exc:
        if mutating and exc.after_outage:
            # An earlier attempt of this call may have reached the processor before the breaker
            # opened: that outcome is unknown, not merely "not attempted".
            raise ProcessorOutcomeUnknownError(retry_after=exc.retry_after) from None
        raise ProcessorUnavailableError(retry_after=exc.retry_after) from None
    except stripe.StripeError as exc:
        translated = translate(exc, mutating=mutating)
        logger.info(
            "Stripe %s failed: %s %s (request %s)",
            operation,
            type(exc).__name__,
            translated.code,
            getattr(exc, "request_id", None) or "-",
        )
        raise translated from exc
