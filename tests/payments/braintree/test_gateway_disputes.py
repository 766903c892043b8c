"""BraintreeGateway's dispute verbs (DisputeGateway) against the sandbox's Braintree through
the unmodified SDK: reading a dispute, text and document evidence then finalize, accepting,
a second submission refused, and a lost answer retried without evidence sent twice; then the
services answering a Braintree payment's dispute end to end."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest

from compliance.actors import Actor
from compliance.models import AuditEntry
from payments import services
from payments.dispute_evidence import EvidenceDocument
from payments.disputes import dispute_apply_state
from payments.exceptions import (
    DisputeStateError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
)
from payments.gateways.base import DisputeGateway, DisputeState
from payments.gateways.braintree import resilience as bt_resilience
from payments.models import DisputeEvidenceFile, DisputeStatus, ProcessorAccount
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, sale, settle
from tests.payments.dispute_support import PDF

DISPUTES = f"/merchants/{MERCHANT_ID}/disputes"
TEXT = {
    "customer_name": "Ada Lovelace",
    "shipping_carrier": "UPS",
    "shipping_tracking_number": "1Z999AA10123456784",
    "product_description": "A brass lamp, delivered on 2 March.",
}


@pytest.fixture
def gateway(bt_gateway: Any) -> DisputeGateway:
    assert isinstance(bt_gateway, DisputeGateway)
    return bt_gateway


def _open_dispute(control: SandboxControl, gateway: Any, amount: int = 4200) -> tuple[str, str]:
    """(sale id, dispute id) of a settled sale the cardholder disputes."""
    charge = sale(gateway, amount=amount, reference=f"pay_{uuid.uuid4().hex[:20]}")
    settle(control, charge.id)
    txn = control.braintree("POST", f"transactions/{charge.id}/dispute")
    return charge.id, txn["dispute_ids"][0]


def _sandbox_dispute(control: SandboxControl, dispute_id: str) -> dict[str, Any]:
    return control.braintree("GET", f"objects/disputes/{dispute_id}")


def _upload(gateway: DisputeGateway, content: bytes = PDF) -> str:
    ref = gateway.dispute_evidence_file_upload(
        account=MERCHANT_ID, filename="receipt.pdf", content=io.BytesIO(content), key="k"
    )
    assert (ref.size, ref.type) == (len(content), "pdf")
    return ref.id


def _submit(gateway: DisputeGateway, dispute_id: str, files: dict[str, str]) -> DisputeState:
    return gateway.dispute_evidence_submit(
        account=MERCHANT_ID, dispute=dispute_id, text=TEXT, files=files, key="k"
    )


def test_a_dispute_is_read_in_the_products_words(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    charge_id, dispute_id = _open_dispute(bt_control, gateway, amount=4200)
    state = gateway.dispute_retrieve(account=MERCHANT_ID, dispute=dispute_id)
    assert (state.id, state.status, state.amount, state.currency) == (
        dispute_id,
        DisputeStatus.NEEDS_RESPONSE,
        4200,
        "usd",
    )
    assert (state.charge_id, state.reason, state.submission_count) == (charge_id, "fraud", 0)
    assert state.evidence_due_by is not None


def test_text_and_a_document_are_added_categorized_then_finalized(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    state = _submit(gateway, dispute_id, {"receipt": _upload(gateway)})
    assert (state.status, state.submission_count) == (DisputeStatus.UNDER_REVIEW, 1)
    held = _sandbox_dispute(bt_control, dispute_id)
    assert held["status"] == "disputed"
    text = {(item["category"], item["comment"]) for item in held["evidence"] if item["comment"]}
    assert text == {
        ("PURCHASER_NAME", "Ada Lovelace"),
        ("CARRIER_NAME", "UPS"),
        ("TRACKING_NUMBER", "1Z999AA10123456784"),
        (None, "Product or service description: A brass lamp, delivered on 2 March."),
    }
    paired = {item["category"]: item["sequence_number"] for item in held["evidence"]}
    assert paired["CARRIER_NAME"] == paired["TRACKING_NUMBER"] == 0
    assert sum(1 for item in held["evidence"] if item.get("url")) == 1
    assert all(item.get("sent_to_processor_at") for item in held["evidence"])


def test_the_sandbox_decides_by_the_free_text_and_the_outcome_maps_to_won(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    state = gateway.dispute_evidence_submit(
        account=MERCHANT_ID,
        dispute=dispute_id,
        text={"uncategorized_text": "compelling_evidence"},
        files={},
        key="k",
    )
    assert (state.status, state.submission_count) == (DisputeStatus.WON, 1)


def test_a_second_submission_is_refused(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    _submit(gateway, dispute_id, {})
    with pytest.raises(DisputeStateError):
        _submit(gateway, dispute_id, {})
    assert len(_sandbox_dispute(bt_control, dispute_id)["evidence"]) == len(TEXT)


def test_accepting_loses_the_dispute_and_a_repeat_changes_nothing(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    state = gateway.dispute_accept(account=MERCHANT_ID, dispute=dispute_id, key="k")
    assert (state.status, state.submission_count) == (DisputeStatus.LOST, 0)
    again = gateway.dispute_accept(account=MERCHANT_ID, dispute=dispute_id, key="k")
    assert again.status == DisputeStatus.LOST
    history = [
        entry["status"] for entry in _sandbox_dispute(bt_control, dispute_id)["status_history"]
    ]
    assert history == ["open", "accepted"]


def test_a_lost_accept_answer_is_retried_and_found_accepted(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    bt_control.add_fault("lose_response", method="PUT", path=f"{DISPUTES}/{dispute_id}/accept")
    state = gateway.dispute_accept(account=MERCHANT_ID, dispute=dispute_id, key="k")
    assert state.status == DisputeStatus.LOST


@pytest.mark.parametrize(
    ("method", "step"), [("POST", "evidence"), ("PUT", "finalize")], ids=["evidence", "finalize"]
)
def test_a_lost_answer_is_retried_without_sending_evidence_twice(
    gateway: DisputeGateway, bt_control: SandboxControl, method: str, step: str
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    document = _upload(gateway)
    bt_control.add_fault("lose_response", method=method, path=f"{DISPUTES}/{dispute_id}/{step}")
    state = _submit(gateway, dispute_id, {"receipt": document})
    assert (state.status, state.submission_count) == (DisputeStatus.UNDER_REVIEW, 1)
    held = _sandbox_dispute(bt_control, dispute_id)
    assert len(held["evidence"]) == len(TEXT) + 1
    assert [entry["status"] for entry in held["status_history"]] == ["open", "disputed"]


def test_a_document_braintree_cannot_take_is_a_refusal(gateway: DisputeGateway) -> None:
    """Not a PDF, PNG or JPEG: Braintree's 84903, an answer (nothing was stored)."""
    with pytest.raises(ProcessorRequestError):
        gateway.dispute_evidence_file_upload(
            account=MERCHANT_ID, filename="notes.pdf", content=io.BytesIO(b"plain"), key="k"
        )


