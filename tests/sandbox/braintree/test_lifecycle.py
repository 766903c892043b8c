"""The sandbox's own Braintree behaviour (control API and clock): settlement on the clock,
settlement amounts, authorization expiry, disputes, disbursements."""

from __future__ import annotations

import pytest
from braintree import ErrorCodes, Transaction
from braintree.exceptions.not_found_error import NotFoundError

from sandbox.client import ControlAPIError
from tests.sandbox.braintree.conftest import make_gateway

Status = Transaction.Status
HOUR = 3600
DAY = 86_400


@pytest.fixture
def gw(sandbox):
    return make_gateway(sandbox)


def _submitted(gw, amount="10.00", nonce="fake-valid-nonce"):
    result = gw.transaction.sale(
        {
            "amount": amount,
            "payment_method_nonce": nonce,
            "options": {"submit_for_settlement": True},
        }
    )
    assert result.is_success
    return result.transaction


def test_submitted_sale_settles_on_the_sandbox_clock(sandbox, gw):
    txn = _submitted(gw)
    sandbox.control.advance_clock(HOUR)
    assert gw.transaction.find(txn.id).status == Status.Settling
    sandbox.control.advance_clock(DAY)
    settled = gw.transaction.find(txn.id)
    assert settled.status == Status.Settled
    assert [e.status for e in settled.status_history] == [
        Status.Authorized,
        Status.SubmittedForSettlement,
        Status.Settling,
        Status.Settled,
    ]
    assert gw.transaction.refund(txn.id).is_success


def test_tick_applies_due_settlement_without_an_api_call(sandbox, gw):
    txn = _submitted(gw)
    sandbox.control.advance_clock(2 * DAY)
    changed = sandbox.control.request("POST", "braintree/tick")["changed"]
    assert txn.id in changed
    assert sandbox.sandbox.braintree.store.transactions[txn.id]["status"] == "settled"


def test_settling_sale_may_be_refunded_but_not_voided(sandbox, gw):
    txn = _submitted(gw)
    sandbox.control.advance_clock(HOUR)
    assert (
        gw.transaction.void(txn.id).errors.deep_errors[0].code
        == ErrorCodes.Transaction.CannotBeVoided
    )
    assert gw.transaction.refund(txn.id, "1.00").is_success


def test_amount_4001_is_declined_at_settlement(sandbox, gw):
    txn = _submitted(gw, "4001.00")
    sandbox.control.advance_clock(2 * DAY)
    assert gw.transaction.find(txn.id).status == Status.SettlementDeclined


def test_amount_4002_stays_settlement_pending(sandbox, gw):
    txn = _submitted(gw, "4002.00")
    sandbox.control.advance_clock(2 * DAY)
    assert gw.transaction.find(txn.id).status == Status.SettlementPending
    assert gw.transaction.void(txn.id).is_success


def test_authorization_expires_after_a_week(sandbox, gw):
    txn = gw.transaction.sale(
        {"amount": "5.00", "payment_method_nonce": "fake-valid-nonce"}
    ).transaction
    sandbox.control.advance_clock(7 * DAY + 1)
    assert gw.transaction.find(txn.id).status == Status.AuthorizationExpired
    result = gw.transaction.submit_for_settlement(txn.id)
    assert result.errors.deep_errors[0].code == ErrorCodes.Transaction.CannotSubmitForSettlement


