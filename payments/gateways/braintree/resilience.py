"""Braintree's side of the resilience core (config.resilience): which errors to retry, which
count as an outage, and how SDK errors and refusals are translated into payments.exceptions.

- Retried: network errors (`wrap_http_exceptions`), 408, 429, 5xx. Braintree has no
  idempotency keys, so an operation whose duplicate could act twice (a sale, a refund) looks
  for what its earlier attempt did before it sends again (see `api.py`).
- Outages (counted by the "braintree" breaker): network errors, 408 and 5xx. Declines and
  validation errors are answers, not failures, and never open it.
- Translation happens here and nowhere else; logs name the error's class, never its text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import pybreaker
from braintree.exceptions import (
    AuthenticationError,
    AuthorizationError,
    GatewayTimeoutError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UpgradeRequiredError,
)
from braintree.exceptions.braintree_error import BraintreeError
from braintree.exceptions.http import ConnectionError as BraintreeConnectionError
from braintree.exceptions.http import TimeoutError as BraintreeTimeoutError

from config import resilience
from config.exceptions import ApplicationError
from payments.exceptions import (
    ProcessorAuthenticationError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
    ProcessorUnavailableError,
)
from payments.gateways.braintree import client

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Braintree's tunables, read on every call (tests shorten them); the same as Stripe's.
MAX_ATTEMPTS = 3
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0
BREAKER_FAIL_MAX = 5
BREAKER_RESET_TIMEOUT_SECONDS = 30.0
BREAKER_NAME = "braintree"

_OUTAGES = (
    BraintreeConnectionError,
    BraintreeTimeoutError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    GatewayTimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """Counts against the breaker: Braintree is unreachable or broken, not just saying no."""
    return isinstance(exc, _OUTAGES)


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt (after the operation made sure its first attempt did nothing)."""
    return is_outage(exc) or isinstance(exc, TooManyRequestsError)


def policy() -> resilience.Policy:
    return resilience.Policy(
        name=BREAKER_NAME,
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
    """The Braintree breaker of this process."""
    return resilience.breaker(policy())


def breaker_reset(*, fail_max: int | None = None, reset_timeout: float | None = None) -> None:
    """Start a fresh, closed breaker (tests; an operator after fixing an outage)."""
    global BREAKER_FAIL_MAX, BREAKER_RESET_TIMEOUT_SECONDS  # noqa: PLW0603 - the tunables
    if fail_max is not None:
        BREAKER_FAIL_MAX = fail_max
    if reset_timeout is not None:
        BREAKER_RESET_TIMEOUT_SECONDS = reset_timeout
    resilience.breaker_reset(BREAKER_NAME)


def ensure_available() -> None:
    """Refuse before any local side effect when the breaker is open (fail fast)."""
    try:
        resilience.ensure_available(policy())
    except resilience.CircuitOpenError as exc:
        raise ProcessorUnavailableError(retry_after=exc.retry_after) from None


def translate(exc: BaseException, *, mutating: bool) -> ApplicationError:
    """Map an SDK exception (after retries) to the project's. Messages carry no secrets."""
    if isinstance(exc, (AuthenticationError, AuthorizationError)):
        logger.error("Braintree refused the merchant's API keys (%s)", type(exc).__name__)
        return ProcessorAuthenticationError(
            "The payment processor refused this merchant's API keys."
        )
    if isinstance(exc, TooManyRequestsError):
        return ProcessorUnavailableError(
            "The payment processor is rate limiting requests; retry later.", retry_after=2
        )
    if is_outage(exc):
        return ProcessorOutcomeUnknownError() if mutating else ProcessorUnavailableError()
    if isinstance(exc, NotFoundError):
        return ProcessorRequestError(
            "The payment processor has no such object.", code="resource_missing"
        )
    if isinstance(exc, UpgradeRequiredError):
        logger.error("Braintree refused this SDK version (upgrade required)")
        return ProcessorUnavailableError()
    # Anything else the SDK raises (an unexpected answer): the processor is not usable now.
    return ProcessorOutcomeUnknownError() if mutating else ProcessorUnavailableError()


def call(operation: str, fn: Callable[[], T], *, mutating: bool) -> T:
    """Run one logical processor call with retries, the breaker and translation."""
    try:
        return resilience.call(policy(), operation, fn)
    except resilience.CircuitOpenError as exc:
        if mutating and exc.after_outage:
            raise ProcessorOutcomeUnknownError(retry_after=exc.retry_after) from None
        raise ProcessorUnavailableError(retry_after=exc.retry_after) from None
    except BraintreeError as exc:
        translated = translate(exc, mutating=mutating)
        logger.info("Braintree %s failed: %s %s", operation, type(exc).__name__, translated.code)
        raise translated from exc
