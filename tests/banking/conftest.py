"""Banking fixtures: one sandbox Plaid per test process, pointed at by PLAID_API_BASE per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from banking.gateways.plaid import client as plaid_client
from banking.gateways.plaid.webhooks import key_cache_clear
from tests.banking.linking import PlaidSandbox, running_sandbox


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
