"""Data-request workflow: states, permission, four eyes, deadlines with a frozen clock, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction

from compliance.actors import Actor
from compliance.data_requests import (
    DataRequestDuplicateError,
    DataRequestError,
    DataRequestForbiddenError,
    DataRequestStateError,
    DataRequestSubjectError,
    add_months,
)
from compliance.models import AuditEntry, DataRequest, DataRequestStatus
from compliance.services import (
    data_request_approve,
    data_request_attest,
    data_request_deadline,
    data_request_extend,
    data_request_open,
    data_request_reject,
    data_request_verify,
)
from tests.factories import MerchantFactory, UserFactory
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db
RECEIVED = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def officer():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="approve_datarequest"))
    return type(user).objects.get(pk=user.pk)  # fresh permission cache


def at(moment: datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


@pytest.fixture
def customer():
    return CustomerFactory(merchant=MerchantFactory(), email="ana@example.test", name="Ana Lima")


def open_erasure(customer, *, actor: Actor | None = None, when: datetime = RECEIVED):
    with at(when):
        return data_request_open(
            request_type="erasure",
            subject_kind="customer",
            reference=customer.email,
            merchant_id=customer.merchant.public_id,
            ground="art17_1_b",
            actor=actor or Actor.for_api_key("key_merchant"),
        )


def actions(data_request: DataRequest) -> list[str]:
    return list(
        AuditEntry.objects.filter(target_id=data_request.public_id)
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_open_resolves_the_email_to_ids_and_keeps_no_email(customer):
    data_request = open_erasure(customer)
    assert data_request.public_id.startswith("dsr_")
    assert data_request.subject_reference == customer.public_id
    assert data_request.status == DataRequestStatus.RECEIVED
    assert data_request.due_at == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)  # Art. 12(3)
    assert "ana@" not in str(DataRequest.objects.filter(pk=data_request.pk).values().get())
    assert actions(data_request) == ["data_request.opened"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"request_type": "delete"}, DataRequestError),
        ({"ground": ""}, DataRequestError),
        ({"ground": "art17_1_z"}, DataRequestError),
        ({"request_type": "access"}, DataRequestError),  # an access request has no ground
        ({"reference": "cus_unknown"}, DataRequestSubjectError),
        ({"reference": "ana\x00@example.test"}, DataRequestSubjectError),
        ({"reference": "   "}, DataRequestError),
        ({"reference": "a" * 100_000}, DataRequestError),
        ({"subject_kind": "robot"}, DataRequestError),
        ({"merchant_id": ""}, DataRequestError),
    ],
)
def test_open_refuses_bad_input_and_changes_nothing(customer, fields, error):
    arguments = {
        "request_type": "erasure",
        "subject_kind": "customer",
        "reference": customer.public_id,
        "merchant_id": customer.merchant.public_id,
        "ground": "art17_1_a",
        "actor": Actor.anonymous(),
        **fields,
    }
    with pytest.raises(error):
        data_request_open(**arguments)
    assert not DataRequest.objects.exists()


def test_the_workflow_moves_forward_only_and_audits_every_step(
    customer, django_capture_on_commit_callbacks
):
    data_request = open_erasure(customer)
    staff = officer()
    data_request_verify(
        data_request=data_request, officer=staff, method="replied from the address on file"
    )
    assert data_request.verified_by == f"user:{staff.public_id}"
    with pytest.raises(DataRequestStateError):
        data_request_verify(data_request=data_request, officer=staff, method="again")
    with (
        mock.patch("compliance.data_requests._enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        data_request_approve(data_request=data_request, officer=staff)
    enqueue.assert_called_once_with(data_request.pk)
    assert data_request.status == DataRequestStatus.APPROVED
    assert actions(data_request) == [
        "data_request.opened",
        "data_request.verified",
        "data_request.approved",
    ]
    with pytest.raises(DataRequestStateError):  # approved: verification is behind it
        data_request_verify(data_request=data_request, officer=staff, method="again")


def test_without_the_permission_nothing_moves(customer):
    data_request = open_erasure(customer)
    nobody = UserFactory(is_staff=True)
    for call in (
        lambda: data_request_verify(data_request=data_request, officer=nobody, method="seen"),
        lambda: data_request_reject(data_request=data_request, officer=nobody, reason="no"),
        lambda: data_request_extend(
            data_request=data_request, officer=nobody, months=1, reason="r"
        ),
    ):
        with pytest.raises(DataRequestForbiddenError):
            call()
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.RECEIVED
    assert actions(data_request) == ["data_request.opened"]


def test_four_eyes_whoever_opened_cannot_approve(customer):
    staff = officer()
    data_request = open_erasure(customer, actor=Actor.for_user(staff))
    data_request_verify(data_request=data_request, officer=staff, method="called back")
    with pytest.raises(DataRequestForbiddenError, match="opened"):
        data_request_approve(data_request=data_request, officer=staff)
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.VERIFIED
    with mock.patch("compliance.data_requests._enqueue"):
        data_request_approve(data_request=data_request, officer=officer())


def test_merchant_attestation_is_recorded_as_such_and_only_by_the_opener(customer):
    merchant_key = Actor.for_api_key("key_merchant")
    data_request = open_erasure(customer, actor=merchant_key)
    with pytest.raises(DataRequestForbiddenError):
        data_request_attest(data_request=data_request, actor=Actor.for_api_key("key_other"))
    data_request_attest(data_request=data_request, actor=merchant_key)
    assert data_request.verification_method == "merchant attestation"
    assert data_request.verified_by == "api_key:key_merchant"


def test_reject_needs_a_reason_and_is_final(customer):
    data_request = open_erasure(customer)
    staff = officer()
    with pytest.raises(DataRequestError):
        data_request_reject(data_request=data_request, officer=staff, reason="  ")
    data_request_reject(data_request=data_request, officer=staff, reason="Art. 17(3)(b) applies")
    assert data_request.status == DataRequestStatus.REJECTED
    with pytest.raises(DataRequestStateError):
        data_request_verify(data_request=data_request, officer=staff, method="x")


def test_deadline_escalation_and_overdue_with_a_frozen_clock(customer):
    data_request = open_erasure(customer)
    day = lambda n: RECEIVED + timedelta(days=n)  # noqa: E731
    assert data_request_deadline(data_request, now=day(19)).escalated is False
    assert data_request_deadline(data_request, now=day(20)).escalated is True
    assert data_request_deadline(data_request, now=day(20)).days_left == 8
    assert data_request_deadline(data_request, now=day(28)).overdue is False
    assert data_request_deadline(data_request, now=day(28) + timedelta(seconds=1)).overdue is True


def test_extension_once_by_up_to_two_months_only_in_the_first_month(customer):
    data_request = open_erasure(customer)
    staff = officer()
    with at(RECEIVED + timedelta(days=10)):
        with pytest.raises(DataRequestError):
            data_request_extend(data_request=data_request, officer=staff, months=3, reason="r")
        with pytest.raises(DataRequestError):
            data_request_extend(data_request=data_request, officer=staff, months=2, reason="")
        data_request_extend(
            data_request=data_request, officer=staff, months=2, reason="complex: 4 systems"
        )
        assert data_request.due_at == datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
        with pytest.raises(DataRequestStateError, match="once"):
            data_request_extend(data_request=data_request, officer=staff, months=1, reason="r")
    late = open_erasure(CustomerFactory(merchant=customer.merchant))
    with at(late.due_at + timedelta(minutes=1)), pytest.raises(DataRequestStateError):
        data_request_extend(data_request=late, officer=staff, months=1, reason="too late")
    assert "data_request.extended" in actions(data_request)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 15, tzinfo=UTC), 3, datetime(2027, 2, 15, tzinfo=UTC)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_the_same_request_is_not_opened_twice_while_it_is_worked(customer):
    """One erasure (or one access) per data subject at a time: a second is refused naming the
    first; another type, or a new request after the first ended, is opened."""
    first = open_erasure(customer)
    with pytest.raises(DataRequestDuplicateError, match=first.public_id) as refused:
        open_erasure(customer)
    assert (refused.value.status_code, refused.value.param) == (409, "customer")
    access = data_request_open(
        request_type="access",
        subject_kind="customer",
        reference=customer.public_id,
        merchant_id=customer.merchant.public_id,
        actor=Actor.system("tests"),
    )
    assert access.public_id != first.public_id
    data_request_reject(data_request=first, officer=officer(), reason="sent in error")
    assert open_erasure(customer).public_id != first.public_id
    assert DataRequest.objects.count() == 3


def test_the_database_refuses_a_second_request_in_progress_for_the_same_subject(customer):
    """Two requests opened at the same moment both pass the service's check; the constraint
    keeps one."""
    first = open_erasure(customer)
    duplicate = DataRequest(
        type=first.type,
        ground=first.ground,
        subject_kind=first.subject_kind,
        merchant_public_id=first.merchant_public_id,
        subject_reference=first.subject_reference,
        opened_by="system:tests",
        received_at=first.received_at,
        due_at=first.due_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
