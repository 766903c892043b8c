"""The data-request queue in the admin: sorted by deadline, overdue marked, and officer
actions behind the permission and a fresh one-time password (step-up)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from compliance.actors import Actor
from compliance.models import AuditEntry, DataRequest, DataRequestStatus
from compliance.services import data_request_open
from tests.factories import MerchantFactory, UserFactory, verified_client
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def officer():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="approve_datarequest"))
    return user


def open_request(*, actor: Actor | None = None, days_ago: int = 0) -> DataRequest:
    customer = CustomerFactory(merchant=MerchantFactory(), email="ana@example.test")
    return data_request_open(
        request_type="erasure",
        subject_kind="customer",
        reference=customer.public_id,
        merchant_id=customer.merchant.public_id,
        ground="art17_1_c",
        actor=actor or Actor.for_api_key("key_merchant"),
        received_at=timezone.now() - timedelta(days=days_ago),
    )


def act_url(data_request: DataRequest, action: str) -> str:
    return reverse("admin:compliance_datarequest_act", args=[data_request.pk, action])


def test_queue_is_sorted_by_deadline_and_marks_overdue_and_escalated():
    late = open_request(days_ago=40)
    soon = open_request(days_ago=25)
    fresh = open_request()
    client = verified_client(officer())
    response = client.get(reverse("admin:compliance_datarequest_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(late.public_id) < body.index(soon.public_id) < body.index(fresh.public_id)
    assert "dsr-overdue" in body
    assert "OVERDUE by" in body
    assert "escalated" in body
    filtered = client.get(
        reverse("admin:compliance_datarequest_changelist"), {"status__exact": "received"}
    )
    assert filtered.status_code == 200


def test_verify_with_a_fresh_code_moves_the_request_and_shows_in_the_timeline():
    data_request = open_request()
    staff = officer()
    client = verified_client(staff)
    response = client.post(act_url(data_request, "verify"), {"text": "called the number on file"})
    assert response.status_code == 302
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.VERIFIED
    assert data_request.verified_by == f"user:{staff.public_id}"
    page = client.get(reverse("admin:compliance_datarequest_change", args=[data_request.pk]))
    assert f"verified by user:{staff.public_id}" in page.content.decode()


def test_a_stale_code_sends_the_officer_to_step_up_and_changes_nothing():
    data_request = open_request()
    client = verified_client(officer())
    session = client.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    response = client.post(act_url(data_request, "verify"), {"text": "called"})
    assert response.status_code == 302
    assert reverse("accounts:step_up") in response["Location"]
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.RECEIVED


def test_without_the_permission_the_action_is_forbidden():
    data_request = open_request()
    client = verified_client(UserFactory(is_staff=True))
    assert client.post(act_url(data_request, "verify"), {"text": "x"}).status_code == 403
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.RECEIVED


def test_four_eyes_in_the_admin_is_a_message_not_an_error():
    staff = officer()
    data_request = open_request(actor=Actor.for_user(staff))
    client = verified_client(staff)
    client.post(act_url(data_request, "verify"), {"text": "passport seen"})
    response = client.post(act_url(data_request, "approve"), {"text": ""})
    assert response.status_code == 200
    assert "cannot approve" in response.content.decode()
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.VERIFIED
    assert not AuditEntry.objects.filter(action="data_request.approved").exists()


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("extend", {"text": "complex", "months": "7"}),
        ("extend", {"text": "", "months": "1"}),
        ("reject", {"text": "x" * 10_000}),
        ("reject", {"text": "card 4242 4242 4242 4242"}),
        ("verify", {}),
    ],
)
def test_hostile_action_input_is_a_form_error(action, data):
    data_request = open_request()
    response = verified_client(officer()).post(act_url(data_request, action), data)
    assert response.status_code == 200
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.RECEIVED
    assert data_request.extended_at is None


def test_unknown_action_or_request_is_refused_not_a_500():
    data_request = open_request()
    client = verified_client(officer())
    assert client.post(act_url(data_request, "delete_everything"), {}).status_code == 403
    missing = reverse("admin:compliance_datarequest_act", args=[999_999, "verify"])
    assert client.get(missing).status_code == 404


def test_the_seeded_compliance_officers_group_can_work_the_queue():
    from accounts.management.commands.seed_demo import COMPLIANCE_GROUP, staff_groups

    group = staff_groups()[COMPLIANCE_GROUP]
    assert group.permissions.filter(codename="approve_datarequest").exists()
    member = UserFactory(is_staff=True)
    member.groups.set([group])
    data_request = open_request()
    client = verified_client(member)
    assert client.get(reverse("admin:compliance_datarequest_changelist")).status_code == 200
    client.post(act_url(data_request, "verify"), {"text": "replied from the address on file"})
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.VERIFIED
