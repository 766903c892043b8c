"""The Stripe stand-in's ACH Direct Debit, driven by the official SDK: bank-account sources from
`btok_` tokens (Stripe's test tokens and the sandbox Plaid's), us_bank_account PaymentIntents
under a mandate, asynchronous settlement by the clock or the control API, ACH returns."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from plaid.model.processor_stripe_bank_account_token_create_request import (
    ProcessorStripeBankAccountTokenCreateRequest,
)

from sandbox.server import SandboxHandle
from sandbox.stripe.banks import SETTLEMENT_SECONDS
from tests.sandbox.conformance import assert_conforms
from tests.sandbox.conftest import Receiver, make_client
from tests.sandbox.plaid.conftest import make_plaid, sandbox_item

ONLINE_MANDATE = {
    "customer_acceptance": {
        "type": "online",
        "online": {"ip_address": "203.0.113.7", "user_agent": "pytest"},
    }
}


def _bank_customer(client: stripe.StripeClient, token: str) -> tuple[str, Any]:
    customer = client.v1.customers.create({"email": "ach@example.com"})
    bank = client.v1.customers.payment_sources.create(customer.id, {"source": token})
    return customer.id, bank


def _debit(
    client: stripe.StripeClient, customer: str, bank: str, **extra: Any
) -> stripe.PaymentIntent:
    params: dict[str, Any] = {
        "amount": 2500,
        "currency": "usd",
        "customer": customer,
        "payment_method": bank,
        "allowed_payment_method_types": ["us_bank_account"],
        "confirm": True,
        "mandate_data": ONLINE_MANDATE,
        **extra,
    }
    return client.v1.payment_intents.create(params)  # type: ignore[arg-type]


def test_verified_token_becomes_a_bank_account_without_its_number(sandbox: SandboxHandle) -> None:
    """Given Stripe's btok_us_verified, when attached to a customer, then the source is a
    verified bank_account with last 4, routing number and fingerprint only."""
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    assert_conforms(bank)
    assert bank.object == "bank_account"
    assert (bank.status, bank.last4, bank.routing_number) == ("verified", "6789", "110000000")
    assert "000123456789" not in str(sandbox.sandbox.stripe.snapshot())
    again = client.v1.customers.payment_sources.retrieve(customer, bank.id)
    assert again.id == bank.id
    listed = client.v1.customers.payment_sources.list(customer, {"object": "bank_account"})
    assert [s.id for s in listed.data] == [bank.id]
    assert client.v1.customers.retrieve(customer).default_source == bank.id


def test_debit_processes_then_settles_when_the_clock_passes(sandbox: SandboxHandle) -> None:
    """Given a verified bank account, when debited with a mandate, then the intent is
    processing with a pending charge; after the settlement time it succeeded."""
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    intent = _debit(client, customer, bank.id, expand=["latest_charge"])
    assert_conforms(intent)
    assert intent.status == "processing"
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.status == "pending"
    details = charge.payment_method_details
    assert details is not None
    assert details.type == "us_bank_account"
    assert details.us_bank_account is not None
    assert details.us_bank_account.last4 == "6789"
    mandate = sandbox.control.stripe_object(str(details.us_bank_account.mandate))["object"]
    assert mandate["status"] == "active"
    assert mandate["customer_acceptance"]["online"]["ip_address"] == "203.0.113.7"

    sandbox.control.advance_clock(SETTLEMENT_SECONDS - 60)
    assert client.v1.payment_intents.retrieve(intent.id).status == "processing"
    sandbox.control.advance_clock(120)
    settled = client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]})
    assert settled.status == "succeeded"
    assert settled.amount_received == 2500
    assert isinstance(settled.latest_charge, stripe.Charge)
    assert settled.latest_charge.status == "succeeded"
    assert settled.latest_charge.balance_transaction is not None


@pytest.mark.parametrize(
    ("token", "failure_code"),
    [
        ("btok_us_verified_insufficientFunds", "insufficient_funds"),
        ("btok_us_verified_accountClosed", "account_closed"),
    ],
)
def test_ach_return_fails_the_debit_at_settlement(
    hooked: tuple[SandboxHandle, Receiver], token: str, failure_code: str
) -> None:
    """Given an account whose debits are returned, when the bank answers (tick after the
    settlement time), then the intent needs a new payment method, with the return's code, and
    payment_intent.processing then payment_intent.payment_failed are delivered."""
    handle, receiver = hooked
    client = make_client(handle.url)
    customer, bank = _bank_customer(client, token)
    intent = _debit(client, customer, bank.id)
    assert intent.status == "processing"
    handle.control.advance_clock(SETTLEMENT_SECONDS + 1)
    settled = handle.control.request("POST", "stripe/tick", {})["settled"]
    assert settled == [intent.id]
    failed = client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]})
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == failure_code
    assert isinstance(failed.latest_charge, stripe.Charge)
    assert failed.latest_charge.failure_code == failure_code
    assert handle.control.wait_for_webhooks(10)
    types = [e["type"] for e in receiver.events() if e["data"]["object"].get("id") == intent.id]
    assert types[-2:] == ["payment_intent.processing", "payment_intent.payment_failed"]


def test_control_settle_finishes_a_debit_now(sandbox: SandboxHandle) -> None:
    """The control API's settle answers for the bank at once; `failed` is an R01 return."""
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    first = _debit(client, customer, bank.id)
    second = _debit(client, customer, bank.id)
    done = sandbox.control.stripe_action(
        "payment_intents", first.id, "settle", {"outcome": "succeeded"}
    )
    assert done["status"] == "succeeded"
    failed = sandbox.control.stripe_action(
        "payment_intents", second.id, "settle", {"outcome": "failed"}
    )
    assert failed["last_payment_error"]["code"] == "insufficient_funds"


