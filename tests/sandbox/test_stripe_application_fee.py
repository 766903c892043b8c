"""The Stripe stand-in's application fees on direct charges, as Stripe reports them: the fee
goes to the platform (an ApplicationFee), the connected account's charge balance transaction
counts it in `fee` and lists it in `fee_details` next to `stripe_fee`, and a refund keeps it.
"""

from __future__ import annotations

import pytest
import stripe

from sandbox.server import SandboxHandle
from sandbox.stripe.resources.ledger import ach_fee, card_fee
from tests.sandbox.conftest import make_client
from tests.sandbox.money_support import ONLINE_MANDATE, connected


def _intent(client, options, *, fee: int, amount: int = 10_000, manual: bool = False):
    params = {
        "amount": amount,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "payment_method_types": ["card"],
        "application_fee_amount": fee,
    }
    if manual:
        params["capture_method"] = "manual"
    return client.v1.payment_intents.create(params=params, options=options)


def _charge_transaction(client, options, intent_id: str) -> stripe.BalanceTransaction:
    intent = client.v1.payment_intents.retrieve(
        intent_id, {"expand": ["latest_charge.balance_transaction"]}, options
    )
    return intent.latest_charge.balance_transaction


def test_a_direct_charge_books_the_application_fee_in_its_fee_and_fee_details(
    sandbox: SandboxHandle,
):
    """Given a direct charge of 100.00 with an application fee of 2.80, then its balance
    transaction's fee is Stripe's plus 2.80, fee_details lists both, net = amount - fee, and
    the platform holds an ApplicationFee for the charge."""
    client = make_client(sandbox.url)
    options = connected(client)
    intent = _intent(client, options, fee=280)
    txn = _charge_transaction(client, options, intent.id)
    assert txn.fee == card_fee(10_000) + 280
    assert txn.net == 10_000 - txn.fee
    details = {d.type: d.amount for d in txn.fee_details}
    assert details == {"application_fee": 280, "stripe_fee": card_fee(10_000)}
    charge = client.v1.charges.retrieve(intent.latest_charge, options=options)
    assert charge.application_fee_amount == 280
    fee = client.v1.application_fees.retrieve(charge.application_fee)  # as the platform
    assert (fee.amount, fee.charge, fee.account) == (280, charge.id, options["stripe_account"])
    with pytest.raises(stripe.InvalidRequestError):  # not the connected account's object
        client.v1.application_fees.retrieve(charge.application_fee, options=options)


def test_a_refund_leaves_the_application_fee_with_the_platform(sandbox: SandboxHandle):
    """Stripe's default: a refund debits the account the refunded amount only (fee 0) and the
    application fee stays taken; refund_application_fee=true is refused, never ignored."""
    client = make_client(sandbox.url)
    options = connected(client)
    intent = _intent(client, options, fee=500)
    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "expand": ["balance_transaction"]}, options=options
    )
    assert (refund.balance_transaction.amount, refund.balance_transaction.fee) == (-10_000, 0)
    charge = client.v1.charges.retrieve(intent.latest_charge, options=options)
    assert client.v1.application_fees.retrieve(charge.application_fee).amount_refunded == 0
    other = _intent(client, options, fee=500)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(
            params={"payment_intent": other.id, "refund_application_fee": True}, options=options
        )
    assert refused.value.param == "refund_application_fee"


def test_a_partial_capture_takes_the_fee_given_at_capture_capped_at_the_captured_amount(
    sandbox: SandboxHandle,
):
    client = make_client(sandbox.url)
    options = connected(client)
    intent = _intent(client, options, fee=400, manual=True)
    client.v1.payment_intents.capture(
        intent.id, {"amount_to_capture": 5_000, "application_fee_amount": 200}, options
    )
    txn = _charge_transaction(client, options, intent.id)
    assert txn.fee == card_fee(5_000) + 200
    capped = _intent(client, options, fee=9_000, manual=True)
    client.v1.payment_intents.capture(capped.id, {"amount_to_capture": 100}, options)
    assert _charge_transaction(client, options, capped.id).fee == card_fee(100) + 100


def test_an_application_fee_needs_a_connected_account_and_at_most_the_amount(
    sandbox: SandboxHandle,
):
    client = make_client(sandbox.url)
    with pytest.raises(stripe.InvalidRequestError) as platform_only:
        _intent(client, {}, fee=100)
    assert platform_only.value.param == "application_fee_amount"
    options = connected(client)
    with pytest.raises(stripe.InvalidRequestError) as too_large:
        _intent(client, options, fee=10_001)
    assert too_large.value.param == "application_fee_amount"
    assert "cannot be greater than the amount" in str(too_large.value.user_message)


def test_a_settled_bank_debit_pays_its_application_fee_too(sandbox: SandboxHandle):
    """An ACH debit settles later (here through the control API, as the clock would): its
    `payment` transaction counts the application fee with Stripe's ACH fee."""
    client = make_client(sandbox.url)
    options = connected(client, country="US")
    customer = client.v1.customers.create(params={}, options=options)
    bank = client.v1.customers.payment_sources.create(
        customer.id, {"source": "btok_us_verified"}, options=options
    )
    intent = client.v1.payment_intents.create(
        params={
            "amount": 20_000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": bank.id,
            "allowed_payment_method_types": ["us_bank_account"],
            "confirm": True,
            "mandate_data": ONLINE_MANDATE,
            "application_fee_amount": 150,
        },
        options=options,
    )
    sandbox.control.stripe_action("payment_intents", intent.id, "settle", {"outcome": "succeeded"})
    txn = _charge_transaction(client, options, intent.id)
    assert txn.type == "payment"
    assert txn.fee == ach_fee(20_000) + 150
    assert {d.type: d.amount for d in txn.fee_details} == {
        "application_fee": 150,
        "stripe_fee": ach_fee(20_000),
    }
