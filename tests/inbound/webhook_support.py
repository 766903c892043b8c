"""Helpers for the webhook tests: signed Stripe deliveries, event payloads, real workers."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from django.test import Client

from payments.gateways.stripe.webhooks import signature_header

CURRENT_SECRET = "whsec_test_current"
PREVIOUS_SECRET = "whsec_test_previous"
URL = "/webhooks/stripe/"
_ids = itertools.count(1)


def _letters() -> str:
    """A unique id part without digits: a clock reading here was a 13-digit run that pan_scan
    took for a card number one time in ten."""
    return uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


def event_payload(
    event_type: str = "customer.created",
    *,
    obj: dict[str, Any] | None = None,
    account: str | None = "acct_test",
    event_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{next(_ids)}_{_letters()}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "account": account,
        "api_version": "2026-10-28.endive",
        "data": {"object": obj or {"id": f"cus_{next(_ids)}", "object": "customer"}},
    }


def signed(
    body: bytes, *, secrets: tuple[str, ...] = (CURRENT_SECRET,), at: int | None = None
) -> str:
    return signature_header(body=body, secrets=secrets, timestamp=at)


def deliver(
    client: Client,
    payload: dict[str, Any] | bytes,
    *,
    secrets: tuple[str, ...] = (CURRENT_SECRET,),
    at: int | None = None,
    header: str | None = None,
) -> Any:
    """POST a delivery as Stripe does: the raw body and its Stripe-Signature header."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = header if header is not None else signed(body, secrets=secrets, at=at)
    return client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sig)


def three_ds_payment(api: Any, *, amount: int = 5000, **extra: Any) -> Any:
    """A payment made through our API that waits for 3-D Secure (`requires_action`)."""
    from payments.models import Payment

    body = {
        "amount": amount,
        "currency": "gbp",
        "payment_method": "pm_card_threeDSecure2Required",
        "return_url": "https://shop.example/back",
        **extra,
    }
    response = api.post("/api/v1/payments", body, format="json")
    assert response.status_code == 201, response.content
    return Payment.objects.get(public_id=response.json()["id"])


def processor_authenticates(control: Any, payment: Any, outcome: str = "approve") -> None:
    """The customer passes (or fails) 3-D Secure at the processor; only its events tell us."""
    requests.post(
        f"{control.url}/_sandbox/stripe/payment_intents/"
        f"{payment.stripe_payment_intent_id}/authenticate",
        json={"outcome": outcome},
        timeout=5,
    ).raise_for_status()


def sandbox_events(control: Any, *, account: str, event_type: str | None = None) -> list[dict]:
    """The sandbox's events on a connected account, oldest first (what Stripe would send)."""
    params: dict[str, Any] = {"limit": 100}
    if event_type:
        params["type"] = event_type
    return list(reversed(control.api_get("/v1/events", account=account, **params)["data"]))


# --- A real Celery worker process -----------------------------------------------------------

WORKER_START_SECONDS = 30.0


def database_url() -> str:
    """The URL of the database this test runs in (pytest-django's `test_<name>`)."""
    from django.db import connection

    params = connection.settings_dict
    user = quote(params.get("USER") or "")
    password = quote(params.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


def broker_purge() -> None:
    """Drop queued and unacknowledged messages left in the test Redis database.

    A message from an earlier run names an event id that may exist again in this run's new
    test database; the worker would process it, which is harmless but muddles what a test
    counts. The Redis database given by REDIS_URL belongs to these tests alone.
    """
    import redis
    from django.conf import settings

    prefix = f"{settings.TEST_PROCESS_PREFIX}:" if settings.TEST_PROCESS_PREFIX else ""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(
        *(prefix + key for key in ("celery", "unacked", "unacked_index", "unacked_mutex"))
    )


def _process_env(*, conn_max_age: int = 0) -> dict[str, str]:
    """The environment of a worker or relay process on this test's database and broker."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_EAGER": "0",
        # By default the process's own connections must not outlive a task's transaction by
        # much: a test waits for them to close after a worker is killed.
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
    }
    env.pop("CELERY_VISIBILITY_TIMEOUT", None)
    return env


class Worker:
    """`celery worker` in its own process, on this test's database and the test broker.

    `pool="solo"` runs tasks in the worker process itself; `pool="prefork"` in one pool child,
    which `kill_pool_child` can kill while the parent lives on.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        visibility_timeout: int | None = None,
        pool: str = "solo",
        conn_max_age: int = 0,
    ) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        env = _process_env(conn_max_age=conn_max_age)
        if visibility_timeout is not None:
            env["CELERY_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_for(" ready.", WORKER_START_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def received(self, task: str = "inbound.tasks.inbound_events_process") -> int:
        """How many messages for `task` this worker took from the broker."""
        return sum(
            1 for line in self.log().splitlines() if f"Task {task}[" in line and "received" in line
        )

    def _wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not log {text!r}:\n{self.log()}")
            time.sleep(0.1)

    def pool_children(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill_pool_child(self) -> None:
        """SIGKILL the prefork pool child (as the OOM killer would); the parent lives on."""
        (child,) = self.pool_children()
        os.kill(child, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no message handed back; its database sessions orphaned."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def wait_until(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)


class Relay:
    """`manage.py relay_inbound_events` in its own process, on this test's database."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"relay-{uuid.uuid4().hex[:8]}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "relay_inbound_events", "--poll-seconds", "1"],
            cwd=Path(__file__).resolve().parents[2],
            env=_process_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM: the relay finishes its round and exits 0."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        finally:
            self._log.close()
