"""BraintreeGateway against the sandbox's Braintree through the unmodified SDK: the
PaymentGateway protocol's verbs, statuses mapped to Ledgerline's, refusals to its errors."""

from __future__ import annotations

import uuid

import pytest

from payments.gateways.base import PaymentGateway
from payments.state import PaymentStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, sale, sandbox_transaction, settle


def _ref() -> str:
    return f"pay_{uuid.uuid4().hex[:20]}"


def test_a_sale_with_a_valid_nonce_is_captured_at_once(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, amount=1234, reference=(ref := _ref()))
    assert charge.status == PaymentStatus.SUCCEEDED
    assert (charge.amount, charge.amount_received, charge.currency) == (1234, 1234, "usd")
    assert charge.reference == ref
    assert charge.card is not None and charge.card.last4 == "1111"
    assert sandbox_transaction(bt_control, charge.id)["status"] == "submitted_for_settlement"