def test_dispute_test_card_opens_a_dispute_at_settlement(sandbox, gw):
    txn = gw.transaction.sale(
        {
            "amount": "80.00",
            "credit_card": {"number": "4023898493988028", "expiration_date": "12/2030"},
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    settled = gw.testing.settle_transaction(txn.id).transaction
    assert len(settled.disputes) == 1
    dispute = gw.dispute.find(settled.disputes[0].id)
    assert (dispute.status, dispute.amount_disputed, dispute.transaction.id) == ("open", 80, txn.id)


def _dispute(sandbox, gw):
    txn = _submitted(gw, "25.00")
    gw.testing.settle_transaction(txn.id)
    sandbox.control.request("POST", f"braintree/transactions/{txn.id}/dispute", {})
    return gw.transaction.find(txn.id).disputes[0].id


def test_accepting_a_dispute_closes_it(sandbox, gw):
    dispute_id = _dispute(sandbox, gw)
    assert gw.dispute.accept(dispute_id).is_success
    assert gw.dispute.find(dispute_id).status == "accepted"
    again = gw.dispute.accept(dispute_id)
    assert again.errors.deep_errors[0].code == ErrorCodes.Dispute.CanOnlyAcceptOpenDispute


def test_text_evidence_and_finalize_win_with_compelling_evidence(sandbox, gw):
    dispute_id = _dispute(sandbox, gw)
    added = gw.dispute.add_text_evidence(dispute_id, "compelling_evidence")
    assert added.is_success
    assert added.evidence.comment == "compelling_evidence"
    assert gw.dispute.finalize(dispute_id).is_success
    dispute = gw.dispute.find(dispute_id)
    assert dispute.status == "won"
    assert [h.status for h in dispute.status_history] == ["open", "disputed", "won"]
    late = gw.dispute.add_text_evidence(dispute_id, "more")
    assert late.errors.deep_errors[0].code == ErrorCodes.Dispute.CanOnlyAddEvidenceToOpenDispute


def test_disputed_case_is_decided_through_the_control_api(sandbox, gw):
    dispute_id = _dispute(sandbox, gw)
    gw.dispute.add_text_evidence(dispute_id, "receipt and tracking number")
    gw.dispute.finalize(dispute_id)
    assert gw.dispute.find(dispute_id).status == "disputed"
    sandbox.control.request("POST", f"braintree/disputes/{dispute_id}/resolve", {"outcome": "lost"})
    assert gw.dispute.find(dispute_id).status == "lost"
    with pytest.raises(ControlAPIError):
        sandbox.control.request(
            "POST", f"braintree/disputes/{dispute_id}/resolve", {"outcome": "won"}
        )


def test_dispute_search_by_status(sandbox, gw):
    from braintree import DisputeSearch

    first = _dispute(sandbox, gw)
    second = _dispute(sandbox, gw)
    gw.dispute.accept(second)
    found = gw.dispute.search(DisputeSearch.status.in_list(["open"])).disputes
    assert [d.id for d in found.items] == [first]


def test_unknown_dispute_is_not_found(gw):
    with pytest.raises(NotFoundError):
        gw.dispute.find("nosuchdispute")


def test_disbursement_pays_out_settled_sales_net_of_refunds(sandbox, gw):
    sale = _submitted(gw, "30.00")
    gw.testing.settle_transaction(sale.id)
    refund = gw.transaction.refund(sale.id, "5.00").transaction
    gw.testing.settle_transaction(refund.id)
    created = sandbox.control.request("POST", "braintree/disbursements", {})["disbursements"]
    assert len(created) == 1
    record = sandbox.control.request("GET", f"braintree/objects/disbursements/{created[0]}")
    assert record["amount_cents"] == 2500
    assert gw.transaction.find(sale.id).disbursement_details.disbursement_date is not None


def test_settled_sales_are_disbursed_a_day_later_on_the_clock(sandbox, gw):
    sale = _submitted(gw)
    gw.testing.settle_transaction(sale.id)
    assert not gw.transaction.find(sale.id).is_disbursed
    sandbox.control.advance_clock(DAY + 1)
    assert gw.transaction.find(sale.id).is_disbursed


def test_state_file_keeps_transactions_across_restarts(tmp_path):
    from sandbox.server import start_in_thread

    state = tmp_path / "sandbox.json"
    with start_in_thread(state_file=state) as first:
        txn = (
            make_gateway(first)
            .transaction.sale({"amount": "9.00", "payment_method_nonce": "fake-valid-nonce"})
            .transaction
        )
    with start_in_thread(state_file=state) as second:
        assert make_gateway(second).transaction.find(txn.id).amount == 9


def test_sandbox_holds_no_card_number(sandbox, gw):
    gw.transaction.sale(
        {
            "amount": "1.00",
            "credit_card": {"number": "4111111111111111", "expiration_date": "12/30"},
        }
    )
    assert "4111111111111111" not in str(sandbox.sandbox.braintree.store.snapshot())
