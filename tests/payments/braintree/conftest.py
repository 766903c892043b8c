"""Braintree gateway fixtures: the sandbox's Braintree, a merchant connected with its keys.

The unmodified `braintree` SDK talks to the sandbox through the contract's custom environment
(`BRAINTREE_API_BASE`); faults, the clock and notifications are driven through the sandbox's
control API. Short timeouts, quick backoff and a fresh breaker in every test.

Scenarios using `contract_gateway` also run against Braintree's own sandbox when
BRAINTREE_LIVE_CONTRACT=1 and BRAINTREE_MERCHANT_ID / BRAINTREE_PUBLIC_KEY /
BRAINTREE_PRIVATE_KEY are set; those marked `sandbox_only` (they need the control API) never
go live.
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
from tests.sandbox.braintree.conftest import live_keys

MERCHANT_ID = "ledgerline_sandbox_merchant"
PUBLIC_KEY = "ledgerline_sandbox_public"
PRIVATE_KEY = "ledgerline_sandbox_private"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox_only: needs the sandbox's control API")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bt_target" not in metafunc.fixturenames:
        return
    targets = ["sandbox"]
    if live_keys() is not None and not metafunc.definition.get_closest_marker("sandbox_only"):
        targets.append("live")
    metafunc.parametrize("bt_target", targets)


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
    """The merchant connected to the sandbox's Braintree merchant with its default keys, and
    taking its payments there."""
    account = braintree_account_connect(
        merchant=bt_merchant,
        merchant_id=MERCHANT_ID,
        public_key=PUBLIC_KEY,
        private_key=PRIVATE_KEY,
        actor=Actor.system("tests"),
    )
    return _takes_payments(account)


def _takes_payments(account: ProcessorAccount) -> ProcessorAccount:
    """Make the account the merchant's primary where accounts are ranked for routing (issue
    #17's routing, merged from h/btroute): the settings page ranks a first connected processor
    primary; the connect service itself leaves ranking to the routing choice."""
    field_names = {field.name for field in ProcessorAccount._meta.get_fields()}
    if "routing_rank" in field_names:
        ProcessorAccount.objects.filter(pk=account.pk).update(routing_rank=1)
        account.refresh_from_db()
    return account


@pytest.fixture
def bt_gateway(bt_account: ProcessorAccount) -> PaymentGateway:
    return gateway_named("braintree")


class OnAccount:
    """The gateway with the sandbox's merchant id in a scenario replaced by the merchant id of
    the target (the same scenarios run on Braintree's own sandbox)."""

    def __init__(self, gateway: PaymentGateway, merchant_id: str) -> None:
        self._gateway = gateway
        self.merchant_id = merchant_id

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._gateway, name)
        if not callable(method):
            return method

        def bound(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("account") == MERCHANT_ID:
                kwargs["account"] = self.merchant_id
            return method(*args, **kwargs)

        return bound


@pytest.fixture
def contract_gateway(
    bt_target: str, bt_merchant: Any, settings: Any, request: pytest.FixtureRequest
) -> Any:
    """The product's Braintree gateway, on the sandbox or (live) on Braintree's sandbox."""
    if bt_target == "live":
        keys = live_keys()
        assert keys is not None
        settings.BRAINTREE_API_BASE = ""
        settings.BRAINTREE_ENVIRONMENT = "sandbox"
        bt_client.clear_client_cache()
        merchant_id, public_key, private_key = keys
    else:
        request.getfixturevalue("bt_control")
        merchant_id, public_key, private_key = MERCHANT_ID, PUBLIC_KEY, PRIVATE_KEY
    braintree_account_connect(
        merchant=bt_merchant,
        merchant_id=merchant_id,
        public_key=public_key,
        private_key=private_key,
        actor=Actor.system("tests"),
    )
    return OnAccount(gateway_named("braintree"), merchant_id)


def settle_through_sdk(gateway: Any, transaction_id: str) -> None:
    """Braintree's TestingGateway (both sandboxes have it): settle a submitted transaction."""
    merchant_id = getattr(gateway, "merchant_id", MERCHANT_ID)
    public_key, private_key = processor_credentials.braintree_keys(merchant_id=merchant_id)
    keys = bt_client.Keys(merchant_id=merchant_id, public_key=public_key, private_key=private_key)
    result = bt_client.sdk_gateway(keys).testing.settle_transaction(transaction_id)
    assert result.is_success


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
