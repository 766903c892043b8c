"""Sandbox fixtures: a sandbox per test on a free port, SDK clients, a webhook receiver.

Tests marked `sandbox_only` use the control API and never run against real Stripe; the
others run twice when STRIPE_LIVE_CONTRACT=1 and STRIPE_SECRET_KEY is a real test key.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from sandbox.server import SandboxHandle, start_in_thread

SANDBOX_KEY = "sk_test_ledgerline_sandbox"
WEBHOOK_SECRET = "whsec_ledgerline_sandbox"
# A card payment that succeeds in one call.
CONFIRMED_PI = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "payment_method_types": ["card"],
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox_only: needs the sandbox's control API")


def live_key() -> str | None:
    key = os.environ.get("STRIPE_SECRET_KEY", "")
    wanted = os.environ.get("STRIPE_LIVE_CONTRACT") == "1"
    return key if wanted and key.startswith("sk_test_") and key != SANDBOX_KEY else None


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    handle = start_in_thread(port=0)
    try:
        yield handle
    finally:
        handle.stop()


def make_client(url: str, key: str = SANDBOX_KEY, **options: Any) -> stripe.StripeClient:
    # File uploads go to Stripe's files origin; the sandbox serves both on one origin.
    return stripe.StripeClient(key, base_addresses={"api": url, "files": url}, **options)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Contract scenarios (those using `target`) run on the sandbox, and on Stripe test mode
    too when it is configured; sandbox-only scenarios never go live."""
    if "target" not in metafunc.fixturenames:
        return
    targets = ["sandbox"]
    if live_key() is not None and not metafunc.definition.get_closest_marker("sandbox_only"):
        targets.append("live")
    metafunc.parametrize("target", targets)


@pytest.fixture
def client(target: str, request: pytest.FixtureRequest) -> stripe.StripeClient:
    if target == "live":
        key = live_key()
        assert key is not None
        return stripe.StripeClient(key)
    handle: SandboxHandle = request.getfixturevalue("sandbox")
    return make_client(handle.url)


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    # time.monotonic() when the delivery arrived
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local webhook endpoint; `statuses` are answered in turn, then 200."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            box = holder["r"]
            with box.lock:
                box.received.append(Received(body, {k.lower(): v for k, v in self.headers.items()}))
                status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe/")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hooked(receiver: Receiver) -> Iterator[tuple[SandboxHandle, Receiver]]:
    """A sandbox that signs and posts its Stripe events to `receiver`, retrying fast."""
    handle = start_in_thread(port=0, webhook_url=receiver.url, webhook_secrets=[WEBHOOK_SECRET])
    handle.control.webhooks(retry={"base_seconds": 0.05, "max_seconds": 0.2, "max_attempts": 4})
    try:
        yield handle, receiver
    finally:
        handle.stop()
