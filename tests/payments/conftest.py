"""Payments test fixtures: the Stripe sandbox on a free port, API clients by role, fast retries.

The sandbox is the other side of a network connection (its own thread and port): tests pay
against it through the official SDK exactly as the product does against Stripe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from accounts.roles import Role
from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience
from tests.factories import MerchantFactory
from tests.payments.factories import api_key_for

SECRET_KEY = "sk_test_ledgerline_sandbox"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    yield handle
    handle.stop()


class SandboxControl:
    """Test-side helper for the sandbox's control endpoints and read-only API calls."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fault(self, **spec: Any) -> None:
        response = requests.post(f"{self.url}/_sandbox/faults", json=spec, timeout=5)
        response.raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sandbox/faults", timeout=5).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", json={}, timeout=5).raise_for_status()

    def api_get(self, path: str, *, account: str, **params: Any) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Stripe-Account": account},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def charges(self, *, account: str) -> list[dict[str, Any]]:
        return self.api_get("/v1/charges", account=account, limit=100)["data"]

    def intents(self, *, account: str) -> list[dict[str, Any]]:
        return self.api_get("/v1/payment_intents", account=account, limit=100)["data"]


@pytest.fixture(autouse=True)
def _fast_resilience(monkeypatch) -> Iterator[None]:
    """Short timeouts, quick backoff and a fresh breaker in every test."""
    monkeypatch.setattr(stripe_client_module, "READ_TIMEOUT_SECONDS", 1.5)
    monkeypatch.setattr(stripe_client_module, "CONNECT_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(resilience, "BACKOFF_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(resilience, "BACKOFF_MAX_SECONDS", 0.05)
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    yield
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)


@pytest.fixture
def sandbox_control(settings, sandbox) -> Iterator[SandboxControl]:
    """The processor is the sandbox for this test; faults are cleared before and after."""
    settings.STRIPE_API_BASE = sandbox.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    stripe_client_module.clear_client_cache()
    control = SandboxControl(sandbox.url)
    control.clear_faults()
    yield control
    control.clear_faults()


@pytest.fixture
def merchant(db):
    return MerchantFactory(default_currency="gbp", country="GB")


def api_client_for(merchant, role: str = Role.OWNER) -> APIClient:
    _, secret = api_key_for(merchant, role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(merchant, sandbox_control) -> APIClient:
    return api_client_for(merchant)


# --- A sandbox of their own for the money-out tests (they move its clock by weeks) ----------


@pytest.fixture(scope="module")
def money_sandbox() -> Iterator[Any]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def money_control(settings, money_sandbox) -> SandboxControl:
    """Like `sandbox_control`, on the money tests' own sandbox."""
    settings.STRIPE_API_BASE = money_sandbox.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    stripe_client_module.clear_client_cache()
    return SandboxControl(money_sandbox.url)
