"""The stand-in's two merchants are kept apart as Braintree keeps merchants apart: each one's
keys reach only its own objects, each has its own merchant accounts (the demo one settles
GBP), and each one's notifications are signed with its own keys."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from decimal import Decimal

import braintree
import pytest
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.invalid_signature_error import InvalidSignatureError
from braintree.exceptions.not_found_error import NotFoundError

from sandbox.braintree.provider import DEMO_MERCHANT_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY
from sandbox.server import start_in_thread
from tests.sandbox.braintree.conftest import MERCHANT_ID, form, make_gateway

SALE = {
    "amount": "10.00",
    "payment_method_nonce": "fake-valid-nonce",
    "options": {"submit_for_settlement": True},
}


def _demo(sandbox) -> braintree.BraintreeGateway:
    return make_gateway(
        sandbox,
        merchant_id=DEMO_MERCHANT_ID,
        public_key=DEMO_PUBLIC_KEY,
        private_key=DEMO_PRIVATE_KEY,
    )


def test_the_demo_merchant_takes_a_gbp_sale_on_its_gbp_merchant_account(sandbox):
    result = _demo(sandbox).transaction.sale(
        {**SALE, "amount": "12.50", "merchant_account_id": f"{DEMO_MERCHANT_ID}_gbp"}
    )
    assert result.is_success, getattr(result, "message", result)
    txn = result.transaction
    assert (txn.currency_iso_code, txn.amount) == ("GBP", Decimal("12.50"))
    assert txn.merchant_account_id == f"{DEMO_MERCHANT_ID}_gbp"
    assert txn.status == braintree.Transaction.Status.SubmittedForSettlement
    found = _demo(sandbox).transaction.find(txn.id)
    assert (found.id, found.currency_iso_code) == (txn.id, "GBP")


def test_each_merchant_has_only_its_own_merchant_accounts(sandbox):
    default_gbp = make_gateway(sandbox).transaction.sale(
        {**SALE, "merchant_account_id": f"{MERCHANT_ID}_gbp"}
    )
    assert not default_gbp.is_success
    # Braintree's 91513 "Merchant account ID is invalid."
    assert [error.code for error in default_gbp.errors.deep_errors] == ["91513"]
    assert make_gateway(sandbox).transaction.sale(SALE).transaction.currency_iso_code == "USD"
    other = _demo(sandbox).transaction.sale({**SALE, "merchant_account_id": MERCHANT_ID})
    assert [error.code for error in other.errors.deep_errors] == ["91513"]
    assert sandbox.control.state()["braintree"]["objects"]["transactions"] == 1


def test_one_merchants_keys_cannot_read_the_other_merchants_transactions(sandbox):
    default_txn = make_gateway(sandbox).transaction.sale(SALE).transaction
    demo_txn = _demo(sandbox).transaction.sale(SALE).transaction
    # The demo keys on the default merchant's path (and back): another merchant's.
    with pytest.raises(AuthorizationError):
        make_gateway(
            sandbox,
            merchant_id=MERCHANT_ID,
            public_key=DEMO_PUBLIC_KEY,
            private_key=DEMO_PRIVATE_KEY,
        ).transaction.find(default_txn.id)
    with pytest.raises(AuthorizationError):
        make_gateway(sandbox, merchant_id=DEMO_MERCHANT_ID).transaction.find(demo_txn.id)
    # On its own path each merchant finds only its own objects, in search too.
    with pytest.raises(NotFoundError):
        _demo(sandbox).transaction.find(default_txn.id)
    with pytest.raises(NotFoundError):
        make_gateway(sandbox).transaction.find(demo_txn.id)
    assert [
        t.id
        for t in _demo(sandbox)
        .transaction.search(braintree.TransactionSearch.amount.between("0.01", "100.00"))
        .items
    ] == [demo_txn.id]
    # Mixing one merchant's public key with the other's private key is no key at all.
    with pytest.raises(AuthenticationError):
        make_gateway(
            sandbox, merchant_id=DEMO_MERCHANT_ID, private_key=DEMO_PRIVATE_KEY
        ).transaction.find(demo_txn.id)
    state = sandbox.control.state()["braintree"]
    assert state["merchants"][MERCHANT_ID]["objects"]["transactions"] == 1
    assert state["merchants"][DEMO_MERCHANT_ID]["objects"]["transactions"] == 1


def test_each_merchants_notifications_are_signed_with_its_own_keys(receiver):
    with start_in_thread(port=0, braintree_webhook_url=receiver.url) as sandbox:
        demo = _demo(sandbox)
        txn = demo.transaction.sale(
            {**SALE, "merchant_account_id": f"{DEMO_MERCHANT_ID}_gbp"}
        ).transaction
        demo.testing.settle_transaction(txn.id)
        assert sandbox.control.wait_for_webhooks(10)
        signature, payload = form(receiver.received[0].body)
        assert signature.startswith(f"{DEMO_PUBLIC_KEY}|")
        note = demo.webhook_notification.parse(signature, payload)
        assert (note.kind, note.transaction.id) == ("transaction_settled", txn.id)
        assert note.transaction.currency_iso_code == "GBP"
        with pytest.raises(InvalidSignatureError):
            make_gateway(sandbox).webhook_notification.parse(signature, payload)
        notes = sandbox.control.request("GET", "braintree/notifications")["notifications"]
        assert [(n["merchant_id"], n["subject_id"]) for n in notes] == [(DEMO_MERCHANT_ID, txn.id)]


def test_both_merchants_objects_survive_a_restart_from_the_state_file(tmp_path):
    state_file = tmp_path / "state.json"
    with start_in_thread(port=0, state_file=str(state_file)) as first:
        demo_txn = _demo(first).transaction.sale(SALE).transaction
        default_txn = make_gateway(first).transaction.sale(SALE).transaction
    with start_in_thread(port=0, state_file=str(state_file)) as second:
        assert _demo(second).transaction.find(demo_txn.id).id == demo_txn.id
        assert make_gateway(second).transaction.find(default_txn.id).id == default_txn.id
        with pytest.raises(NotFoundError):
            _demo(second).transaction.find(default_txn.id)


def test_a_state_file_from_the_one_merchant_sandbox_restores_into_the_default_merchant(sandbox):
    txn = make_gateway(sandbox).transaction.sale(SALE).transaction
    provider = sandbox.sandbox.braintree
    saved_before_two_merchants = {"store": provider.store.snapshot()}
    provider.reset()
    provider.restore(saved_before_two_merchants)
    assert make_gateway(sandbox).transaction.find(txn.id).id == txn.id
    with pytest.raises(NotFoundError):
        _demo(sandbox).transaction.find(txn.id)


def _tokenize(client_token: str, number: str = "4111111111111111") -> tuple[int, dict]:
    """What the hosted card form does: post the card to the client API the token names."""
    token = json.loads(base64.b64decode(client_token))
    request = urllib.request.Request(  # noqa: S310 (the sandbox's http URL)
        f"{token['clientApiUrl']}/v1/payment_methods/credit_cards",
        data=json.dumps(
            {
                "authorizationFingerprint": token["authorizationFingerprint"],
                "creditCard": {"number": number, "expirationDate": "12/2031"},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the sandbox's http URL)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_card_form_makes_nonces_only_the_demo_merchant_can_charge(sandbox):
    demo = _demo(sandbox)
    client_token = demo.client_token.generate({"merchant_account_id": f"{DEMO_MERCHANT_ID}_gbp"})
    assert json.loads(base64.b64decode(client_token))["merchantId"] == DEMO_MERCHANT_ID
    status, body = _tokenize(client_token)
    assert status == 201, body
    nonce = body["creditCards"][0]["nonce"]
    refused = make_gateway(sandbox).transaction.sale({**SALE, "payment_method_nonce": nonce})
    assert not refused.is_success
    sale = demo.transaction.sale(
        {**SALE, "payment_method_nonce": nonce, "merchant_account_id": f"{DEMO_MERCHANT_ID}_gbp"}
    )
    assert sale.is_success, getattr(sale, "message", sale)
    assert sale.transaction.credit_card_details.last_4 == "1111"
    # The default merchant's client token authorises nothing on the demo merchant's client API.
    default_token = json.loads(base64.b64decode(make_gateway(sandbox).client_token.generate()))
    default_token["clientApiUrl"] = default_token["clientApiUrl"].replace(
        MERCHANT_ID, DEMO_MERCHANT_ID
    )
    forged = base64.b64encode(json.dumps(default_token).encode()).decode()
    assert _tokenize(forged)[0] == 401
