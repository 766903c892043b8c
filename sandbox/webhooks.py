"""Outbound webhook delivery shared by the stand-ins: signing hook, retries, fault switches.

One background thread delivers due jobs from a heap ordered by due time. A non-2xx answer or a
network error is retried with exponential backoff up to a bounded number of attempts. Fault
switches reproduce what real processors do to receivers: duplicates, reordering, delays, loss,
and signatures that must be refused (stale timestamp, unknown secret).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

logger = logging.getLogger("sandbox.webhooks")


@dataclass
class WebhookFaults:
    duplicate: int = 1  # deliver each event this many times
    shuffle: bool = False  # reorder events by a random jitter within shuffle_window_seconds
    shuffle_window_seconds: float = 1.0
    delay_seconds: float = 0.0
    drop_fraction: float = 0.0  # never send this fraction of events
    stale_timestamp: bool = False  # sign with a timestamp older than any sane tolerance
    stale_seconds: int = 3600
    wrong_secret: bool = False  # sign with a secret the receiver does not hold
    seed: int | None = None  # makes drop and shuffle repeatable


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds))


def _apply(target: Any, changes: Mapping[str, Any]) -> None:
    """Set dataclass fields from JSON, checking names and types; raises ValueError."""
    known = {f.name: f for f in fields(target)}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"unknown setting: {name}")
        current = getattr(target, name)
        if name == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError("seed must be an integer or null")
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
        elif isinstance(current, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        setattr(target, name, value)
    if isinstance(target, WebhookFaults):
        if target.duplicate < 1:
            raise ValueError("duplicate must be at least 1")
        if target.drop_fraction > 1:
            raise ValueError("drop_fraction must be between 0 and 1")
    if isinstance(target, RetryPolicy) and target.max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")


# Given the body, the signing timestamp and the current faults, the headers to send.
Signer = Callable[[bytes, int, WebhookFaults], dict[str, str]]
# Called once per delivery copy with the event key and whether it was finally accepted.
ResultCallback = Callable[[str, bool], None]


@dataclass
class _Job:
    url: str
    body: bytes
    signer: Signer
    key: str
    on_result: ResultCallback | None
    attempt: int = 1


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    job: _Job = field(compare=False)


class WebhookDispatcher:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[_Scheduled] = []
        self._seq = itertools.count()
        self._in_progress = 0
        # Deliveries held back until their request is answered (see hold()).
        self._held = 0
        self._local = threading.local()
        self._log: deque[dict[str, Any]] = deque(maxlen=2000)
        self.faults = WebhookFaults()
        self.retry = RetryPolicy()
        self._random = random.Random()  # noqa: S311 (fault injection, not security)
        self._stopped = False
        # Loopback only; never route deliveries through an environment proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    # --- configuration ---------------------------------------------------------------------
    def configure(
        self, *, faults: Mapping[str, Any] | None, retry: Mapping[str, Any] | None
    ) -> None:
        with self._cond:
            new_faults = WebhookFaults(**asdict(self.faults))
            new_retry = RetryPolicy(**asdict(self.retry))
            _apply(new_faults, faults or {})
            _apply(new_retry, retry or {})
            self.faults, self.retry = new_faults, new_retry
            if faults and "seed" in faults:
                self._random.seed(new_faults.seed)

    def settings(self) -> dict[str, Any]:
        with self._cond:
            return {"faults": asdict(self.faults), "retry": asdict(self.retry)}

    def reset(self) -> None:
        with self._cond:
            self._heap.clear()
            self._log.clear()
            self.faults = WebhookFaults()
            self.retry = RetryPolicy()
            self._random.seed()

    # --- submission ------------------------------------------------------------------------
    def hold(self) -> Callable[[], None]:
        """Hold what this thread submits from now on until the returned function is called.

        The server holds a request's deliveries until it has written the answer. Their due
        times are kept, so delay and shuffle faults apply as they would have.
        """
        held: list[_Scheduled] = []
        self._local.held = held

        def release() -> None:
            if getattr(self._local, "held", None) is held:
                self._local.held = None
            with self._cond:
                for scheduled in held:
                    heapq.heappush(self._heap, scheduled)
                self._held -= len(held)
                held.clear()
                self._cond.notify_all()

        return release

    def submit(
        self,
        *,
        url: str,
        body: bytes,
        signer: Signer,
        key: str,
        on_result: ResultCallback | None = None,
    ) -> int:
        """Queue one event for delivery under the current faults; returns copies scheduled."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("webhook URLs must be http(s)")
        with self._cond:
            faults = self.faults
            if faults.drop_fraction and self._random.random() < faults.drop_fraction:
                self._log.append({"key": key, "url": url, "outcome": "dropped", "at": time.time()})
                return 0
            now = time.monotonic()
            held: list[_Scheduled] | None = getattr(self._local, "held", None)
            for _ in range(faults.duplicate):
                due = now + faults.delay_seconds
                if faults.shuffle:
                    due += self._random.uniform(0, faults.shuffle_window_seconds)
                job = _Job(url=url, body=body, signer=signer, key=key, on_result=on_result)
                scheduled = _Scheduled(due, next(self._seq), job)
                if held is None:
                    heapq.heappush(self._heap, scheduled)
                else:
                    held.append(scheduled)
                    self._held += 1
            self._cond.notify()
            return faults.duplicate

    def pending(self) -> int:
        """Deliveries queued or being attempted (retries waiting count as pending)."""
        with self._cond:
            return len(self._heap) + self._in_progress + self._held

    def log(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._log)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_progress or self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    # --- the delivery thread ---------------------------------------------------------------
    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        self._in_progress += 1
                        return heapq.heappop(self._heap).job
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._attempt(job)
            finally:
                with self._cond:
                    self._in_progress -= 1
                    self._cond.notify_all()

    def _attempt(self, job: _Job) -> None:
        with self._cond:
            faults = WebhookFaults(**asdict(self.faults))
            retry = RetryPolicy(**asdict(self.retry))
        timestamp = int(time.time()) - (faults.stale_seconds if faults.stale_timestamp else 0)
        headers = job.signer(job.body, timestamp, faults)
        # The URL is checked to be http(s) when configured, so no file: or custom scheme.
        request = urllib.request.Request(  # noqa: S310
            job.url, data=job.body, headers=headers, method="POST"
        )
        status: int | None = None
        error = ""
        try:
            with self._opener.open(request, timeout=retry.timeout_seconds) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
        accepted = status is not None and 200 <= status < 300
        final = accepted or job.attempt >= retry.max_attempts
        entry = {
            "key": job.key,
            "url": job.url,
            "attempt": job.attempt,
            "status": status,
            "error": error,
            "outcome": "delivered" if accepted else ("failed" if final else "retrying"),
            "at": time.time(),
        }
        with self._cond:
            self._log.append(entry)
            if not final:
                job.attempt += 1
                due = time.monotonic() + retry.backoff(job.attempt - 1)
                heapq.heappush(self._heap, _Scheduled(due, next(self._seq), job))
                self._cond.notify()
        if final and job.on_result is not None:
            job.on_result(job.key, accepted)
        logger.info("webhook %s -> %s: %s", job.key, job.url, entry["outcome"])