def test_mandate_is_required_once_then_reused(sandbox: SandboxHandle) -> None:
    """The first debit of an account needs mandate_data; later ones use its active mandate."""
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _debit(client, customer, bank.id, mandate_data=None)
    assert refused.value.code == "mandate_required"
    _debit(client, customer, bank.id)
    later = client.v1.payment_intents.create(
        {
            "amount": 700,
            "currency": "usd",
            "customer": customer,
            "payment_method": bank.id,
            "allowed_payment_method_types": ["us_bank_account"],
            "confirm": True,
        }
    )
    assert later.status == "processing"


def test_bank_debits_are_usd_and_need_the_owning_customer(sandbox: SandboxHandle) -> None:
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    with pytest.raises(stripe.InvalidRequestError) as currency:
        _debit(client, customer, bank.id, currency="eur")
    assert currency.value.code == "payment_intent_invalid_currency"
    other = client.v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError) as owner:
        _debit(client, other.id, bank.id)
    assert owner.value.param == "customer"


def test_same_idempotency_key_debits_once(sandbox: SandboxHandle) -> None:
    """A retried create with the same key replays the first answer: one charge."""
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, "btok_us_verified")
    params: Any = {
        "amount": 2500,
        "currency": "usd",
        "customer": customer,
        "payment_method": bank.id,
        "allowed_payment_method_types": ["us_bank_account"],
        "confirm": True,
        "mandate_data": ONLINE_MANDATE,
    }
    first = client.v1.payment_intents.create(params, {"idempotency_key": "pay_1_create"})
    again = client.v1.payment_intents.create(params, {"idempotency_key": "pay_1_create"})
    assert again.id == first.id
    assert sandbox.control.count("charge") == 1


def test_plaid_btok_is_a_single_use_stripe_bank_token(sandbox: SandboxHandle) -> None:
    """Given a btok_ from the sandbox Plaid's /processor/stripe/bank_account_token/create,
    the Stripe stand-in makes the same account (its last 4) a source, once; an unknown btok_
    is refused."""
    plaid = make_plaid(sandbox.url)
    access_token, _item = sandbox_item(plaid)
    accounts = plaid.accounts_get({"access_token": access_token}).accounts
    checking = next(a for a in accounts if a.subtype.value == "checking")
    token = plaid.processor_stripe_bank_account_token_create(
        ProcessorStripeBankAccountTokenCreateRequest(
            access_token=access_token, account_id=checking.account_id
        )
    ).stripe_bank_account_token
    assert token.startswith("btok_")
    client = make_client(sandbox.url)
    customer, bank = _bank_customer(client, token)
    assert bank.last4 == checking.mask
    assert bank.routing_number == "011401533"
    assert _debit(client, customer, bank.id).status == "processing"
    with pytest.raises(stripe.InvalidRequestError) as reused:
        client.v1.customers.payment_sources.create(customer, {"source": token})
    assert reused.value.code == "token_already_used"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.payment_sources.create(customer, {"source": "btok_" + "x" * 24})
    assert unknown.value.code == "resource_missing"
