"""The merchant's data-request pages: the section on /compliance/, the open form (roles,
step-up, attestation, clear errors, once per submission), the detail page with its timeline,
and the export / certificate downloads; another merchant's request is a 404."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from accounts.roles import Role
from api import form_tokens
from compliance.actors import Actor
from compliance.models import AuditEntry, DataRequest, DataRequestStatus
from compliance.services import data_request_approve, data_request_attest, data_request_open
from tests.factories import UserFactory, member, verified_client
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db
EMAIL = "ana.lima@example.test"


@pytest.fixture
def owner():
    return member(Role.OWNER)


@pytest.fixture
def customer(owner):
    return CustomerFactory(merchant=owner.merchant, email=EMAIL, name="Ana Lima")


def officer():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(AuthPermission.objects.get(codename="approve_datarequest"))
    return type(user).objects.get(pk=user.pk)


def new_url() -> str:
    return reverse("data_requests:new")


def form_data(client, customer_ref: str, **overrides: str) -> dict[str, str]:
    """A filled form with the submission token the form page renders."""
    page = client.get(new_url())
    assert page.status_code == 200
    data = {
        "customer": customer_ref,
        "type": "erasure",
        "ground": "art17_1_b",
        "verification": "The request came from the email address on file.",
        "attest": "on",
        form_tokens.FIELD_NAME: page.context["submission_token"],
        "form_id": page.context["form_id"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_an_owner_opens_an_erasure_that_is_attested_and_audited(owner, customer):
    client = verified_client(owner.user)
    response = client.post(new_url(), form_data(client, customer.public_id))
    data_request = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("data_requests:detail", args=[data_request.public_id])
    assert data_request.status == DataRequestStatus.VERIFIED
    assert data_request.merchant_public_id == owner.merchant.public_id
    assert data_request.subject_reference == customer.public_id
    assert data_request.ground == "art17_1_b"
    assert data_request.opened_by == f"user:{owner.user.public_id}"
    assert data_request.verification_method == (
        "merchant attestation: The request came from the email address on file."
    )
    actions = list(
        AuditEntry.objects.filter(target_id=data_request.public_id).values_list("action", flat=True)
    )
    assert actions == ["data_request.opened", "data_request.verified"]
    detail = client.get(response["Location"]).content.decode()
    assert "Identity verified" in detail
    assert "opened by" in detail
    assert "verified by" in detail


def test_by_email_the_request_covers_every_record_with_that_address(owner, customer):
    CustomerFactory(merchant=owner.merchant, email=EMAIL.upper())
    client = verified_client(owner.user)
    client.post(new_url(), form_data(client, EMAIL, type="access", ground=""))
    data_request = DataRequest.objects.get()
    assert data_request.type == "access"
    assert data_request.subject_reference.startswith("cus_")


def test_a_double_submit_opens_one_request(owner, customer):
    client = verified_client(owner.user)
    data = form_data(client, customer.public_id)
    first = client.post(new_url(), data)
    second = client.post(new_url(), data)
    assert DataRequest.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_two_forms_open_two_requests_and_a_forged_form_id_opens_none(owner, customer):
    client = verified_client(owner.user)
    first = form_data(client, customer.public_id)
    second = form_data(client, _another(owner).public_id)
    assert first["form_id"] != second["form_id"]
    client.post(new_url(), first)
    client.post(new_url(), second)
    assert DataRequest.objects.count() == 2
    forged = {**form_data(client, _another(owner).public_id), "form_id": "form_AAAAAAAAAAAAAAAA"}
    response = client.post(new_url(), forged)
    assert response["Location"] == new_url()
    assert DataRequest.objects.count() == 2


def test_a_form_shown_again_after_an_error_keeps_its_token(owner, customer):
    client = verified_client(owner.user)
    data = form_data(client, customer.public_id, verification="")
    response = client.post(new_url(), data)
    assert response.status_code == 400
    assert response.context["form_id"] == data["form_id"]
    assert response.context["submission_token"] == data[form_tokens.FIELD_NAME]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer": "cus_doesnotexist"}, "customer"),
        ({"customer": "someone@elsewhere.test"}, "customer"),
        ({"customer": "not an id"}, "customer"),
        ({"customer": "cus_\x00"}, "customer"),
        ({"type": "forget_everything"}, "type"),
        ({"ground": ""}, "ground"),
        ({"type": "access"}, "ground"),
        ({"ground": "art99"}, "ground"),
        ({"verification": ""}, "verification"),
        ({"verification": "x" * 501}, "verification"),
        ({"verification": "card 4242 4242 4242 4242 shown"}, "verification"),
        ({"attest": None}, "attest"),
    ],
)
def test_bad_input_is_a_clear_form_error_and_changes_nothing(owner, customer, overrides, field):
    client = verified_client(owner.user)
    response = client.post(new_url(), form_data(client, customer.public_id, **overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "Nothing was opened" in response.content.decode()
    assert "4242 4242" not in response.content.decode()
    assert DataRequest.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="data_request.").exists()


def test_another_merchants_customer_cannot_be_named(owner):
    stranger = CustomerFactory(email="other@example.test")
    client = verified_client(owner.user)
    response = client.post(new_url(), form_data(client, stranger.public_id))
    assert response.status_code == 400
    response = client.post(new_url(), form_data(client, "other@example.test"))
    assert response.status_code == 400
    assert DataRequest.objects.count() == 0


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER, Role.DEVELOPER])
def test_roles_without_manage_data_requests_cannot_open(customer, role):
    someone = member(role, merchant=customer.merchant)
    client = verified_client(someone.user)
    assert client.get(new_url()).status_code == 403
    assert client.post(new_url(), {"customer": customer.public_id}).status_code == 403
    assert DataRequest.objects.count() == 0


def test_an_analyst_sees_requests_but_not_the_open_button(owner, customer):
    data_request = _opened(owner, customer)
    analyst = member(Role.ANALYST, merchant=owner.merchant)
    client = verified_client(analyst.user)
    home = client.get(reverse("compliance:home")).content.decode()
    assert data_request.public_id in home
    assert new_url() not in home
    assert client.get(_detail(data_request)).status_code == 200
    viewer = member(Role.VIEWER, merchant=owner.merchant)
    assert verified_client(viewer.user).get(_detail(data_request)).status_code == 403


def test_opening_needs_a_fresh_one_time_code(owner, customer):
    client = verified_client(owner.user)
    data = form_data(client, customer.public_id)
    session = client.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    response = client.post(new_url(), data)
    assert response.status_code == 302
    assert reverse("accounts:step_up") in response["Location"]
    assert DataRequest.objects.count() == 0


def _opened(owner, customer, *, request_type: str = "erasure", days_ago: int = 0) -> DataRequest:
    return data_request_open(
        request_type=request_type,
        subject_kind="customer",
        reference=customer.public_id,
        merchant_id=owner.merchant.public_id,
        ground="art17_1_a" if request_type == "erasure" else "",
        actor=Actor.for_user(owner.user),
        received_at=timezone.now() - timedelta(days=days_ago),
    )


def _another(owner):
    """Another customer of the merchant: one request at a time is worked per data subject."""
    return CustomerFactory(merchant=owner.merchant)


def _detail(data_request: DataRequest) -> str:
    return reverse("data_requests:detail", args=[data_request.public_id])


def test_another_merchants_request_is_a_404_everywhere(owner, customer):
    data_request = _opened(owner, customer)
    other = member(Role.OWNER)
    client = verified_client(other.user)
    for name in ("detail", "export", "certificate"):
        url = reverse(f"data_requests:{name}", args=[data_request.public_id])
        assert client.get(url).status_code == 404, name
    assert data_request.public_id not in client.get(reverse("compliance:home")).content.decode()
    assert client.get(reverse("data_requests:detail", args=["dsr_\x00x"])).status_code == 404


def test_the_section_shows_days_left_escalation_and_overdue_in_red(owner, customer):
    fresh = _opened(owner, customer)
    escalated = _opened(owner, _another(owner), days_ago=22)
    late = _opened(owner, _another(owner), days_ago=40)
    body = verified_client(owner.user).get(reverse("compliance:home")).content.decode()
    for data_request in (fresh, escalated, late):
        assert data_request.public_id in body
    assert "day(s) left</td>" in body or "day(s) left)" in body
    assert "escalated (day 20 passed)" in body
    assert 'class="deadline-overdue"' in body
    assert "overdue by" in body


def test_the_section_pages_twenty_requests_at_a_time(owner, customer):
    opened = [_opened(owner, _another(owner), days_ago=days) for days in range(21)]
    client = verified_client(owner.user)
    first = client.get(reverse("compliance:home")).content.decode()
    second = client.get(reverse("compliance:home"), {"requests_page": "2"}).content.decode()
    # Links to the detail pages (the audit log further down names every request too).
    newest, oldest = _detail(opened[0]), _detail(opened[-1])
    assert newest in first
    assert oldest not in first
    assert oldest in second
    assert newest not in second
    assert client.get(reverse("compliance:home"), {"requests_page": "x\x00"}).status_code == 200


def test_the_customer_page_links_the_prefilled_form(owner, customer):
    client = verified_client(owner.user)
    page = client.get(reverse("customer-detail", args=[customer.public_id])).content.decode()
    link = f"{new_url()}?customer={customer.public_id}"
    assert link in page
    form = client.get(link).context["form"]
    assert form.initial["customer"] == customer.public_id
    hostile = client.get(new_url(), {"customer": '"><script>x</script>'})
    assert "customer" not in hostile.context["form"].initial
    viewer = member(Role.VIEWER, merchant=owner.merchant)
    viewer_page = verified_client(viewer.user).get(
        reverse("customer-detail", args=[customer.public_id])
    )
    assert new_url() not in viewer_page.content.decode()


def _complete(data_request: DataRequest, owner, run_on_commit) -> DataRequest:
    data_request_attest(data_request=data_request, actor=Actor.for_user(owner.user))
    with run_on_commit(execute=True):  # approval enqueues after commit; Celery is eager
        data_request_approve(data_request=data_request, officer=officer())
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    return data_request


def test_the_certificate_downloads_once_the_erasure_completes_and_verifies(
    owner, customer, tmp_path, capsys, django_capture_on_commit_callbacks
):
    data_request = _opened(owner, customer)
    client = verified_client(owner.user)
    url = reverse("data_requests:certificate", args=[data_request.public_id])
    assert client.get(url).status_code == 404
    _complete(data_request, owner, django_capture_on_commit_callbacks)
    detail = client.get(_detail(data_request)).content.decode()
    assert url in detail
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    path = tmp_path / "certificate.json"
    path.write_bytes(response.content)
    call_command("verify_certificate", str(path))
    assert "OK: genuine certificate for " + data_request.public_id in capsys.readouterr().out
    assert EMAIL not in response.content.decode()


def test_the_access_export_streams_for_a_limited_time_and_each_download_is_audited(
    owner, customer, settings, django_capture_on_commit_callbacks
):
    data_request = _complete(
        _opened(owner, customer, request_type="access"), owner, django_capture_on_commit_callbacks
    )
    client = verified_client(owner.user)
    url = reverse("data_requests:export", args=[data_request.public_id])
    assert url in client.get(_detail(data_request)).content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Cache-Control"] == "no-store"
    document = json.loads(b"".join(response.streaming_content))
    assert document["request"] == data_request.public_id
    assert EMAIL in json.dumps(document)
    assert AuditEntry.objects.filter(
        action="data_request.export_downloaded", target_id=data_request.public_id
    ).exists()
    analyst = member(Role.ANALYST, merchant=owner.merchant)
    analyst_client = verified_client(analyst.user)
    assert url not in analyst_client.get(_detail(data_request)).content.decode()
    assert analyst_client.get(url).status_code == 403
    DataRequest.objects.filter(pk=data_request.pk).update(
        completed_at=timezone.now() - timedelta(days=settings.EXPORT_AVAILABLE_DAYS + 1)
    )
    assert client.get(url).status_code == 404


def test_a_second_request_for_the_same_customer_names_the_open_one(owner, customer):
    client = verified_client(owner.user)
    client.post(new_url(), form_data(client, customer.public_id))
    first = DataRequest.objects.get()
    response = client.post(new_url(), form_data(client, customer.public_id), follow=True)
    assert response.status_code == 200
    assert first.public_id in response.content.decode()
    assert DataRequest.objects.count() == 1
