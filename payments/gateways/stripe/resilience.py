"""Every Stripe call goes through `call`: bounded retries, one circuit breaker, error translation.

- Retries (tenacity): only what may succeed on a second try (network errors, 409 lock or
  idempotency-in-flight, 429, 5xx), exponential backoff with jitter, a few attempts. Every
  mutating call carries an idempotency key, so a retry can never charge twice.
- Circuit breaker (pybreaker), one for the processor: opens after consecutive outage-type
  failures (network, 5xx) and then refuses at once with a Retry-After; after the reset timeout
  one probe is let through (half-open). Declines and invalid requests are business answers,
  not failures, and never open it.
- Translation: SDK exceptions become payments.exceptions here and nowhere else.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
import stripe
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

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

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Remembers when the breaker opened, to tell callers how long to wait (Retry-After)."""

    def __init__(self) -> None:
        self.opened_at = 0.0

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state is not None and new_state.name == pybreaker.STATE_OPEN:
            self.opened_at = time.monotonic()
            logger.warning("Stripe circuit breaker opened after %s failures", cb.fail_max)
        elif new_state is not None and new_state.name == pybreaker.STATE_CLOSED:
            logger.info("Stripe circuit breaker closed")


_opened = _OpenedAt()
_breaker_lock = threading.Lock()
_breaker: pybreaker.CircuitBreaker | None = None


def breaker() -> pybreaker.CircuitBreaker:
    """The Stripe breaker of this process (built lazily so tests can reconfigure it)."""
    global _breaker  # noqa: PLW0603 - one breaker per processor per process, by design
    with _breaker_lock:
        if _breaker is None:
            _breaker = pybreaker.CircuitBreaker(
                fail_max=BREAKER_FAIL_MAX,
                reset_timeout=BREAKER_RESET_TIMEOUT_SECONDS,
                exclude=[lambda exc: not is_outage(exc)],
                listeners=[_opened],
                name="stripe",
                throw_new_error_on_trip=False,
            )
        return _breaker


def breaker_reset(*, fail_max: int | None = None, reset_timeout: float | None = None) -> None:
    """Start a fresh, closed breaker (tests; an operator after fixing an outage)."""
    global _breaker, BREAKER_FAIL_MAX, BREAKER_RESET_TIMEOUT_SECONDS  # noqa: PLW0603
    with _breaker_lock:
        if fail_max is not None:
            BREAKER_FAIL_MAX = fail_max
        if reset_timeout is not None:
            BREAKER_RESET_TIMEOUT_SECONDS = reset_timeout
        _breaker = None


def retry_after_seconds() -> int:
    """Seconds until the open breaker lets a probe through (at least 1)."""
    cb = breaker()
    remaining = cb.reset_timeout - (time.monotonic() - _opened.opened_at)
    return max(1, math.ceil(remaining))


def ensure_available() -> None:
    """Refuse before any local side effect when the breaker is open (fail fast)."""
    if breaker().current_state == pybreaker.STATE_OPEN:
        remaining = breaker().reset_timeout - (time.monotonic() - _opened.opened_at)
        if remaining > 0:
            raise ProcessorUnavailableError(retry_after=retry_after_seconds())


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
    cb = breaker()
    retrying = Retrying(
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=wait_exponential_jitter(
            multiplier=BACKOFF_INITIAL_SECONDS,
            jitter=BACKOFF_INITIAL_SECONDS,
            max=BACKOFF_MAX_SECONDS,
        ),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    reached: list[BaseException] = []

    def attempt() -> T:
        try:
            return fn()
        except stripe.StripeError as exc:
            reached.append(exc)
            raise

    try:
        result: T = retrying(cb.call, attempt)
        return result
    except pybreaker.CircuitBreakerError as exc:
        logger.warning("Stripe %s refused: circuit breaker open", operation)
        if mutating and any(is_outage(seen) for seen in reached):
            # An earlier attempt of this call may have reached the processor before the breaker
            # opened: that outcome is unknown, not merely "not attempted".
            raise ProcessorOutcomeUnknownError(retry_after=retry_after_seconds()) from exc
        raise ProcessorUnavailableError(retry_after=retry_after_seconds()) from exc
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
