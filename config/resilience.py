"""One resilience core for every outside dependency: timeouts, bounded retries, a breaker.

A gateway describes its dependency once, as a `Policy` (how long to wait, which errors are
worth another attempt, which ones mean the dependency is down) and runs every call through
`call`. The gateway keeps what only it knows: classifying its SDK's errors and translating
them into the project's exceptions.

- Timeouts: the policy carries the connect and read timeouts; the gateway hands them to its
  HTTP transport (only the transport can interrupt a blocked socket).
- Retries (tenacity): only errors `is_retryable` accepts, with exponential backoff and jitter,
  at most `attempts` tries in all. An operation whose duplicate could do harm narrows this
  with its own `retry_if`.
- Circuit breaker (pybreaker), one per dependency name and process: only errors `is_outage`
  accepts count against it (a decline or an invalid request is an answer, not an outage).
  After `fail_max` consecutive outages it opens and every call is refused at once with
  `CircuitOpenError` (carrying the seconds until a probe is let through); after
  `reset_timeout` one call at a time probes (half-open): success closes it, failure re-opens.
- Logs name the dependency, the operation and the error's class only: never an exception's
  text, which may quote a request (tokens, keys, account numbers).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pybreaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

ErrorTest = Callable[[BaseException], bool]


@dataclass(frozen=True)
class Policy:
    """How one dependency is called. `name` also names its breaker."""

    name: str
    is_retryable: ErrorTest
    is_outage: ErrorTest
    connect_timeout: float = 3.0
    read_timeout: float = 15.0
    attempts: int = 3
    backoff_initial: float = 0.2
    backoff_max: float = 2.0
    fail_max: int = 5
    reset_timeout: float = 30.0

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) in seconds, as requests and urllib3 take it."""
        return (self.connect_timeout, self.read_timeout)


class CircuitOpenError(Exception):
    """The dependency's breaker refused the call; nothing was sent.

    `after_outage` is true when an earlier attempt of the same call failed with an outage
    before the breaker opened: that attempt may have reached the dependency, so for a write
    its outcome is unknown rather than "not attempted".
    """

    def __init__(self, name: str, *, retry_after: int, after_outage: bool = False) -> None:
        super().__init__(f"{name} circuit breaker is open")
        self.name = name
        self.retry_after = retry_after
        self.after_outage = after_outage


class _Transitions(pybreaker.CircuitBreakerListener):
    """Remembers when the breaker opened (for Retry-After) and logs its state changes."""

    def __init__(self) -> None:
        self.opened_at = 0.0

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState | None,
    ) -> None:
        if new_state is None:
            return
        if new_state.name == pybreaker.STATE_OPEN:
            self.opened_at = time.monotonic()
            logger.warning("%s circuit breaker opened after %s outages", cb.name, cb.fail_max)
        elif new_state.name == pybreaker.STATE_CLOSED:
            logger.info("%s circuit breaker closed", cb.name)


@dataclass
class _Entry:
    breaker: pybreaker.CircuitBreaker
    transitions: _Transitions
    # pybreaker's own `call` holds the breaker's lock for the whole call, which would let one
    # slow request of a process stall every other request to the same dependency. Calls go
    # through `calling()` instead (the lock is held only for the state check), and this lock
    # keeps the half-open state to one probe at a time.
    probe: threading.Lock = field(default_factory=threading.Lock)


_registry_lock = threading.Lock()
_registry: dict[str, _Entry] = {}


def _entry(policy: Policy) -> _Entry:
    """The breaker named by the policy, built from it on first use (until reset)."""
    with _registry_lock:
        entry = _registry.get(policy.name)
        if entry is None:
            transitions = _Transitions()
            is_outage = policy.is_outage
            entry = _Entry(
                breaker=pybreaker.CircuitBreaker(
                    fail_max=policy.fail_max,
                    reset_timeout=policy.reset_timeout,
                    exclude=[lambda exc: not is_outage(exc)],
                    listeners=[transitions],
                    name=policy.name,
                    throw_new_error_on_trip=False,
                ),
                transitions=transitions,
            )
            _registry[policy.name] = entry
        return entry


def breaker(policy: Policy) -> pybreaker.CircuitBreaker:
    """This process's breaker for the policy's dependency."""
    return _entry(policy).breaker


def breaker_reset(name: str | None = None) -> None:
    """Forget one dependency's breaker (or all): the next call starts a fresh, closed one
    from its policy. For tests, and for an operator after an outage was fixed."""
    with _registry_lock:
        if name is None:
            _registry.clear()
        else:
            _registry.pop(name, None)


def _remaining(entry: _Entry) -> float:
    """Seconds left before an open breaker lets a probe through (<= 0: probe now)."""
    return entry.breaker.reset_timeout - (time.monotonic() - entry.transitions.opened_at)


def retry_after_seconds(policy: Policy) -> int:
    """Whole seconds until the open breaker lets a probe through (at least 1)."""
    return max(1, math.ceil(_remaining(_entry(policy))))


def ensure_available(policy: Policy) -> None:
    """Refuse before any local side effect while the breaker is open (fail fast)."""
    entry = _entry(policy)
    if entry.breaker.current_state == pybreaker.STATE_OPEN and _remaining(entry) > 0:
        raise CircuitOpenError(policy.name, retry_after=retry_after_seconds(policy))


@contextmanager
def _admitted(policy: Policy, entry: _Entry) -> Iterator[None]:
    """One attempt under the breaker: refused while open or while another probe runs."""
    cb = entry.breaker
    probing = cb.current_state != pybreaker.STATE_CLOSED
    if probing and not entry.probe.acquire(blocking=False):
        raise CircuitOpenError(policy.name, retry_after=retry_after_seconds(policy))
    try:
        try:
            with cb.calling():
                yield
        except pybreaker.CircuitBreakerError:
            raise CircuitOpenError(policy.name, retry_after=retry_after_seconds(policy)) from None
    finally:
        if probing:
            entry.probe.release()


def call(
    policy: Policy,
    operation: str,
    fn: Callable[[], T],
    *,
    retry_if: ErrorTest | None = None,
) -> T:
    """Run `fn` (one logical request) under the policy and return its result.

    Raises `CircuitOpenError` when the breaker refuses, else the error of the last attempt,
    untranslated: the gateway translates it. `retry_if` replaces `policy.is_retryable` for
    this operation (a write whose duplicate could lose what the first one produced).
    """
    entry = _entry(policy)
    retryable = retry_if or policy.is_retryable
    outages: list[BaseException] = []

    def attempt() -> T:
        try:
            with _admitted(policy, entry):
                return fn()
        except CircuitOpenError as exc:
            exc.after_outage = bool(outages)
            raise
        except Exception as exc:
            if policy.is_outage(exc):
                outages.append(exc)
            raise

    def log_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        logger.info(
            "%s %s attempt %s failed (%s); retrying in %.2f s",
            policy.name,
            operation,
            state.attempt_number,
            type(failure).__name__,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait_exponential_jitter(
            multiplier=policy.backoff_initial,
            jitter=policy.backoff_initial,
            max=policy.backoff_max,
        ),
        retry=retry_if_exception(
            lambda exc: not isinstance(exc, CircuitOpenError) and retryable(exc)
        ),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except CircuitOpenError:
        logger.warning("%s %s refused: circuit breaker open", policy.name, operation)
        raise
