"""The disputes pages against the sandbox: deadlines, evidence with documents (checked, sent
once, not kept unless asked), accepting, step-up and roles, and a lost processor answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from accounts.roles import Role
from compliance.models import AuditEntry
from payments import dispute_evidence
from payments.models import Dispute, DisputeEvidenceFile, DisputeStatus
from tests.factories import MerchantFactory, member, verified_client
from tests.form_support import submission_token
from tests.payments.dispute_support import (
    CARD,
    PDF,
    PNG,
    disputed_payment,
    pdf_with_text,
    processor_dispute,
    processor_files,
)
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(merchant, sandbox_control) -> Client:
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


@pytest.fixture
def dispute(merchant, sandbox_control) -> Dispute:
    return disputed_payment(merchant, sandbox_control)


def _detail_url(dispute: Dispute) -> str:
    return reverse("dispute-detail", args=[dispute.public_id])


def _token(client: Client, dispute: Dispute, name: str) -> str:
    page = client.get(_detail_url(dispute))
    assert page.status_code == 200
    return submission_token(page.content.decode(), reverse(name, args=[dispute.public_id]))


def _post_evidence(client: Client, dispute: Dispute, token: str, **fields):
    return client.post(
        reverse("dispute-evidence", args=[dispute.public_id]),
        {"submission_token": token, **fields},
    )


def _messages(response) -> list[str]:
    assert response.status_code == 302, response.status_code
    landed = response.client.get(response["Location"])
    return [str(m) for m in landed.context["messages"]]


def _nothing_happened(dispute: Dispute, sandbox_control) -> None:
    """Nothing reached the processor and nothing was stored or audited."""
    assert processor_files(sandbox_control, dispute) == []
    at_processor = processor_dispute(sandbox_control, dispute)
    assert at_processor["status"] == "needs_response"
    assert at_processor["evidence_details"]["submission_count"] == 0
    assert at_processor["evidence_details"]["has_evidence"] is False
    assert not DisputeEvidenceFile.objects.exists()
    assert not AuditEntry.objects.filter(action="dispute.evidence_submit").exists()
    dispute.refresh_from_db()
    assert dispute.evidence_submitted_at is None


# --- the list -------------------------------------------------------------------------------


def test_list_shows_amount_reason_status_and_deadlines_overdue_in_red(merchant, owner, dispute):
    soon = Dispute.objects.create(
        merchant=merchant,
        payment=PaymentFactory(merchant=merchant),
        amount=1500,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        reason="product_not_received",
        processor_dispute_id="du_soon",
        evidence_due_by=timezone.now() + timedelta(hours=30),
    )
    overdue = Dispute.objects.create(
        merchant=merchant,
        payment=PaymentFactory(merchant=merchant),
        amount=700,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        reason="duplicate",
        processor_dispute_id="du_overdue",
        evidence_due_by=timezone.now() - timedelta(hours=1),
    )
    body = owner.get(reverse("disputes")).content.decode()
    assert "£20.00" in body
    assert "Fraudulent" in body
    assert "Needs response" in body
    assert "Product not received" in body
    assert "Due in 1 day 5 h" in body
    assert '<span class="deadline-overdue">Overdue: evidence was due' in body
    assert "3 disputes await your response." in body
    assert soon.public_id in body
    assert overdue.public_id in body
    filtered = owner.get(reverse("disputes"), {"status": "won"}).content.decode()
    assert "No disputes with this status." in filtered


def test_another_merchants_dispute_is_a_404(dispute, sandbox_control):
    stranger = member(Role.OWNER, MerchantFactory())
    client = verified_client(stranger.user, merchant=stranger.merchant)
    assert client.get(_detail_url(dispute)).status_code == 404
    response = client.post(
        reverse("dispute-accept", args=[dispute.public_id]), {"submission_token": "x"}
    )
    assert response.status_code == 404
    assert processor_dispute(sandbox_control, dispute)["status"] == "needs_response"


# --- submitting evidence --------------------------------------------------------------------


def test_evidence_with_a_document_is_submitted_once_and_not_kept(owner, dispute, sandbox_control):
    token = _token(owner, dispute, "dispute-evidence")
    fields = {
        "product_description": "Hand-made lamp, delivered 3 March",
        "customer_name": "Ada Customer",
        "receipt": SimpleUploadedFile("receipt.pdf", PDF, content_type="application/pdf"),
    }
    response = _post_evidence(owner, dispute, token, **fields)
    assert _messages(response)[0].startswith("Evidence submitted.")
    at_processor = processor_dispute(sandbox_control, dispute)
    assert at_processor["status"] == "under_review"
    assert at_processor["evidence_details"]["submission_count"] == 1
    assert at_processor["evidence"]["product_description"] == "Hand-made lamp, delivered 3 March"
    [uploaded] = processor_files(sandbox_control, dispute)
    assert at_processor["evidence"]["receipt"] == uploaded["id"]
    assert (uploaded["size"], uploaded["type"]) == (len(PDF), "pdf")
    # The processor gets the field's name, never the merchant's file name.
    assert uploaded["filename"] == "receipt.pdf"
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW
    assert dispute.evidence_submitted_at is not None
    [sent] = DisputeEvidenceFile.objects.all()
    assert (sent.field, sent.size, sent.processor_file_id) == ("receipt", len(PDF), uploaded["id"])
    assert sent.content is None
    [entry] = AuditEntry.objects.filter(action="dispute.evidence_submit")
    assert entry.payload["text_fields"] == ["customer_name", "product_description"]
    assert entry.payload["files"] == [{"field": "receipt", "type": "pdf", "size": len(PDF)}]
    assert entry.payload["step_up"] is True
    assert "Ada" not in str(entry.payload)
    assert "lamp" not in str(entry.payload)
    # A double click or the back button posts the same token: the first outcome, replayed.
    fields["receipt"] = SimpleUploadedFile("receipt.pdf", PDF, content_type="application/pdf")
    again = _post_evidence(owner, dispute, token, **fields)
    assert _messages(again)[0].startswith("Evidence submitted.")
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["submission_count"] == 1
    assert len(processor_files(sandbox_control, dispute)) == 1
    assert AuditEntry.objects.filter(action="dispute.evidence_submit").count() == 1
    # Submitted: the page no longer offers the form.
    assert b"Submit evidence" not in owner.get(_detail_url(dispute)).content


def test_a_kept_copy_is_stored_and_downloadable_by_its_merchant_only(
    owner, dispute, sandbox_control
):
    token = _token(owner, dispute, "dispute-evidence")
    response = _post_evidence(
        owner,
        dispute,
        token,
        customer_communication=SimpleUploadedFile("mail.png", PNG, content_type="image/png"),
        keep_copy="on",
    )
    assert _messages(response)[0].startswith("Evidence submitted.")
    [kept] = DisputeEvidenceFile.objects.all()
    assert bytes(kept.content) == PNG
    url = reverse("dispute-file", args=[dispute.public_id, kept.public_id])
    download = owner.get(url)
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content == PNG
    stranger = member(Role.OWNER, MerchantFactory())
    other = verified_client(stranger.user, merchant=stranger.merchant)
    assert other.get(url).status_code == 404


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"uncategorized_text": f"Card used: {CARD}"},
            "This looks like a card number.",
        ),
        (
            {"receipt": SimpleUploadedFile("receipt.pdf", b"GIF89a" + b"\x00" * 20)},
            "Receipt: the file must be a PDF, PNG or JPEG document.",
        ),
        (
            {"receipt": SimpleUploadedFile("notes.pdf", b"just some text, named .pdf")},
            "Receipt: the file must be a PDF, PNG or JPEG document.",
        ),
        (
            {"receipt": SimpleUploadedFile("scan.pdf", pdf_with_text(CARD, compressed=True))},
            "Receipt: the document contains what looks like a card number.",
        ),
        (
            {"receipt": SimpleUploadedFile("scan.pdf", pdf_with_text(CARD, compressed=False))},
            "Receipt: the document contains what looks like a card number.",
        ),
        (
            {
                "receipt": SimpleUploadedFile(
                    "huge.pdf", PDF + b"0" * dispute_evidence.MAX_FILE_BYTES
                )
            },
            "The file is larger than 4.5 MB.",
        ),
        (
            {
                "receipt": SimpleUploadedFile("a.pdf", PDF + b" " * 3_000_000),
                "refund_policy": SimpleUploadedFile("b.pdf", PDF + b" " * 3_000_000),
            },
            "The documents add up to more than 4.5 MB",
        ),
        ({}, "Give at least one piece of evidence"),
    ],
    ids=[
        "card-in-text",
        "gif",
        "text-named-pdf",
        "card-in-compressed-pdf",
        "card-in-plain-pdf",
        "oversize",
        "total-oversize",
        "empty",
    ],
)
def test_bad_evidence_is_a_clear_error_with_nothing_sent_or_stored(
    owner, dispute, sandbox_control, fields, error
):
    token = _token(owner, dispute, "dispute-evidence")
    response = _post_evidence(owner, dispute, token, **fields)
    assert response.status_code == 400
    body = response.content.decode()
    assert error in body
    assert "4242 4242" not in body.replace(f"value={CARD!r}", "")  # never echoed in an error
    _nothing_happened(dispute, sandbox_control)
    # The same form (its token kept) still submits once the input is fixed.
    fixed = _post_evidence(owner, dispute, token, product_description="A lamp")
    assert _messages(fixed)[0].startswith("Evidence submitted.")


def test_evidence_whose_answer_is_lost_after_the_processor_acted_is_submitted_once(
    owner, dispute, sandbox_control
):
    token = _token(owner, dispute, "dispute-evidence")
    sandbox_control.fault(
        kind="error_500_after", method="POST", path=f"/v1/disputes/{dispute.processor_dispute_id}"
    )
    document = {"receipt": SimpleUploadedFile("r.pdf", PDF)}
    first = _post_evidence(owner, dispute, token, product_description="A lamp", **document)
    assert "did not answer in time" in _messages(first)[0]
    at_processor = processor_dispute(sandbox_control, dispute)
    assert at_processor["evidence_details"]["submission_count"] == 1  # it did act
    dispute.refresh_from_db()
    assert dispute.evidence_submitted_at is None
    # The page shows the same token again: the person presses the button once more.
    assert _token(owner, dispute, "dispute-evidence") == token
    document = {"receipt": SimpleUploadedFile("r.pdf", PDF)}
    retry = _post_evidence(owner, dispute, token, product_description="A lamp", **document)
    assert _messages(retry)[0].startswith("Evidence submitted.")
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["submission_count"] == 1
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW
    [entry] = AuditEntry.objects.filter(action="dispute.evidence_submit")
    assert entry.payload["recovered"] is True


def test_accepting_closes_the_dispute_as_lost_once(owner, dispute, sandbox_control):
    url = reverse("dispute-accept", args=[dispute.public_id])
    token = _token(owner, dispute, "dispute-accept")
    assert _messages(owner.post(url, {"submission_token": token})) == [
        "Dispute accepted: it is closed as lost."
    ]
    assert processor_dispute(sandbox_control, dispute)["status"] == "lost"
    dispute.refresh_from_db()
    assert (dispute.status, dispute.accepted_at is not None) == (DisputeStatus.LOST, True)
    assert _messages(owner.post(url, {"submission_token": token})) == [
        "Dispute accepted: it is closed as lost."
    ]
    [entry] = AuditEntry.objects.filter(action="dispute.accept")
    assert entry.payload["step_up"] is True


# --- step-up and roles ----------------------------------------------------------------------


def test_without_a_fresh_code_the_form_is_not_shown_and_a_post_sends_nothing(
    merchant, dispute, sandbox_control
):
    client = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    token = _token(client, dispute, "dispute-evidence")
    session = client.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(hours=1)).isoformat()
    session.save()
    page = client.get(_detail_url(dispute)).content.decode()
    assert "Confirm it's you to respond" in page
    assert "Submit evidence" not in page
    response = _post_evidence(client, dispute, token, product_description="A lamp")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:step_up"))
    accept = client.post(
        reverse("dispute-accept", args=[dispute.public_id]), {"submission_token": token}
    )
    assert accept["Location"].startswith(reverse("accounts:step_up"))
    _nothing_happened(dispute, sandbox_control)


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.ANALYST, Role.VIEWER])
def test_roles_other_than_owner_and_admin_may_look_but_not_answer(
    merchant, dispute, sandbox_control, role
):
    client = verified_client(member(role, merchant).user, merchant=merchant)
    page = client.get(_detail_url(dispute))
    assert page.status_code == 200
    assert b"Submit evidence" not in page.content
    assert b"An owner or admin can submit evidence" in page.content
    response = _post_evidence(client, dispute, "forged", product_description="A lamp")
    assert response.status_code == 403
    accept = client.post(reverse("dispute-accept", args=[dispute.public_id]), {})
    assert accept.status_code == 403
    _nothing_happened(dispute, sandbox_control)


def test_an_admin_may_answer(merchant, dispute, sandbox_control):
    client = verified_client(member(Role.ADMIN, merchant).user, merchant=merchant)
    token = _token(client, dispute, "dispute-evidence")
    response = _post_evidence(client, dispute, token, uncategorized_text="winning_evidence")
    assert _messages(response)[0].startswith("Evidence submitted.")
