"""Braintree gateway fixtures: the sandbox's Braintree, a merchant connected with its keys.

The unmodified `braintree` SDK talks to the sandbox through the contract's custom environment
(`BRAINTREE_API_BASE`); faults, the clock and notifications are driven through the sandbox's
control API. Short timeouts, quick backoff and a fresh breaker in every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from compliance.actors import Actor
from payments import processor_credentials
from payments.gateways import gateway_named
from payments.gateways.base import PaymentGateway
from payments.gateways.braintree import client as bt_client
from payments.gateways.braintree import resilience as bt_resilience
from payments.models import ProcessorAccount
from payments.services import braintree_account_connect
from sandbox.client import SandboxControl
from tests.factories import MerchantFactory

MERCHANT_ID = "ledgerline_sandbox_merchant"
PUBLIC_KEY = "ledgerline_sandbox_public"
PRIVATE_KEY = "ledgerline_sandbox_private"


@pytest.fixture(autouse=True)
def _fast_braintree(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(bt_client, "READ_TIMEOUT_SECONDS", 1.5)
    monkeypatch.setattr(bt_client, "CONNECT_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(bt_resilience, "BACKOFF_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(bt_resilience, "BACKOFF_MAX_SECONDS", 0.05)
    bt_client.clear_client_cache()
    processor_credentials.keys_forget()
    bt_resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    # Every test connects a new merchant to the one sandbox merchant id; ingest remembers an
    # account's merchant for the life of the process (accounts never move in production).
    monkeypatch.setattr("inbound.services.ingest._merchant_by_account", {})
    yield
    bt_client.clear_client_cache()
    processor_credentials.keys_forget()
    bt_resilience.breaker_reset(fail_max=5, reset_timeout=30.0)


@pytest.fixture
def bt_control(settings: Any, sandbox: Any) -> Iterator[SandboxControl]:
    """The sandbox is Braintree for this test; faults cleared before and after."""
    settings.BRAINTREE_API_BASE = sandbox.url
    bt_client.clear_client_cache()
    control = SandboxControl(sandbox.url)
    control.clear_faults()
    yield control
    control.clear_faults()


@pytest.fixture
def bt_merchant(db: Any) -> Any:
    return MerchantFactory(default_currency="usd", country="US", slug="bt-merchant")


@pytest.fixture
def bt_account(bt_merchant: Any, bt_control: SandboxControl) -> ProcessorAccount:
    """The merchant connected to the sandbox's Braintree merchant with its default keys."""
    return braintree_account_connect(
        merchant=bt_merchant,
        merchant_id=MERCHANT_ID,
        public_key=PUBLIC_KEY,
        private_key=PRIVATE_KEY,
        actor=Actor.system("tests"),
    )


@pytest.fixture
def bt_gateway(bt_account: ProcessorAccount) -> PaymentGateway:
    return gateway_named("braintree")


def sale(
    gateway: PaymentGateway,
    *,
    amount: int = 1000,
    nonce: str = "fake-valid-nonce",
    capture: bool = True,
    reference: str = "pay_test",
    currency: str = "usd",
) -> Any:
    return gateway.charge_create(
        account=MERCHANT_ID,
        key=f"{reference}_create",
        reference=reference,
        amount=amount,
        currency=currency,
        method_type="card",
        payment_method=nonce,
        capture_manually=not capture,
    )


def settle(control: SandboxControl, charge_id: str) -> None:
    control.braintree("POST", f"transactions/{charge_id}/settle")


def sandbox_transaction(control: SandboxControl, charge_id: str) -> dict[str, Any]:
    return control.braintree("GET", f"objects/transactions/{charge_id}")
