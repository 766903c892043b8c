"""The disputes API: list and retrieve within the key's merchant, evidence submitted once per
Idempotency-Key (also when the processor's answer is lost), error shapes, hostile input."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from compliance.models import AuditEntry
from payments.models import Dispute, DisputeStatus
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.dispute_support import CARD, disputed_payment, processor_dispute
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db

HOSTILE_CHARACTERS = st.one_of(
    st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "4", " ", "-"])
)


@pytest.fixture
def dispute(merchant, sandbox_control) -> Dispute:
    return disputed_payment(merchant, sandbox_control)


def _evidence_url(dispute: Dispute) -> str:
    return f"/api/v1/disputes/{dispute.public_id}/evidence"


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    if code is not None:
        assert error["code"] == code, error
    return error


def test_list_and_retrieve_within_the_merchant(api, merchant, dispute):
    listed = api.get("/api/v1/disputes")
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert item["id"] == dispute.public_id
    assert item["id"].startswith("dp_")
    assert (item["object"], item["amount"], item["currency"]) == ("dispute", 2000, "gbp")
    assert (item["status"], item["reason"], item["processor"]) == (
        "needs_response",
        "fraudulent",
        "stripe",
    )
    assert item["payment"] == dispute.payment.public_id
    assert item["evidence_due_by"] is not None
    assert item["evidence_submitted_at"] is None
    assert api.get(f"/api/v1/disputes/{dispute.public_id}").json() == item
    assert api.get("/api/v1/disputes", {"status": "won"}).json() == {"data": [], "has_more": False}
    _error(api.get("/api/v1/disputes", {"status": "nope"}), 400)
    other = api_client_for(MerchantFactory())
    assert other.get("/api/v1/disputes").json()["data"] == []
    _error(other.get(f"/api/v1/disputes/{dispute.public_id}"), 404)
    _error(other.post(_evidence_url(dispute), {"product_description": "x"}, format="json"), 404)


def test_evidence_is_submitted_once_per_idempotency_key(api, dispute, sandbox_control):
    body = {"product_description": "A lamp, delivered", "uncategorized_text": "winning_evidence"}
    first = api.post(_evidence_url(dispute), body, format="json", HTTP_IDEMPOTENCY_KEY="ev-1")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "under_review"
    assert first.json()["evidence_submitted_at"] is not None
    again = api.post(_evidence_url(dispute), body, format="json", HTTP_IDEMPOTENCY_KEY="ev-1")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other_body = api.post(
        _evidence_url(dispute), {"customer_name": "X"}, format="json", HTTP_IDEMPOTENCY_KEY="ev-1"
    )
    _error(other_body, 422, "idempotency_key_reused")
    at_processor = processor_dispute(sandbox_control, dispute)
    assert at_processor["evidence_details"]["submission_count"] == 1
    assert at_processor["evidence"]["product_description"] == "A lamp, delivered"
    # A second submission under a new key is refused by the dispute's state, not sent.
    second = api.post(_evidence_url(dispute), body, format="json", HTTP_IDEMPOTENCY_KEY="ev-2")
    _error(second, 409, "dispute_state_invalid")
    [entry] = AuditEntry.objects.filter(action="dispute.evidence_submit")
    assert "lamp" not in json.dumps(entry.payload)


def test_evidence_whose_answer_is_lost_is_submitted_once_on_retry(api, dispute, sandbox_control):
    sandbox_control.fault(
        kind="error_500_after", method="POST", path=f"/v1/disputes/{dispute.processor_dispute_id}"
    )
    body = {"product_description": "A lamp"}
    lost = api.post(_evidence_url(dispute), body, format="json", HTTP_IDEMPOTENCY_KEY="lost-1")
    _error(lost, 503, "processor_outcome_unknown")
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["submission_count"] == 1
    retry = api.post(_evidence_url(dispute), body, format="json", HTTP_IDEMPOTENCY_KEY="lost-1")
    assert retry.status_code == 200, retry.content
    assert retry.json()["status"] == "under_review"
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["submission_count"] == 1
    [entry] = AuditEntry.objects.filter(action="dispute.evidence_submit")
    assert entry.payload["recovered"] is True


def test_a_card_number_is_refused_naming_the_field_and_nothing_is_sent(
    api, dispute, sandbox_control
):
    response = api.post(
        _evidence_url(dispute),
        {"product_description": "fine", "shipping_tracking_number": CARD},
        format="json",
    )
    error = _error(response, 400, "card_number")
    assert error["param"] == "shipping_tracking_number"
    assert "4242" not in response.content.decode()
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["has_evidence"] is False
    _error(api.post(_evidence_url(dispute), {}, format="json"), 400, "evidence_invalid")


def test_only_owner_and_admin_keys_may_submit(merchant, dispute, sandbox_control):
    for role in (Role.DEVELOPER, Role.ANALYST, Role.VIEWER):
        client = api_client_for(merchant, role)
        assert client.get(f"/api/v1/disputes/{dispute.public_id}").status_code == 200
        _error(client.post(_evidence_url(dispute), {"customer_name": "X"}, format="json"), 403)
    admin = api_client_for(merchant, Role.ADMIN)
    assert admin.post(_evidence_url(dispute), {"customer_name": "X"}, format="json").status_code
    assert processor_dispute(sandbox_control, dispute)["evidence_details"]["submission_count"] == 1


def test_past_the_deadline_is_a_409_with_nothing_sent(api, merchant, sandbox_control):
    late = Dispute.objects.create(
        merchant=merchant,
        payment=PaymentFactory(merchant=merchant),
        amount=100,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        processor_dispute_id="du_late",
        evidence_due_by=timezone.now() - timedelta(minutes=1),
    )
    from payments.models import ProcessorAccount

    ProcessorAccount.objects.get_or_create(
        merchant=merchant, defaults={"processor_account_id": "acct_late"}
    )
    error = _error(api.post(_evidence_url(late), {"customer_name": "X"}, format="json"), 409)
    assert "deadline" in error["message"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.dictionaries(
        st.sampled_from(["product_description", "customer_name", "billing_address", "x"]),
        st.one_of(
            st.text(HOSTILE_CHARACTERS, max_size=40),
            st.integers(),
            st.none(),
            st.booleans(),
            st.lists(st.text(max_size=3), max_size=2),
        ),
        max_size=3,
    ),
    public_id=st.text(HOSTILE_CHARACTERS, min_size=1, max_size=40),
)
def test_hostile_evidence_and_ids_never_answer_500(api, merchant, body, public_id) -> None:
    """Any body and any id: a 2xx, or a 4xx in the error shape (never a 5xx)."""
    target = Dispute.objects.filter(merchant=merchant).first() or Dispute.objects.create(
        merchant=merchant,
        payment=PaymentFactory(merchant=merchant),
        amount=100,
        currency="gbp",
        status=DisputeStatus.WON,
        processor_dispute_id="du_closed",
    )
    raw = json.dumps(body).encode()
    response = api.generic("POST", _evidence_url(target), raw, content_type="application/json")
    assert response.status_code in (400, 409), response.content[:300]
    _error(response, response.status_code)
    quoted = quote(public_id.encode("utf-8", "surrogatepass"), safe="")
    path = f"/api/v1/disputes/{quoted}"
    for answer in (api.get(path), api.post(f"{path}/evidence", {}, format="json")):
        assert answer.status_code in (400, 404), answer.content[:300]


class _WithoutDisputeVerbs:
    """A processor's gateway with the core protocol only (as a newly added processor's may
    be): every dispute verb is missing."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name.startswith("dispute_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_dispute_at_a_processor_without_dispute_verbs_is_refused_not_a_500(
    api, merchant, sandbox_control, monkeypatch
):
    from payments import gateways
    from payments.models import ProcessorAccount

    ProcessorAccount.objects.get_or_create(
        merchant=merchant, defaults={"processor_account_id": "acct_other"}
    )
    # Braintree answers disputes since issue #18; the refusal is kept for a processor without.
    core_only = _WithoutDisputeVerbs(gateways.gateway_named("braintree"))
    monkeypatch.setitem(gateways._instances, "braintree", core_only)
    dispute = Dispute.objects.create(
        merchant=merchant,
        payment=PaymentFactory(merchant=merchant, processor="braintree"),
        amount=100,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        processor_dispute_id="bt_dispute_1",
        evidence_due_by=timezone.now() + timedelta(days=3),
    )
    error = _error(
        api.post(_evidence_url(dispute), {"customer_name": "X"}, format="json"),
        409,
        "dispute_processor_unsupported",
    )
    assert "processor's own dashboard" in error["message"]
