"""Braintree stand-in fixtures: the official SDK pointed at a sandbox through a custom
Environment, as the contract says, and a receiver for form-encoded notifications.

Scenarios using `gateway` (parametrized by `bt_target`) also run against Braintree's real
sandbox when BRAINTREE_LIVE_CONTRACT=1 and BRAINTREE_MERCHANT_ID / BRAINTREE_PUBLIC_KEY /
BRAINTREE_PRIVATE_KEY are set; those marked `sandbox_only` (control API) never go live.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import parse_qs

import braintree
import pytest

from sandbox.server import SandboxHandle, start_in_thread
from tests.sandbox.conftest import Receiver

MERCHANT_ID = "ledgerline_sandbox_merchant"
PUBLIC_KEY = "ledgerline_sandbox_public"
PRIVATE_KEY = "ledgerline_sandbox_private"


def live_keys() -> tuple[str, str, str] | None:
    names = ("BRAINTREE_MERCHANT_ID", "BRAINTREE_PUBLIC_KEY", "BRAINTREE_PRIVATE_KEY")
    values = tuple(os.environ.get(name, "") for name in names)
    if os.environ.get("BRAINTREE_LIVE_CONTRACT") != "1" or not all(values):
        return None
    return values  # type: ignore[return-value]


def environment(handle: SandboxHandle) -> braintree.Environment:
    """The contract's custom environment: plain HTTP to the sandbox's own port."""
    port = str(handle.port)
    return braintree.Environment(
        "ledgerline_sandbox", "127.0.0.1", port, handle.url, False, None, "127.0.0.1", port
    )


def make_gateway(
    handle: SandboxHandle,
    *,
    merchant_id: str = MERCHANT_ID,
    public_key: str = PUBLIC_KEY,
    private_key: str = PRIVATE_KEY,
    timeout: float = 60,
) -> braintree.BraintreeGateway:
    return braintree.BraintreeGateway(
        braintree.Configuration(
            environment=environment(handle),
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            timeout=timeout,
            # Network failures as the SDK's own exceptions (ConnectionError, ReadTimeoutError).
            wrap_http_exceptions=True,
        )
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bt_target" not in metafunc.fixturenames:
        return
    targets = ["sandbox"]
    if live_keys() is not None and not metafunc.definition.get_closest_marker("sandbox_only"):
        targets.append("live")
    metafunc.parametrize("bt_target", targets)


@pytest.fixture
def gateway(bt_target: str, request: pytest.FixtureRequest) -> braintree.BraintreeGateway:
    if bt_target == "live":
        keys = live_keys()
        assert keys is not None
        merchant_id, public_key, private_key = keys
        return braintree.BraintreeGateway(
            braintree.Configuration(
                environment=braintree.Environment.Sandbox,
                merchant_id=merchant_id,
                public_key=public_key,
                private_key=private_key,
            )
        )
    return make_gateway(request.getfixturevalue("sandbox"))


@pytest.fixture
def hooked_braintree(receiver: Receiver) -> Iterator[tuple[SandboxHandle, Receiver]]:
    """A sandbox posting its Braintree notifications to `receiver`, retrying fast."""
    handle = start_in_thread(port=0, braintree_webhook_url=receiver.url)
    handle.control.webhooks(retry={"base_seconds": 0.05, "max_seconds": 0.2, "max_attempts": 4})
    try:
        yield handle, receiver
    finally:
        handle.stop()


def form(body: bytes) -> tuple[str, str]:
    """(bt_signature, bt_payload) from a delivered form body."""
    fields = parse_qs(body.decode(), strict_parsing=True)
    return fields["bt_signature"][0], fields["bt_payload"][0]
