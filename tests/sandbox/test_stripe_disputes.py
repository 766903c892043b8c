"""The Stripe stand-in's disputes and files, driven by the official SDK: uploads with Stripe's
type and size limits, evidence staged and submitted, the deadline and the decision on the
sandbox clock, and the dispute's balance transactions."""

from __future__ import annotations

import io
import urllib.request

import pytest
import stripe

from sandbox.stripe.resources.disputes import DISPUTE_FEE
from tests.sandbox.conformance import assert_conforms
from tests.sandbox.conftest import SANDBOX_KEY, make_client
from tests.sandbox.money_support import balance, connected, days, pay

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def files_client(sandbox):
    return make_client(sandbox.url)


def _upload(client, options, content: bytes, name: str = "receipt.pdf", purpose="dispute_evidence"):
    handle = io.BytesIO(content)
    handle.name = f"/home/merchant/{name}"
    return client.v1.files.create(params={"purpose": purpose, "file": handle}, options=options)


def _disputed(sandbox, client, amount: int = 10_000):
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pi = pay(client, options, amount, pm="pm_card_createDispute")
    charge = client.v1.charges.retrieve(str(pi.latest_charge), options=options)
    return options, client.v1.disputes.retrieve(str(charge.dispute), options=options)


# --- files -----------------------------------------------------------------------------------
def test_upload_keeps_name_type_and_bytes(sandbox, files_client):
    options = connected(files_client)
    uploaded = _upload(files_client, options, PDF)
    assert_conforms(uploaded)
    assert (uploaded.purpose, uploaded.type, uploaded.size) == ("dispute_evidence", "pdf", len(PDF))
    assert uploaded.filename == "receipt.pdf"
    assert uploaded.id.startswith("file_")
    assert uploaded.expires_at is not None
    assert uploaded.expires_at > uploaded.created
    fetched = files_client.v1.files.retrieve(uploaded.id, options=options)
    assert fetched.id == uploaded.id
    listed = files_client.v1.files.list(params={"purpose": "dispute_evidence"}, options=options)
    assert_conforms(listed, stripe.File)
    assert [f.id for f in listed.data] == [uploaded.id]
    request = urllib.request.Request(  # noqa: S310
        str(uploaded.url),
        headers={
            "Authorization": f"Bearer {SANDBOX_KEY}",
            "Stripe-Account": options["stripe_account"],
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/pdf"
        assert answer.read() == PDF


@pytest.mark.parametrize(
    ("content", "purpose"),
    [
        (b"GIF89a....", "dispute_evidence"),
        (b"just text", "dispute_evidence"),
        (b"", "dispute_evidence"),
        (b"%PDF-1.4", "business_logo"),
    ],
)
def test_upload_of_an_unsupported_type_is_refused(sandbox, files_client, content, purpose):
    options = connected(files_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _upload(files_client, options, content, purpose=purpose)
    assert caught.value.param == "file"
    assert "mimetypes" in str(caught.value.user_message)
    assert files_client.v1.files.list(options=options).data == []


def test_upload_over_the_purpose_limit_is_refused(sandbox, files_client):
    options = connected(files_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _upload(files_client, options, PDF + b"0" * (5 * 1024 * 1024))
    assert caught.value.param == "file"
    assert "too large" in str(caught.value.user_message)


def test_a_form_field_is_not_a_file(sandbox):
    client = make_client(sandbox.url)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.files.create(params={"purpose": "dispute_evidence", "file": "not-a-file"})
    assert caught.value.param == "file"


# --- disputes --------------------------------------------------------------------------------
def test_dispute_withdraws_amount_and_fee_at_once(sandbox):
    client = make_client(sandbox.url)
    options, dispute = _disputed(sandbox, client)
    assert_conforms(dispute)
    (txn,) = dispute.balance_transactions
    assert (txn.type, txn.reporting_category) == ("adjustment", "dispute")
    assert (txn.amount, txn.fee, txn.net, txn.status) == (-10_000, 1_500, -11_500, "available")
    assert dispute.evidence_details.due_by == dispute.created + 7 * 24 * 3600
    assert balance(client, options)["available"] == {"usd": -11_500}


def test_evidence_with_a_file_submitted_wins_and_reinstates_funds(hooked):
    handle, receiver = hooked
    client = stripe.StripeClient(
        SANDBOX_KEY, base_addresses={"api": handle.url, "files": handle.url}
    )
    options, dispute = _disputed(handle, client)
    receipt = _upload(client, options, PNG, "receipt.png")
    staged = client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"receipt": receipt.id, "product_description": "A lamp"}},
        options=options,
    )
    assert_conforms(staged)
    assert staged.status == "needs_response"
    assert staged.evidence_details.has_evidence is True
    submitted = client.v1.disputes.update(dispute.id, params={"submit": True}, options=options)
    assert submitted.status == "under_review"
    assert submitted.evidence_details.submission_count == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.update(
            dispute.id, params={"evidence": {"uncategorized_text": "more"}}, options=options
        )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.close(dispute.id, options=options)
    days(handle, 3)
    won = client.v1.disputes.retrieve(dispute.id, options=options)
    assert won.status == "won"
    back = won.balance_transactions[-1]
    assert (back.amount, back.fee, back.net) == (10_000, -DISPUTE_FEE, 10_000 + DISPUTE_FEE)
    assert back.reporting_category == "dispute_reversal"
    # What remains is the charge's own net, available by now: the dispute cost nothing.
    assert balance(client, options)["available"] == {"usd": 9_680}
    assert handle.control.wait_for_webhooks(10)
    types = [e["type"] for e in receiver.events() if e["data"]["object"].get("id") == dispute.id]
    assert types[-2:] == ["charge.dispute.funds_reinstated", "charge.dispute.closed"]


@pytest.mark.parametrize(
    ("text", "status"),
    [("winning_evidence", "won"), ("losing_evidence", "lost"), ("it was shipped", "lost")],
)
def test_the_test_rule_decides_text_evidence(sandbox, text, status):
    client = make_client(sandbox.url)
    options, dispute = _disputed(sandbox, client)
    client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"uncategorized_text": text}, "submit": True},
        options=options,
    )
    days(sandbox, 2)
    assert client.v1.disputes.retrieve(dispute.id, options=options).status == "under_review"
    days(sandbox, 1)
    assert client.v1.disputes.retrieve(dispute.id, options=options).status == status


