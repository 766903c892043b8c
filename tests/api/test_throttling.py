"""The per-key API rate limit holds under concurrency: threads, and processes sharing Redis.

Before the counter was atomic, concurrent requests overwrote each other's history in the
cache and the key got more than its budget (issue 13, item 6).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from api.throttling import ApiKeyRateThrottle
from config import ratelimit
from tests.cache_support import clear_own_cache

LIMIT = 300
# Mid-window, so the whole test falls in one window whatever the wall clock says.
PINNED_NOW = 1_800_000_030.0
CLIENTS = 12
ATTEMPTS_PER_CLIENT = 60  # 720 attempts: well over the limit


def _admitted(key_id: str, attempts: int) -> int:
    """Requests of one client (a fresh throttle per request, as DRF makes one) admitted."""
    request = SimpleNamespace(auth=SimpleNamespace(public_id=key_id))
    admitted = 0
    for _ in range(attempts):
        admitted += ApiKeyRateThrottle().allow_request(request, None)
    return admitted


@pytest.fixture
def pinned_time(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(ApiKeyRateThrottle, "rate", f"{LIMIT}/min")
    monkeypatch.setattr(ratelimit, "clock", lambda: PINNED_NOW)
    # What DRF's own throttle reads (the history-list one this module's tests replaced).
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: PINNED_NOW, raising=False)
    # Switch threads as often as possible, so that any read-modify-write interleaves.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    clear_own_cache()
    yield
    sys.setswitchinterval(interval)
    clear_own_cache()


def test_twelve_threads_on_one_key_get_exactly_its_budget(pinned_time) -> None:
    key_id = f"key_{uuid.uuid4().hex}"
    counts: list[int] = []
    start = threading.Barrier(CLIENTS)

    def client() -> None:
        start.wait()
        counts.append(_admitted(key_id, ATTEMPTS_PER_CLIENT))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == LIMIT


def test_a_refused_request_says_when_to_retry_and_does_not_use_the_budget(pinned_time) -> None:
    key_id = f"key_{uuid.uuid4().hex}"
    assert _admitted(key_id, LIMIT + 50) == LIMIT
    throttle = ApiKeyRateThrottle()
    request = SimpleNamespace(auth=SimpleNamespace(public_id=key_id))
    assert not throttle.allow_request(request, None)
    # Pinned 30 s into a minute with the whole budget used: the next window opens in 30 s
    # and its estimate still counts this window's requests, so at least 30 s.
    wait = throttle.wait()
    assert wait is not None
    assert 30 <= wait <= 60


def test_the_next_window_counts_the_previous_one_by_its_remaining_share(monkeypatch) -> None:
    """300 used in one minute: 15 s into the next, 3/4 of them still count (225), so 75 fit."""
    clear_own_cache()
    key = f"test:{uuid.uuid4().hex}"
    monkeypatch.setattr(ratelimit, "clock", lambda: 60 * 1000 + 10.0)
    for _ in range(LIMIT):
        assert ratelimit.sliding_window_hit(key, limit=LIMIT, window_seconds=60).allowed
    monkeypatch.setattr(ratelimit, "clock", lambda: 60 * 1001 + 15.0)
    allowed = sum(
        ratelimit.sliding_window_hit(key, limit=LIMIT, window_seconds=60).allowed
        for _ in range(LIMIT)
    )
    assert allowed == 75


def _process_client(key_id: str, attempts: int, threads: int, results: object) -> None:
    """One process of several sharing Redis, itself running a few client threads.

    Forked: it inherits the pinned clock, and redis-py opens its own connections after a fork.
    """
    counts: list[int] = []
    workers = [
        threading.Thread(target=lambda: counts.append(_admitted(key_id, attempts)))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(sum(counts))  # type: ignore[attr-defined]


@pytest.mark.redis
def test_four_processes_sharing_redis_get_exactly_the_budget(pinned_time) -> None:
    assert "REDIS_URL" in os.environ
    key_id = f"key_{uuid.uuid4().hex}"
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_process_client, args=(key_id, ATTEMPTS_PER_CLIENT, 3, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    admitted = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert sum(admitted) == LIMIT
