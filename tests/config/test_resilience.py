"""The resilience core: retries only what is retryable and only so often, the breaker opens on
outages alone, refuses at once while open, lets one probe through when half-open, and its logs
never quote an error's text."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from config import resilience

SECRET = "access-sandbox-0123456789abcdef"  # what must never reach a log


class OutageError(Exception):
    """The dependency is down (retryable, counts against the breaker)."""


class BusyError(Exception):
    """Rate limited (retryable, not an outage)."""


class DeclinedError(Exception):
    """A business answer (neither retryable nor an outage)."""


def _policy(**overrides: object) -> resilience.Policy:
    fields: dict[str, object] = {
        "name": "test-dependency",
        "is_retryable": lambda exc: isinstance(exc, (OutageError, BusyError)),
        "is_outage": lambda exc: isinstance(exc, OutageError),
        "attempts": 3,
        "backoff_initial": 0.001,
        "backoff_max": 0.002,
        "fail_max": 3,
        "reset_timeout": 30.0,
    }
    fields.update(overrides)
    return resilience.Policy(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    resilience.breaker_reset()
    yield
    resilience.breaker_reset()


class Script:
    """A callable that raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _fail(policy: resilience.Policy, error: BaseException, times: int) -> None:
    for _ in range(times):
        with pytest.raises(type(error)):
            resilience.call(policy, "op", Script(error))


def test_retryable_errors_are_retried_until_an_answer() -> None:
    script = Script(OutageError(), BusyError())
    assert resilience.call(_policy(fail_max=10), "op", script) == "ok"
    assert script.calls == 3


def test_a_non_retryable_error_is_raised_after_one_attempt() -> None:
    script = Script(DeclinedError("no"))
    with pytest.raises(DeclinedError):
        resilience.call(_policy(), "op", script)
    assert script.calls == 1


def test_attempts_are_bounded_and_the_last_error_is_raised_untranslated() -> None:
    last = BusyError("third")
    script = Script(BusyError(), BusyError(), last, BusyError())
    with pytest.raises(BusyError) as caught:
        resilience.call(_policy(), "op", script)
    assert caught.value is last
    assert script.calls == 3


def test_retry_if_narrows_what_one_operation_retries() -> None:
    """A write whose duplicate could do harm is not retried after an uncertain outcome."""
    script = Script(OutageError())
    with pytest.raises(OutageError):
        resilience.call(_policy(), "op", script, retry_if=lambda exc: isinstance(exc, BusyError))
    assert script.calls == 1


def test_outages_open_the_breaker_and_then_calls_are_refused_at_once() -> None:
    policy = _policy(attempts=1, fail_max=3)
    _fail(policy, OutageError(), 3)
    assert resilience.breaker(policy).current_state == "open"
    script = Script()
    started = time.monotonic()
    with pytest.raises(resilience.CircuitOpenError) as caught:
        resilience.call(policy, "op", script)
    assert time.monotonic() - started < 0.1
    assert script.calls == 0, "nothing is sent while the breaker is open"
    assert 1 <= caught.value.retry_after <= 30
    assert caught.value.after_outage is False
    with pytest.raises(resilience.CircuitOpenError):
        resilience.ensure_available(policy)


def test_declines_and_rate_limits_never_open_the_breaker() -> None:
    policy = _policy(attempts=1, fail_max=2)
    _fail(policy, DeclinedError(), 5)
    _fail(policy, BusyError(), 5)
    assert resilience.breaker(policy).current_state == "closed"
    resilience.ensure_available(policy)


def test_an_answer_between_outages_restarts_the_count() -> None:
    policy = _policy(attempts=1, fail_max=3)
    _fail(policy, OutageError(), 2)
    _fail(policy, DeclinedError(), 1)
    _fail(policy, OutageError(), 2)
    assert resilience.breaker(policy).current_state == "closed"


def test_the_breaker_opening_mid_call_says_an_earlier_attempt_was_an_outage() -> None:
    """Outcome unknown for a write: the attempt before the refusal may have reached it."""
    policy = _policy(name="other", attempts=3, fail_max=1)
    with pytest.raises(resilience.CircuitOpenError) as caught:
        # 1st attempt: outage opens the breaker (raised as itself); the retry is refused.
        resilience.call(policy, "op", Script(OutageError(), OutageError()))
    assert caught.value.after_outage is True