def test_missing_the_deadline_loses_the_dispute(sandbox):
    client = make_client(sandbox.url)
    options, dispute = _disputed(sandbox, client)
    client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "draft"}}, options=options
    )
    days(sandbox, 8)
    lost = client.v1.disputes.retrieve(dispute.id, options=options)
    assert (lost.status, lost.evidence_details.past_due) == ("lost", True)
    assert lost.evidence_details.submission_count == 0


def test_closing_accepts_the_dispute(sandbox):
    client = make_client(sandbox.url)
    options, dispute = _disputed(sandbox, client)
    closed = client.v1.disputes.close(dispute.id, options=options)
    assert closed.status == "lost"
    assert len(closed.balance_transactions) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.update(dispute.id, params={"submit": True}, options=options)


def test_evidence_must_name_this_accounts_dispute_evidence_files(sandbox, files_client):
    options, dispute = _disputed(sandbox, files_client)
    elsewhere = _upload(files_client, connected(files_client), PDF)
    logo = _upload(files_client, options, PNG, purpose="business_logo")
    for file_id in (elsewhere.id, logo.id, "file_missing"):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            files_client.v1.disputes.update(
                dispute.id, params={"evidence": {"receipt": file_id}}, options=options
            )
        assert caught.value.param == "evidence[receipt]"
    unchanged = files_client.v1.disputes.retrieve(dispute.id, options=options)
    assert unchanged.evidence.receipt is None
    assert unchanged.evidence_details.has_evidence is False


def test_evidence_files_over_the_combined_limit_are_refused(sandbox, files_client):
    options, dispute = _disputed(sandbox, files_client)
    big = [_upload(files_client, options, PDF + b"0" * 2_500_000) for _ in range(2)]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        files_client.v1.disputes.update(
            dispute.id,
            params={"evidence": {"receipt": big[0].id, "shipping_documentation": big[1].id}},
            options=options,
        )
    assert "total size" in str(caught.value.user_message)


def test_evidence_text_is_limited_and_unknown_fields_refused(sandbox):
    client = make_client(sandbox.url)
    options, dispute = _disputed(sandbox, client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.disputes.update(
            dispute.id, params={"evidence": {"uncategorized_text": "x" * 20_001}}, options=options
        )
    assert caught.value.param == "evidence[uncategorized_text]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.disputes.update(dispute.id, params={"evidence": {"mood": "sad"}}, options=options)
    assert caught.value.code == "parameter_unknown"


def test_a_partly_refunded_charge_is_disputed_for_the_rest(sandbox):
    client = make_client(sandbox.url)
    options = connected(client)
    pi = pay(client, options, 10_000)
    client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 4_000}, options=options)
    dispute = sandbox.control.stripe_action("charges", str(pi.latest_charge), "dispute", {})
    assert dispute["amount"] == 6_000