# --- through the services --------------------------------------------------------------------


def _mirrored_dispute(
    account: ProcessorAccount, control: SandboxControl, gateway: DisputeGateway
) -> Any:
    """A Braintree payment made through the services, disputed, and the dispute as its
    `dispute_opened` notification records it."""
    payment = services.payment_create(
        merchant=account.merchant,
        actor=None,
        amount=3100,
        currency="usd",
        payment_method="fake-valid-nonce",
    )
    settle(control, payment.processor_payment_id)
    txn = control.braintree("POST", f"transactions/{payment.processor_payment_id}/dispute")
    state = gateway.dispute_retrieve(account=MERCHANT_ID, dispute=txn["dispute_ids"][0])
    return dispute_apply_state(payment=payment, state=state, actor=Actor.webhook("braintree"))


def test_evidence_on_a_braintree_payments_dispute_is_submitted_through_the_services(
    bt_account: ProcessorAccount, bt_control: SandboxControl, gateway: DisputeGateway
) -> None:
    dispute = _mirrored_dispute(bt_account, bt_control, gateway)
    assert dispute.status == DisputeStatus.NEEDS_RESPONSE
    document = EvidenceDocument(field="receipt", filename="r.pdf", content=PDF, type="pdf")
    answered = services.dispute_evidence_submit(
        dispute=dispute,
        actor=Actor.system("tests"),
        request=None,
        text={"product_description": "A lamp"},
        documents=[document],
        keep_copy=False,
        key="form-token-1",
    )
    assert answered.status == DisputeStatus.UNDER_REVIEW
    assert answered.evidence_submitted_at is not None
    [kept] = DisputeEvidenceFile.objects.filter(dispute=answered)
    assert kept.processor_file_id
    assert kept.content is None
    held = _sandbox_dispute(bt_control, dispute.processor_dispute_id)
    assert held["status"] == "disputed"
    assert len(held["evidence"]) == 2


def test_a_services_submission_whose_answers_are_all_lost_is_recorded_once_on_resume(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    gateway: DisputeGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Braintree finalized, but no answer reached us (no attempt left): the form's resubmit
    reads the dispute back and only records it."""
    dispute = _mirrored_dispute(bt_account, bt_control, gateway)
    monkeypatch.setattr(bt_resilience, "MAX_ATTEMPTS", 1)
    path = f"{DISPUTES}/{dispute.processor_dispute_id}/finalize"
    bt_control.add_fault("lose_response", method="PUT", path=path)
    with pytest.raises(ProcessorOutcomeUnknownError):
        services.dispute_evidence_submit(
            dispute=dispute,
            actor=None,
            request=None,
            text={"uncategorized_text": "Delivered."},
            documents=[],
            keep_copy=False,
            key="form-token-2",
        )
    bt_control.clear_faults()
    answered = services.dispute_evidence_submit(
        dispute=dispute,
        actor=None,
        request=None,
        text={"uncategorized_text": "Delivered."},
        documents=[],
        keep_copy=False,
        key="form-token-2",
        resumed=True,
    )
    assert answered.status == DisputeStatus.UNDER_REVIEW
    assert answered.evidence_submitted_at is not None
    assert (
        AuditEntry.objects.filter(
            action="dispute.evidence_submit", target_id=dispute.public_id, payload__recovered=True
        ).count()
        == 1
    )
    held = _sandbox_dispute(bt_control, dispute.processor_dispute_id)
    assert len(held["evidence"]) == 1
    assert [entry["status"] for entry in held["status_history"]] == ["open", "disputed"]


def test_a_lost_answer_to_attaching_a_document_does_not_attach_it_twice(
    gateway: DisputeGateway, bt_control: SandboxControl
) -> None:
    _, dispute_id = _open_dispute(bt_control, gateway)
    receipt, policy = _upload(gateway), _upload(gateway)
    bt_control.add_fault("lose_response", method="POST", path=f"{DISPUTES}/{dispute_id}/evidence")
    state = gateway.dispute_evidence_submit(
        account=MERCHANT_ID,
        dispute=dispute_id,
        text={},
        files={"refund_policy": policy, "receipt": receipt},
        key="k",
    )
    assert state.status == DisputeStatus.UNDER_REVIEW
    held = _sandbox_dispute(bt_control, dispute_id)
    # Attached once each, in the form's order (receipt first).
    assert [item["url"].rsplit("/", 1)[-1] for item in held["evidence"]] == [receipt, policy]
