"""The sandbox's Braintree dispute evidence through the unmodified SDK: document uploads
(multipart, evidence documents only), file evidence, text categories and their refusals."""

from __future__ import annotations

import io

import pytest
from braintree import DocumentUpload, ErrorCodes

from tests.sandbox.braintree.conftest import make_gateway

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EVIDENCE = DocumentUpload.Kind.EvidenceDocument


@pytest.fixture
def gw(sandbox):
    return make_gateway(sandbox)


def _file(content: bytes, name: str = "receipt.pdf") -> io.BytesIO:
    document = io.BytesIO(content)
    document.name = name  # type: ignore[attr-defined]  # the SDK sends and types it by name
    return document


def _dispute(sandbox, gw) -> str:
    sale = gw.transaction.sale(
        {
            "amount": "25.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    gw.testing.settle_transaction(sale.id)
    sandbox.control.request("POST", f"braintree/transactions/{sale.id}/dispute", {})
    return gw.transaction.find(sale.id).disputes[0].id


def _code(result) -> str:
    return result.errors.deep_errors[0].code


def test_an_evidence_document_is_uploaded_and_attached(sandbox, gw):
    uploaded = gw.document_upload.create({"kind": EVIDENCE, "file": _file(PDF)})
    assert uploaded.is_success
    document = uploaded.document_upload
    assert (document.kind, document.content_type, document.size) == (
        EVIDENCE,
        "application/pdf",
        len(PDF),
    )
    dispute_id = _dispute(sandbox, gw)
    added = gw.dispute.add_file_evidence(dispute_id, document.id)
    assert added.is_success
    assert added.evidence.url
    assert added.evidence.comment is None
    [held] = gw.dispute.find(dispute_id).evidence
    assert held.id == added.evidence.id


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {"kind": "identity_document", "file": _file(PDF)},
            ErrorCodes.DocumentUpload.KindIsInvalid,
        ),
        (
            {"kind": EVIDENCE, "file": _file(b"plain text")},
            ErrorCodes.DocumentUpload.FileTypeIsInvalid,
        ),
        ({"kind": EVIDENCE, "file": _file(b"")}, ErrorCodes.DocumentUpload.FileIsEmpty),
        (
            {"kind": EVIDENCE, "file": _file(PDF + b"\0" * (4 * 1024 * 1024))},
            ErrorCodes.DocumentUpload.FileIsTooLarge,
        ),
    ],
    ids=["kind", "type", "empty", "size"],
)
def test_a_document_braintree_would_not_take_is_refused(gw, params, code):
    result = gw.document_upload.create(params)
    assert not result.is_success
    assert _code(result) == code


def test_text_categories_are_checked_and_given_once(sandbox, gw):
    dispute_id = _dispute(sandbox, gw)
    carrier = {"content": "UPS", "category": "CARRIER_NAME", "sequence_number": 0}
    assert gw.dispute.add_text_evidence(dispute_id, dict(carrier)).is_success
    again = gw.dispute.add_text_evidence(dispute_id, dict(carrier))
    assert _code(again) == ErrorCodes.Dispute.EvidenceCategoryDuplicate
    second = gw.dispute.add_text_evidence(dispute_id, {**carrier, "sequence_number": 1})
    assert second.is_success
    unknown = gw.dispute.add_text_evidence(dispute_id, {"content": "x", "category": "MOOD"})
    assert _code(unknown) == ErrorCodes.Dispute.CanOnlyCreateEvidenceWithValidCategory


def test_file_evidence_needs_an_evidence_upload_and_no_text_category(sandbox, gw):
    dispute_id = _dispute(sandbox, gw)
    missing = gw.dispute.add_file_evidence(dispute_id, "nosuchupload")
    assert _code(missing) == ErrorCodes.Dispute.CanOnlyAddEvidenceDocumentToDispute
    document = gw.document_upload.create({"kind": EVIDENCE, "file": _file(PDF)}).document_upload
    text_only = gw.dispute.add_file_evidence(
        dispute_id, {"document_id": document.id, "category": "PURCHASER_NAME"}
    )
    assert _code(text_only) == ErrorCodes.Dispute.EvidenceCategoryTextOnly
