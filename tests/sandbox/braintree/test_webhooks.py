"""Braintree notifications: form-encoded bt_signature / bt_payload that the SDK verifies."""

from __future__ import annotations

import braintree
import pytest
from braintree import WebhookNotification
from braintree.exceptions.invalid_signature_error import InvalidSignatureError

from tests.sandbox.braintree.conftest import form, make_gateway

Kind = WebhookNotification.Kind


def _parsed(gw, receiver):
    return [gw.webhook_notification.parse(*form(r.body)) for r in receiver.received]


def test_settlement_and_dispute_notifications_are_verified_by_the_sdk(hooked_braintree):
    sandbox, receiver = hooked_braintree
    gw = make_gateway(sandbox)
    txn = gw.transaction.sale(
        {
            "amount": "10.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    gw.testing.settle_transaction(txn.id)
    sandbox.control.request("POST", f"braintree/transactions/{txn.id}/dispute", {})
    dispute_id = gw.transaction.find(txn.id).disputes[0].id
    gw.dispute.add_text_evidence(dispute_id, "losing_evidence")
    gw.dispute.finalize(dispute_id)
    assert sandbox.control.wait_for_webhooks(10)
    notes = _parsed(gw, receiver)
    assert [n.kind for n in notes] == [
        Kind.TransactionSettled,
        Kind.DisputeOpened,
        Kind.DisputeDisputed,
        Kind.DisputeLost,
    ]
    assert notes[0].transaction.id == txn.id
    assert notes[0].transaction.status == braintree.Transaction.Status.Settled
    assert {n.dispute.id for n in notes[1:]} == {dispute_id}
    assert notes[3].dispute.status == "lost"
    headers = receiver.received[0].headers
    assert headers["content-type"] == "application/x-www-form-urlencoded"


def test_settlement_declined_and_disbursement_notifications(hooked_braintree):
    sandbox, receiver = hooked_braintree
    gw = make_gateway(sandbox)
    declined = gw.transaction.sale(
        {
            "amount": "4001.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    gw.testing.settle_transaction(declined.id)
    paid = gw.transaction.sale(
        {
            "amount": "12.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    gw.testing.settle_transaction(paid.id)
    sandbox.control.request("POST", "braintree/disbursements", {})
    assert sandbox.control.wait_for_webhooks(10)
    notes = _parsed(gw, receiver)
    assert [n.kind for n in notes] == [
        Kind.TransactionSettlementDeclined,
        Kind.TransactionSettled,
        Kind.Disbursement,
    ]
    assert notes[2].disbursement.transaction_ids == [paid.id]
    assert notes[2].disbursement.amount == 12


def test_a_signature_under_other_keys_is_refused(hooked_braintree):
    sandbox, receiver = hooked_braintree
    sandbox.control.webhooks(faults={"wrong_secret": True})
    sandbox.control.request("POST", "braintree/webhooks/sample", {"kind": "check", "deliver": True})
    assert sandbox.control.wait_for_webhooks(10)
    with pytest.raises(InvalidSignatureError):
        make_gateway(sandbox).webhook_notification.parse(*form(receiver.received[0].body))


def test_a_gateway_with_other_keys_cannot_verify(sandbox):
    fields = sandbox.control.braintree_sample_notification("check", "x1")
    other = make_gateway(sandbox, private_key="someone_elses_private_key")
    with pytest.raises(InvalidSignatureError):
        other.webhook_notification.parse(fields["bt_signature"], fields["bt_payload"])


@pytest.mark.parametrize(
    "kind",
    [
        Kind.Check,
        Kind.TransactionSettled,
        Kind.TransactionDisbursed,
        Kind.Disbursement,
        Kind.DisputeOpened,
        Kind.DisputeWon,
        Kind.DisputeLost,
    ],
)
def test_sample_notifications_parse_like_webhook_testing(sandbox, kind):
    """Like `WebhookTesting.sample_notification(kind, id)`: any id, signed with the keys."""
    gw = make_gateway(sandbox)
    fields = sandbox.control.request(
        "POST", "braintree/webhooks/sample", {"kind": kind, "id": "abc123"}
    )
    note = gw.webhook_notification.parse(fields["bt_signature"], fields["bt_payload"])
    assert note.kind == kind
    if kind == Kind.Check:
        assert note.subject == {"check": True}
    elif kind.startswith("dispute"):
        assert note.dispute.id == "abc123"
    elif kind == Kind.Disbursement:
        assert note.disbursement.id == "abc123"
    else:
        assert note.transaction.id == "abc123"


def test_sdk_webhook_testing_samples_verify_under_the_same_keys(sandbox):
    """The SDK's own WebhookTesting output verifies under the sandbox keys too (same scheme)."""
    gw = make_gateway(sandbox)
    sample = gw.webhook_testing.sample_notification(Kind.DisputeOpened, "my_id")
    ours = sandbox.control.request(
        "POST", "braintree/webhooks/sample", {"kind": Kind.DisputeOpened, "id": "my_id"}
    )
    assert ours["bt_signature"].split("|")[0] == sample["bt_signature"].split("|")[0]
    assert (
        gw.webhook_notification.parse(sample["bt_signature"], sample["bt_payload"]).dispute.id
        == "my_id"
    )


def test_failed_deliveries_are_recorded_and_retried(hooked_braintree):
    sandbox, receiver = hooked_braintree
    receiver.statuses.extend([404, 404, 404, 404])
    sandbox.control.request("POST", "braintree/webhooks/sample", {"kind": "check", "deliver": True})
    assert sandbox.control.wait_for_webhooks(10)
    outcomes = [d["outcome"] for d in sandbox.control.deliveries()]
    assert outcomes == ["retrying", "retrying", "retrying", "failed"]
    assert (
        sandbox.control.request("GET", "braintree/notifications")["notifications"][0]["kind"]
        == "check"
    )
