"""Processor fault switches: make the next N API calls time out, fail, rate-limit or lose answers.

Faults are shared by every provider; each provider decides where in its request pipeline a
fault takes effect (Stripe, for one, stores an injected 500 under the idempotency key).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# timeout: sleep, then close the socket without any effect (the call never reached the ledger).
# latency: sleep, then answer normally (lets a test overlap two requests).
# error_500 / rate_limit_429: answer that status.
# lose_response: apply the call, then close the socket: the client sees a network failure
#   although the money moved.
# error_500_after: apply the call, then answer 500, and keep that 500 under the idempotency
#   key (as Stripe keeps the result of a request that began): a retry with the key gets the
#   500 again, so only reading the object back tells what happened.
# timeout_after: apply the call, sleep, then close the socket (the client's read times out).
FAULT_KINDS = (
    "timeout",
    "latency",
    "error_500",
    "rate_limit_429",
    "lose_response",
    "error_500_after",
    "timeout_after",
)
DEFAULT_SLEEP_SECONDS = {"timeout": 30.0, "latency": 1.0, "timeout_after": 30.0}


@dataclass
class Fault:
    kind: str
    remaining: int
    method: str | None
    path_prefix: str | None
    seconds: float

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "method": self.method,
            "path": self.path_prefix,
            "seconds": self.seconds,
        }


def _number(spec: Mapping[str, Any], name: str, default: float) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return float(value)


def _optional_str(spec: Mapping[str, Any], name: str) -> str | None:
    value = spec.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._stopping = threading.Event()

    def add(self, spec: Mapping[str, Any]) -> Fault:
        """Validate a JSON fault spec and queue it; raises ValueError with a reason."""
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        count = spec.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        method = _optional_str(spec, "method")
        fault = Fault(
            kind=kind,
            remaining=count,
            method=method.upper() if method else None,
            path_prefix=_optional_str(spec, "path"),
            seconds=_number(spec, "seconds", DEFAULT_SLEEP_SECONDS.get(kind, 0.0)),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this call, oldest first."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def sleep(self, seconds: float) -> None:
        """Sleep for a fault, cut short when the server stops so shutdown never hangs."""
        self._stopping.wait(seconds)

    def stop(self) -> None:
        self._stopping.set()
