"""Contract scenarios: the unmodified `braintree` SDK against the stand-in (and, when keys are
set, Braintree's own sandbox): sale, settlement, void, refunds, declines, 3-D Secure, search,
customers, client tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal

import braintree
import pytest
from braintree.exceptions.not_found_error import NotFoundError

from tests.sandbox.braintree.conftest import live_keys

Status = braintree.Transaction.Status


def _codes(result: braintree.ErrorResult) -> list[str]:
    return [error.code for error in result.errors.deep_errors]


def _sale(gateway: braintree.BraintreeGateway, amount: str = "10.00", **extra: object):
    params = {"amount": amount, "payment_method_nonce": "fake-valid-nonce", **extra}
    result = gateway.transaction.sale(params)
    assert result.is_success, getattr(result, "message", result)
    return result.transaction


def _settled(gateway: braintree.BraintreeGateway, amount: str = "10.00"):
    txn = _sale(gateway, amount, options={"submit_for_settlement": True})
    return gateway.testing.settle_transaction(txn.id).transaction


def test_live_contract_configuration_is_reported():
    """Says why the live run is skipped, so a green suite never hides it."""
    if live_keys() is None:
        pytest.skip(
            "Braintree live contract not configured: set BRAINTREE_LIVE_CONTRACT=1 and "
            "BRAINTREE_MERCHANT_ID / BRAINTREE_PUBLIC_KEY / BRAINTREE_PRIVATE_KEY"
        )


def test_sale_with_a_nonce_is_authorized(gateway):
    txn = _sale(gateway, "12.34", order_id="ord-1")
    assert (txn.status, txn.type, txn.amount) == (Status.Authorized, "sale", Decimal("12.34"))
    assert txn.processor_response_code == "1000"
    assert txn.order_id == "ord-1"
    assert txn.credit_card_details.card_type == "Visa"
    assert txn.credit_card_details.last_4 == "1111"
    assert txn.three_d_secure_info is None
    assert [event.status for event in txn.status_history] == [Status.Authorized]


def test_sale_with_submit_for_settlement_is_submitted(gateway):
    txn = _sale(gateway, options={"submit_for_settlement": True})
    assert txn.status == Status.SubmittedForSettlement


def test_submit_for_settlement_captures_the_whole_amount(gateway):
    txn = _sale(gateway, "20.00")
    result = gateway.transaction.submit_for_settlement(txn.id)
    assert result.is_success
    assert (result.transaction.status, result.transaction.amount) == (
        Status.SubmittedForSettlement,
        Decimal("20.00"),
    )


def test_submit_for_settlement_of_a_lower_amount_captures_only_that(gateway):
    txn = _sale(gateway, "20.00")
    result = gateway.transaction.submit_for_settlement(txn.id, Decimal("7.50"))
    assert result.is_success
    assert result.transaction.amount == Decimal("7.50")


def test_submitting_more_than_authorized_is_refused(gateway):
    txn = _sale(gateway, "20.00")
    result = gateway.transaction.submit_for_settlement(txn.id, "25.00")
    assert not result.is_success
    assert _codes(result) == [braintree.ErrorCodes.Transaction.SettlementAmountIsTooLarge]


def test_submitting_twice_is_refused(gateway):
    txn = _sale(gateway, options={"submit_for_settlement": True})
    result = gateway.transaction.submit_for_settlement(txn.id)
    assert _codes(result) == [braintree.ErrorCodes.Transaction.CannotSubmitForSettlement]


def test_void_releases_an_authorization(gateway):
    txn = _sale(gateway)
    result = gateway.transaction.void(txn.id)
    assert result.is_success
    assert result.transaction.status == Status.Voided
    assert gateway.transaction.find(txn.id).status == Status.Voided


def test_a_settled_transaction_cannot_be_voided(gateway):
    txn = _settled(gateway)
    result = gateway.transaction.void(txn.id)
    assert _codes(result) == [braintree.ErrorCodes.Transaction.CannotBeVoided]


def test_refund_before_settlement_is_refused(gateway):
    txn = _sale(gateway, options={"submit_for_settlement": True})
    result = gateway.transaction.refund(txn.id)
    assert not result.is_success
    assert _codes(result) == [braintree.ErrorCodes.Transaction.CannotRefundUnlessSettled]


def test_full_refund_of_a_settled_sale_is_a_credit(gateway):
    txn = _settled(gateway, "15.00")
    assert txn.status == Status.Settled
    result = gateway.transaction.refund(txn.id)
    assert result.is_success
    credit = result.transaction
    assert (credit.type, credit.amount, credit.refunded_transaction_id) == (
        "credit",
        Decimal("15.00"),
        txn.id,
    )
    assert gateway.transaction.find(txn.id).refund_ids == [credit.id]


def test_partial_refunds_up_to_the_amount_then_refused(gateway):
    txn = _settled(gateway, "10.00")
    first = gateway.transaction.refund(txn.id, "4.00")
    assert first.is_success
    assert first.transaction.amount == Decimal("4.00")
    too_much = gateway.transaction.refund(txn.id, "6.01")
    assert _codes(too_much) == [braintree.ErrorCodes.Transaction.RefundAmountIsTooLarge]
    rest = gateway.transaction.refund(txn.id)
    assert rest.is_success
    assert rest.transaction.amount == Decimal("6.00")
    again = gateway.transaction.refund(txn.id, "1.00")
    assert _codes(again) == [braintree.ErrorCodes.Transaction.HasAlreadyBeenRefunded]


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        ("2000.00", "2000", "Do Not Honor"),
        ("2001.00", "2001", "Insufficient Funds"),
        ("2046.00", "2046", "Declined"),
    ],
)
def test_amounts_from_2000_are_processor_declined(gateway, amount, code, text):
    result = gateway.transaction.sale(
        {"amount": amount, "payment_method_nonce": "fake-valid-nonce"}
    )
    assert not result.is_success
    assert result.message == text
    assert result.transaction.status == Status.ProcessorDeclined
    assert (
        result.transaction.processor_response_code,
        result.transaction.processor_response_text,
    ) == (code, text)


def test_an_amount_of_3000_fails(gateway):
    result = gateway.transaction.sale(
        {"amount": "3000.00", "payment_method_nonce": "fake-valid-nonce"}
    )
    assert result.transaction.status == Status.Failed
    assert result.transaction.processor_response_code == "3000"


def test_processor_declined_nonce(gateway):
    result = gateway.transaction.sale(
        {"amount": "10.00", "payment_method_nonce": "fake-processor-declined-visa-nonce"}
    )
    assert result.transaction.status == Status.ProcessorDeclined
    assert result.transaction.processor_response_type == "soft_declined"


def test_gateway_rejected_for_fraud(gateway):
    result = gateway.transaction.sale(
        {"amount": "10.00", "payment_method_nonce": "fake-gateway-rejected-fraud-nonce"}
    )
    assert result.transaction.status == Status.GatewayRejected
    assert result.transaction.gateway_rejection_reason == "fraud"


def test_three_d_secure_info_of_an_authenticated_nonce(gateway):
    txn = _sale(gateway, payment_method_nonce="fake-three-d-secure-visa-full-authentication-nonce")
    info = txn.three_d_secure_info
    assert info.liability_shifted is True
    assert info.liability_shift_possible is True
    assert info.status == "authenticate_successful"


@pytest.mark.sandbox_only
def test_three_d_secure_required_refuses_a_failed_authentication(gateway):
    result = gateway.transaction.sale(
        {
            "amount": "10.00",
            "payment_method_nonce": "fake-three-d-secure-visa-failed-authentication-nonce",
            "options": {"three_d_secure": {"required": True}},
        }
    )
    assert result.transaction.status == Status.GatewayRejected
    assert result.transaction.gateway_rejection_reason == "three_d_secure"
    assert result.transaction.three_d_secure_info.liability_shifted is False


def test_unknown_and_consumed_nonces_are_refused(gateway):
    unknown = gateway.transaction.sale({"amount": "1.00", "payment_method_nonce": "no-such-nonce"})
    assert _codes(unknown) == [braintree.ErrorCodes.Transaction.PaymentMethodNonceUnknown]
    used = gateway.transaction.sale(
        {"amount": "1.00", "payment_method_nonce": "fake-consumed-nonce"}
    )
    assert _codes(used) == [braintree.ErrorCodes.Transaction.PaymentMethodNonceConsumed]


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (None, braintree.ErrorCodes.Transaction.AmountIsRequired),
        ("0.00", braintree.ErrorCodes.Transaction.AmountMustBeGreaterThanZero),
        ("-1.00", braintree.ErrorCodes.Transaction.AmountCannotBeNegative),
        ("1.234", braintree.ErrorCodes.Transaction.AmountIsInvalid),
    ],
)
def test_bad_amounts_are_validation_errors(gateway, amount, code):
    params = {"payment_method_nonce": "fake-valid-nonce"}
    if amount is not None:
        params["amount"] = amount
    result = gateway.transaction.sale(params)
    assert code in _codes(result)
    assert result.errors.for_object("transaction").on("amount")[0].code == code


def test_find_of_an_unknown_transaction_is_not_found(gateway):
    with pytest.raises(NotFoundError):
        gateway.transaction.find("nosuchid")


def test_search_by_order_id_ids_status_and_created_at(gateway):
    order = "ord-" + uuid.uuid4().hex[:12]
    first = _sale(gateway, "5.00", order_id=order)
    second = _sale(gateway, "6.00", order_id=order, options={"submit_for_settlement": True})
    search = braintree.TransactionSearch
    by_order = gateway.transaction.search(search.order_id == order)
    assert sorted(t.id for t in by_order.items) == sorted([first.id, second.id])
    by_status = gateway.transaction.search(
        search.order_id == order, search.status.in_list([Status.SubmittedForSettlement])
    )
    assert [t.id for t in by_status.items] == [second.id]
    by_ids = gateway.transaction.search(search.ids.in_list([first.id]))
    assert [t.amount for t in by_ids.items] == [Decimal("5.00")]
    since = first.created_at - dt.timedelta(minutes=1)
    recent = gateway.transaction.search(search.order_id == order, search.created_at >= since)
    assert recent.maximum_size == 2
    future = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=2)
    none = gateway.transaction.search(search.order_id == order, search.created_at >= future)
    assert none.maximum_size == 0


def test_customer_create_find_update_delete(gateway):
    created = gateway.customer.create(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "payment_method_nonce": "fake-valid-mastercard-nonce",
        }
    )
    assert created.is_success
    customer = created.customer
    assert customer.credit_cards[0].card_type == "MasterCard"
    assert customer.credit_cards[0].default is True
    found = gateway.customer.find(customer.id)
    assert (found.first_name, found.email) == ("Ada", "ada@example.com")
    updated = gateway.customer.update(customer.id, {"last_name": "Byron"})
    assert updated.is_success
    assert updated.customer.last_name == "Byron"
    assert gateway.customer.delete(customer.id).is_success
    with pytest.raises(NotFoundError):
        gateway.customer.find(customer.id)


def test_invalid_customer_email_is_refused(gateway):
    result = gateway.customer.create({"email": "not-an-email"})
    assert _codes(result) == [braintree.ErrorCodes.Customer.EmailIsInvalid]


def test_sale_with_a_vaulted_card(gateway):
    customer = gateway.customer.create({"payment_method_nonce": "fake-valid-visa-nonce"}).customer
    token = customer.credit_cards[0].token
    txn = _sale(gateway, payment_method_nonce=None, payment_method_token=token)
    assert txn.customer_details.id == customer.id
    assert txn.credit_card_details.token == token


def test_client_token_is_a_version_2_token(gateway):
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    assert token["version"] == 2
    assert token["authorizationFingerprint"]
