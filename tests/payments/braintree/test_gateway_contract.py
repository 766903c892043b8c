"""BraintreeGateway against the sandbox's Braintree through the unmodified SDK: every verb of
the PaymentGateway protocol Braintree supports, statuses mapped to Ledgerline's, refusals
mapped to Ledgerline's errors (documented test nonces and amounts). Scenarios not marked
`sandbox_only` also run against Braintree's own sandbox when its keys are set (conftest)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from payments.exceptions import (
    CardDeclinedError,
    ChargeNotSettledError,
    PaymentStateError,
    ProcessorRequestError,
    RefundAmountError,
)
from payments.gateways.base import PaymentGateway
from payments.state import PaymentStatus, RefundStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import (
    MERCHANT_ID,
    sale,
    sandbox_transaction,
    settle_through_sdk,
)


@pytest.fixture
def bt_gateway(contract_gateway: Any) -> Any:
    """The product's gateway on the scenario's target (the sandbox, or Braintree's own)."""
    return contract_gateway


def _ref(prefix: str = "pay") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _settled_sale(gateway: PaymentGateway, amount: int = 5000) -> Any:
    charge = sale(gateway, amount=amount, reference=_ref())
    settle_through_sdk(gateway, charge.id)
    return charge


# --- sale, capture, void ---------------------------------------------------------------------


@pytest.mark.sandbox_only
def test_a_sale_with_a_valid_nonce_is_captured_at_once(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, amount=1234, reference=(ref := _ref()))
    assert charge.status == PaymentStatus.SUCCEEDED
    assert (charge.amount, charge.amount_received, charge.currency) == (1234, 1234, "usd")
    assert charge.reference == ref
    assert charge.card is not None
    assert charge.card.last4 == "1111"
    assert charge.card.brand == "visa"
    assert sandbox_transaction(bt_control, charge.id)["status"] == "submitted_for_settlement"


def test_an_authorisation_only_waits_for_capture(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, amount=2500, capture=False, reference=_ref())
    assert charge.status == PaymentStatus.REQUIRES_CAPTURE
    assert (charge.amount_capturable, charge.amount_received) == (2500, 0)


@pytest.mark.sandbox_only
def test_capture_submits_the_whole_authorisation_for_settlement(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, amount=2500, capture=False, reference=_ref())
    captured = bt_gateway.charge_capture(
        account=MERCHANT_ID, charge=charge.id, amount=None, key="k"
    )
    assert captured.status == PaymentStatus.SUCCEEDED
    assert captured.amount_received == 2500
    assert sandbox_transaction(bt_control, charge.id)["status"] == "submitted_for_settlement"


def test_a_partial_capture_settles_less_and_releases_the_rest(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, amount=2500, capture=False, reference=_ref())
    captured = bt_gateway.charge_capture(
        account=MERCHANT_ID, charge=charge.id, amount=1000, key="k"
    )
    assert (captured.status, captured.amount_received) == (PaymentStatus.SUCCEEDED, 1000)


def test_capturing_more_than_authorised_is_refused(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, amount=2500, capture=False, reference=_ref())
    with pytest.raises(ProcessorRequestError) as caught:
        bt_gateway.charge_capture(account=MERCHANT_ID, charge=charge.id, amount=9000, key="k")
    assert caught.value.code == "amount_too_large"


def test_cancel_voids_an_authorisation(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, capture=False, reference=_ref())
    canceled = bt_gateway.charge_cancel(account=MERCHANT_ID, charge=charge.id, key="k")
    assert canceled.status == PaymentStatus.CANCELED


def test_cancel_voids_a_capture_that_has_not_started_settling(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, reference=_ref())
    canceled = bt_gateway.charge_cancel(account=MERCHANT_ID, charge=charge.id, key="k")
    assert canceled.status == PaymentStatus.CANCELED


def test_a_settled_sale_cannot_be_voided(bt_gateway: PaymentGateway) -> None:
    charge = _settled_sale(bt_gateway)
    with pytest.raises(PaymentStateError):
        bt_gateway.charge_cancel(account=MERCHANT_ID, charge=charge.id, key="k")


@pytest.mark.sandbox_only
def test_settlement_follows_the_sandbox_clock(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    """submitted_for_settlement -> settling -> settled a day later, on the sandbox's clock."""
    charge = sale(bt_gateway, reference=_ref())
    bt_control.advance_clock(86_400 + 60)
    now = bt_gateway.charge_retrieve(account=MERCHANT_ID, charge=charge.id)
    assert now.status == PaymentStatus.SUCCEEDED
    assert sandbox_transaction(bt_control, charge.id)["status"] == "settled"


# --- refunds ---------------------------------------------------------------------------------


def test_a_refund_before_settlement_is_refused_with_a_clear_error(
    bt_gateway: PaymentGateway,
) -> None:
    charge = sale(bt_gateway, reference=_ref())
    with pytest.raises(ChargeNotSettledError) as caught:
        bt_gateway.refund_create(
            account=MERCHANT_ID, charge=charge.id, amount=100, key="k", reference=_ref("re")
        )
    assert caught.value.code == "charge_not_settled"
    assert caught.value.status_code == 409
    assert "cancel" in caught.value.message


def test_a_partial_refund_of_a_settled_sale(bt_gateway: PaymentGateway) -> None:
    charge = _settled_sale(bt_gateway, amount=5000)
    refund = bt_gateway.refund_create(
        account=MERCHANT_ID, charge=charge.id, amount=1500, key="k", reference=(ref := _ref("re"))
    )
    assert (refund.amount, refund.currency, refund.charge_id) == (1500, "usd", charge.id)
    assert refund.status == RefundStatus.PENDING
    assert refund.reference == ref
    settle_through_sdk(bt_gateway, refund.id)
    done = bt_gateway.refund_retrieve(account=MERCHANT_ID, refund=refund.id)
    assert done.status == RefundStatus.SUCCEEDED


def test_refunds_beyond_what_is_left_are_refused(bt_gateway: PaymentGateway) -> None:
    charge = _settled_sale(bt_gateway, amount=3000)
    for _ in range(2):
        bt_gateway.refund_create(
            account=MERCHANT_ID, charge=charge.id, amount=1500, key="k", reference=_ref("re")
        )
    with pytest.raises(RefundAmountError):
        bt_gateway.refund_create(
            account=MERCHANT_ID, charge=charge.id, amount=1, key="k", reference=_ref("re")
        )


def test_refund_find_recovers_a_refund_by_our_reference(bt_gateway: PaymentGateway) -> None:
    charge = _settled_sale(bt_gateway)
    made = bt_gateway.refund_create(
        account=MERCHANT_ID, charge=charge.id, amount=700, key="k", reference=(ref := _ref("re"))
    )
    found = bt_gateway.refund_find(account=MERCHANT_ID, charge=charge.id, reference=ref)
    assert found is not None
    assert found.id == made.id
    assert bt_gateway.refund_find(account=MERCHANT_ID, charge=charge.id, reference="re_x") is None


# --- declines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "decline_code"),
    [
        (200_000, "do_not_honor"),
        (200_100, "insufficient_funds"),
        (200_400, "expired_card"),
        (201_400, "fraudulent"),
        (204_600, "generic_decline"),
    ],
)
def test_documented_amounts_are_declined_with_the_processor_reason(
    bt_gateway: PaymentGateway, amount: int, decline_code: str
) -> None:
    with pytest.raises(CardDeclinedError) as caught:
        sale(bt_gateway, amount=amount, reference=_ref())
    assert caught.value.code == "card_declined"
    assert caught.value.decline_code == decline_code
    assert caught.value.processor_object_id  # the declined transaction, mirrored on our row


def test_a_processor_failure_amount_is_a_processing_error(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(CardDeclinedError) as caught:
        sale(bt_gateway, amount=300_000, reference=_ref())
    assert caught.value.code == "processing_error"


def test_a_declined_card_nonce_is_declined(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(CardDeclinedError) as caught:
        sale(bt_gateway, nonce="fake-processor-declined-visa-nonce", reference=_ref())
    assert caught.value.decline_code == "do_not_honor"


def test_a_gateway_rejection_for_fraud_is_a_decline(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(CardDeclinedError) as caught:
        sale(bt_gateway, nonce="fake-gateway-rejected-fraud-nonce", reference=_ref())
    assert caught.value.decline_code == "fraudulent"


def test_an_invalid_nonce_is_a_request_error_not_a_decline(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(ProcessorRequestError) as caught:
        sale(bt_gateway, nonce="fake-consumed-nonce", reference=_ref())
    assert caught.value.code == "processor_invalid_request"


# --- 3-D Secure ------------------------------------------------------------------------------


def test_three_d_secure_authenticated_nonce_passes_when_required(
    bt_gateway: PaymentGateway, settings: Any
) -> None:
    settings.BRAINTREE_THREE_D_SECURE_REQUIRED = True
    charge = sale(
        bt_gateway,
        nonce="fake-three-d-secure-visa-full-authentication-nonce",
        reference=_ref(),
    )
    assert charge.status == PaymentStatus.SUCCEEDED


def test_three_d_secure_failed_authentication_is_refused_when_required(
    bt_gateway: PaymentGateway, settings: Any
) -> None:
    settings.BRAINTREE_THREE_D_SECURE_REQUIRED = True
    with pytest.raises(CardDeclinedError) as caught:
        sale(
            bt_gateway,
            nonce="fake-three-d-secure-visa-failed-authentication-nonce",
            reference=_ref(),
        )
    assert caught.value.code == "payment_intent_authentication_failure"


def test_a_nonce_without_three_d_secure_is_refused_when_required(
    bt_gateway: PaymentGateway, settings: Any
) -> None:
    settings.BRAINTREE_THREE_D_SECURE_REQUIRED = True
    with pytest.raises(CardDeclinedError):
        sale(bt_gateway, reference=_ref())


# --- find, search, retrieve ------------------------------------------------------------------


def test_charge_find_searches_by_our_order_id(bt_gateway: PaymentGateway) -> None:
    from django.utils import timezone

    made = sale(bt_gateway, reference=(ref := _ref()))
    found = bt_gateway.charge_find(account=MERCHANT_ID, reference=ref, created_since=timezone.now())
    assert found is not None
    assert found.id == made.id
    assert found.reference == ref
    missing = bt_gateway.charge_find(
        account=MERCHANT_ID, reference=_ref(), created_since=timezone.now()
    )
    assert missing is None


def test_charge_retrieve_mirrors_the_transaction(bt_gateway: PaymentGateway) -> None:
    made = sale(bt_gateway, amount=4321, capture=False, reference=_ref())
    again = bt_gateway.charge_retrieve(account=MERCHANT_ID, charge=made.id)
    assert again == made


def test_an_unknown_transaction_is_a_request_error(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(ProcessorRequestError) as caught:
        bt_gateway.charge_retrieve(account=MERCHANT_ID, charge="nosuchtxn")
    assert caught.value.code == "resource_missing"


# --- currencies ------------------------------------------------------------------------------


@pytest.mark.sandbox_only
def test_euros_go_to_the_merchants_euro_account(bt_gateway: PaymentGateway) -> None:
    charge = sale(bt_gateway, amount=999, currency="eur", reference=_ref())
    assert (charge.currency, charge.amount) == ("eur", 999)


@pytest.mark.sandbox_only
def test_a_currency_the_merchant_has_no_account_for_is_refused(
    bt_gateway: PaymentGateway,
) -> None:
    with pytest.raises(ProcessorRequestError) as caught:
        sale(bt_gateway, amount=999, currency="gbp", reference=_ref())
    assert caught.value.code == "currency_not_supported"


# --- customers, checkout, what Braintree does not offer -------------------------------------


@pytest.mark.sandbox_only
def test_customer_ensure_twice_keeps_one_customer_under_our_id(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    ref = _ref("cus")
    first = bt_gateway.customer_ensure(
        account=MERCHANT_ID,
        key="k",
        reference=ref,
        email="a@example.com",
        name="Ada L",
        description="",
    )
    second = bt_gateway.customer_ensure(
        account=MERCHANT_ID,
        key="k",
        reference=ref,
        email="a@example.com",
        name="Ada L",
        description="",
    )
    assert first.id == second.id == ref
    bt_gateway.customer_update(account=MERCHANT_ID, customer=ref, email="b@example.com")
    stored = bt_control.braintree("GET", f"objects/customers/{ref}")
    assert stored["email"] == "b@example.com"
    assert bt_gateway.customer_delete(account=MERCHANT_ID, customer=ref).deleted
    # Erasure must be repeatable: a customer already gone counts as deleted.
    assert bt_gateway.customer_delete(account=MERCHANT_ID, customer=ref).deleted


@pytest.mark.sandbox_only
def test_checkout_config_loads_hosted_fields_from_the_processor_origin(
    bt_gateway: PaymentGateway, sandbox: Any
) -> None:
    config = bt_gateway.checkout_config(account=MERCHANT_ID)
    assert config.processor == "braintree"
    assert config.script_url == f"{sandbox.url}/braintree/web/braintree.js"
    assert config.origins == (sandbox.url,)
    token = json.loads(base64.b64decode(config.publishable_key))
    assert token["version"] == 2
    assert "authorizationFingerprint" in token
    assert "ledgerline_sandbox_private" not in config.publishable_key


def test_bank_debits_and_onboarding_are_refused_as_unsupported(bt_gateway: PaymentGateway) -> None:
    with pytest.raises(ProcessorRequestError) as caught:
        bt_gateway.charge_create(
            account=MERCHANT_ID,
            key="k",
            reference=_ref(),
            amount=100,
            currency="usd",
            method_type="us_bank_account",
            payment_method="x",
            capture_manually=False,
        )
    assert caught.value.code == "processor_operation_unsupported"
    with pytest.raises(ProcessorRequestError):
        bt_gateway.account_create(country="US", email="", key="k")
