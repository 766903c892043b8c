"""The Stripe stand-in's SetupIntents for US bank accounts verified by Stripe's micro-deposits,
driven by the official SDK: confirm with bank details and a mandate, verify with Stripe's test
descriptor code or amounts, the attempt limit, expiry, then debiting the verified account."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from sandbox.server import SandboxHandle
from sandbox.stripe.banks import MICRODEPOSIT_EXPIRY_SECONDS, MICRODEPOSIT_MAX_ATTEMPTS
from tests.sandbox.conformance import assert_conforms
from tests.sandbox.conftest import make_client

BANK: dict[str, Any] = {
    "type": "us_bank_account",
    "us_bank_account": {
        "routing_number": "110000000",
        "account_number": "000123456789",
        "account_holder_type": "individual",
        "account_type": "checking",
    },
    "billing_details": {"name": "Pat Customer"},
}
MANDATE = {
    "customer_acceptance": {
        "type": "online",
        "online": {"ip_address": "203.0.113.9", "user_agent": "pytest"},
    }
}


def _awaiting_deposits(client: stripe.StripeClient) -> tuple[str, stripe.SetupIntent]:
    customer = client.v1.customers.create({"name": "Pat Customer"})
    params: Any = {
        "customer": customer.id,
        "allowed_payment_method_types": ["us_bank_account"],
        "payment_method_options": {"us_bank_account": {"verification_method": "microdeposits"}},
    }
    intent = client.v1.setup_intents.create(params)
    assert intent.status == "requires_payment_method"
    confirm: Any = {"payment_method_data": BANK, "mandate_data": MANDATE}
    confirmed = client.v1.setup_intents.confirm(intent.id, confirm)
    return customer.id, confirmed


def test_confirming_bank_details_sends_micro_deposits(sandbox: SandboxHandle) -> None:
    """Given a SetupIntent for micro-deposit verification, when confirmed with bank details and
    a mandate, then it requires action: verify_with_microdeposits by descriptor code, and the
    PaymentMethod shows last 4 and routing number only."""
    client = make_client(sandbox.url)
    _, intent = _awaiting_deposits(client)
    assert_conforms(intent)
    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.next_action.type == "verify_with_microdeposits"
    details = intent.next_action.verify_with_microdeposits
    assert details is not None
    assert details.microdeposit_type == "descriptor_code"
    assert details.hosted_verification_url.startswith(sandbox.url)
    method = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert_conforms(method)
    assert method.us_bank_account is not None
    assert (method.us_bank_account.last4, method.us_bank_account.routing_number) == (
        "6789",
        "110000000",
    )
    assert "000123456789" not in str(sandbox.sandbox.stripe.snapshot())


@pytest.mark.parametrize("answer", [{"descriptor_code": "SM11AA"}, {"amounts": [45, 32]}])
def test_the_test_code_or_amounts_verify_and_the_account_can_be_debited(
    sandbox: SandboxHandle, answer: dict[str, Any]
) -> None:
    """Stripe's test values verify the account: succeeded, an active mandate, the method on
    the customer; a debit with it needs no new mandate and is processing."""
    client = make_client(sandbox.url)
    customer, intent = _awaiting_deposits(client)
    verified = client.v1.setup_intents.verify_microdeposits(intent.id, answer)  # type: ignore[arg-type]
    assert_conforms(verified)
    assert verified.status == "succeeded"
    mandate = sandbox.control.stripe_object(str(verified.mandate))["object"]
    assert mandate["status"] == "active"
    method = client.v1.payment_methods.retrieve(str(verified.payment_method))
    assert method.customer == customer
    debit: Any = {
        "amount": 1200,
        "currency": "usd",
        "customer": customer,
        "payment_method": method.id,
        "allowed_payment_method_types": ["us_bank_account"],
        "confirm": True,
    }
    assert client.v1.payment_intents.create(debit).status == "processing"


def test_wrong_codes_are_limited_to_ten(sandbox: SandboxHandle) -> None:
    """Each wrong code is a 400 saying how many attempts are left; the tenth fails the
    SetupIntent (attempts exceeded), and the right code no longer helps."""
    client = make_client(sandbox.url)
    _, intent = _awaiting_deposits(client)
    for left in range(MICRODEPOSIT_MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(stripe.InvalidRequestError) as wrong:
            client.v1.setup_intents.verify_microdeposits(intent.id, {"descriptor_code": "SM00XX"})
        assert wrong.value.code == (
            "payment_method_microdeposit_verification_descriptor_code_mismatch"
        )
        assert f"{left} attempts left" in str(wrong.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as locked:
        client.v1.setup_intents.verify_microdeposits(intent.id, {"descriptor_code": "SM00XX"})
    assert locked.value.code == "payment_method_microdeposit_verification_attempts_exceeded"
    failed = client.v1.setup_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_setup_error is not None
    assert failed.last_setup_error.code == (
        "payment_method_microdeposit_verification_attempts_exceeded"
    )
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.setup_intents.verify_microdeposits(intent.id, {"descriptor_code": "SM11AA"})
    assert late.value.code == "setup_intent_unexpected_state"


def test_deposits_expire_after_ten_days(sandbox: SandboxHandle) -> None:
    client = make_client(sandbox.url)
    _, intent = _awaiting_deposits(client)
    sandbox.control.advance_clock(MICRODEPOSIT_EXPIRY_SECONDS + 60)
    with pytest.raises(stripe.InvalidRequestError) as expired:
        client.v1.setup_intents.verify_microdeposits(intent.id, {"descriptor_code": "SM11AA"})
    assert expired.value.code == "payment_method_microdeposit_verification_timeout"
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_payment_method"


def test_publishable_key_needs_the_client_secret(sandbox: SandboxHandle) -> None:
    """Stripe.js (a pk_ key) reaches a SetupIntent only with its client secret."""
    client = make_client(sandbox.url)
    customer = client.v1.customers.create({})
    intent = client.v1.setup_intents.create({"customer": customer.id})
    public = make_client(sandbox.url, key="pk_test_ledgerline_sandbox")
    with pytest.raises(stripe.InvalidRequestError):
        public.v1.setup_intents.retrieve(intent.id)
    found = public.v1.setup_intents.retrieve(
        intent.id, {"client_secret": str(intent.client_secret)}
    )
    assert found.id == intent.id


def test_bank_details_are_checked_before_anything_is_sent(sandbox: SandboxHandle) -> None:
    client = make_client(sandbox.url)
    customer = client.v1.customers.create({})
    intent = client.v1.setup_intents.create({"customer": customer.id})
    bad: Any = {
        "payment_method_data": {
            **BANK,
            "us_bank_account": {**BANK["us_bank_account"], "routing_number": "110000001"},
        },
        "mandate_data": MANDATE,
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.confirm(intent.id, bad)
    assert refused.value.code == "routing_number_invalid"
    no_mandate: Any = {"payment_method_data": BANK}
    with pytest.raises(stripe.InvalidRequestError) as mandate:
        client.v1.setup_intents.confirm(intent.id, no_mandate)
    assert mandate.value.code == "mandate_required"


def test_hosted_verification_page_verifies_with_the_code(sandbox: SandboxHandle) -> None:
    """The next action's hosted_verification_url is a page on the sandbox origin that takes
    the code; a wrong code is shown, the right one verifies the SetupIntent."""
    client = make_client(sandbox.url)
    _, intent = _awaiting_deposits(client)
    assert intent.next_action is not None
    assert intent.next_action.verify_with_microdeposits is not None
    url = intent.next_action.verify_with_microdeposits.hosted_verification_url
    assert "SM11AA" in requests.get(url, timeout=5).text
    secret = {"client_secret": str(intent.client_secret)}
    wrong = requests.post(url, data={**secret, "descriptor_code": "SM22BB"}, timeout=5)
    assert "did not match" in wrong.text
    right = requests.post(url, data={**secret, "descriptor_code": "sm11aa"}, timeout=5)
    assert "Your bank account is verified." in right.text
    assert client.v1.setup_intents.retrieve(intent.id).status == "succeeded"
    stranger = requests.get(url.split("?")[0] + "?client_secret=nope", timeout=5)
    assert stranger.status_code == 404
