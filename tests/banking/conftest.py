"""Banking fixtures: one sandbox Plaid per test process, pointed at by PLAID_API_BASE per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from banking.gateways.plaid import client as plaid_client
from banking.gateways.plaid.webhooks import key_cache_clear
from tests.banking.linking import PlaidSandbox, running_sandbox
from tests.banking.plaid_stub import PlaidStub, plaid_stub
from tests.banking.webhook_signing import TEST_KID, SigningKey

KEY_PATH = "/webhook_verification_key/get"


@pytest.fixture(autouse=True)
def _fresh_plaid_breaker() -> Iterator[None]:
    """No test inherits an open Plaid breaker from another (the breaker is per process)."""
    plaid_client.breaker_reset()
    yield
    plaid_client.breaker_reset()


@pytest.fixture(scope="session")
def plaid_sandbox() -> Iterator[PlaidSandbox]:
    with running_sandbox() as running:
        yield running


@pytest.fixture
def plaid(plaid_sandbox: PlaidSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidSandbox]:
    """The gateway talks to the sandbox; retries back off quickly; no fault or key carries over."""
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    key_cache_clear()
    plaid_sandbox.control.clear_faults()
    with override_settings(PLAID_API_BASE=plaid_sandbox.url):
        yield plaid_sandbox
    plaid_sandbox.control.clear_faults()
    key_cache_clear()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    """A scripted Plaid (for webhook keys a test controls); no key carried over."""
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    key_cache_clear()
    with plaid_stub() as running, override_settings(PLAID_API_BASE=running.url):
        yield running
    key_cache_clear()


@pytest.fixture
def key(stub: PlaidStub) -> SigningKey:
    """The webhook signing key the stub serves (once) under `TEST_KID`."""
    signing = SigningKey(TEST_KID)
    stub.answer(KEY_PATH, {"key": signing.jwk(), "request_id": "r"})
    return signing