def test_a_half_open_breaker_lets_one_probe_through_and_closes_on_success() -> None:
    policy = _policy(attempts=1, fail_max=1, reset_timeout=0.05)
    _fail(policy, OutageError(), 1)
    time.sleep(0.06)
    probing, release = threading.Event(), threading.Event()
    results: list[str] = []

    def slow_probe() -> str:
        probing.set()
        release.wait(5)
        return "probe"

    thread = threading.Thread(
        target=lambda: results.append(resilience.call(policy, "op", slow_probe))
    )
    thread.start()
    assert probing.wait(5)
    # While the probe is in flight every other call is refused without being sent.
    other = Script()
    with pytest.raises(resilience.CircuitOpenError):
        resilience.call(policy, "op", other)
    assert other.calls == 0
    release.set()
    thread.join(5)
    assert results == ["probe"]
    assert resilience.breaker(policy).current_state == "closed"
    assert resilience.call(policy, "op", Script()) == "ok"


def test_a_failed_probe_opens_the_breaker_again() -> None:
    policy = _policy(attempts=1, fail_max=1, reset_timeout=0.05)
    _fail(policy, OutageError(), 1)
    time.sleep(0.06)
    _fail(policy, OutageError(), 1)
    assert resilience.breaker(policy).current_state == "open"
    with pytest.raises(resilience.CircuitOpenError):
        resilience.call(policy, "op", Script())


def test_a_slow_call_does_not_hold_up_other_calls_to_the_same_dependency() -> None:
    """The breaker's lock is not held across a call (pybreaker's `call` would hold it)."""
    policy = _policy()
    entered, release = threading.Event(), threading.Event()

    def slow() -> str:
        entered.set()
        release.wait(5)
        return "slow"

    thread = threading.Thread(target=lambda: resilience.call(policy, "op", slow))
    thread.start()
    assert entered.wait(5)
    started = time.monotonic()
    assert resilience.call(policy, "op", Script()) == "ok"
    assert time.monotonic() - started < 1
    release.set()
    thread.join(5)


def test_breakers_are_kept_per_dependency_name_and_reset_by_name() -> None:
    down, up = _policy(name="down", attempts=1, fail_max=1), _policy(name="up")
    _fail(down, OutageError(), 1)
    assert resilience.call(up, "op", Script()) == "ok"
    assert resilience.breaker(down) is resilience.breaker(_policy(name="down"))
    resilience.breaker_reset("down")
    assert resilience.breaker(down).current_state == "closed"


def test_the_registry_builds_one_breaker_under_concurrent_first_use() -> None:
    policy = _policy(name="concurrent")
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        seen.append(resilience.breaker(policy))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(seen) == 8
    assert len({id(cb) for cb in seen}) == 1


@pytest.mark.parametrize(
    "action",
    [
        lambda policy: resilience.call(
            policy, "token_exchange", Script(OutageError(SECRET), OutageError(SECRET))
        ),
        lambda policy: resilience.call(policy, "token_exchange", Script(DeclinedError(SECRET))),
    ],
)
def test_logs_name_the_dependency_and_error_class_never_its_text(
    caplog: pytest.LogCaptureFixture, action: Callable[[resilience.Policy], object]
) -> None:
    caplog.set_level(logging.DEBUG, logger="config.resilience")
    policy = _policy(attempts=3, fail_max=2)
    with pytest.raises((OutageError, DeclinedError, resilience.CircuitOpenError)):
        action(policy)
    with pytest.raises((resilience.CircuitOpenError, OutageError, DeclinedError)):
        action(policy)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert record.exc_info is None


def test_logs_say_what_was_retried_and_when_the_breaker_opened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="config.resilience")
    policy = _policy(name="bank", attempts=2, fail_max=2)
    with pytest.raises(OutageError):
        resilience.call(policy, "item_get", Script(OutageError(SECRET), OutageError(SECRET)))
    text = caplog.text
    assert "bank item_get attempt 1 failed (OutageError)" in text
    assert "bank circuit breaker opened" in text
    assert SECRET not in text


def test_policy_timeout_is_connect_then_read() -> None:
    assert _policy(connect_timeout=1.5, read_timeout=9.0).timeout == (1.5, 9.0)
