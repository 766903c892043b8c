"""First enrolment is bound to something only the real person has: an enrolment link (or the
invitation link), never the password alone; links are single use, expiring, hashed, audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import EnrolmentLink, User
from accounts.roles import Role
from accounts.services import enrolment_link_issue, membership_invite
from compliance.models import AuditEntry
from tests.factories import (
    TEST_PASSWORD,
    TOTPDeviceFactory,
    UserFactory,
    login_password_only,
    member,
    open_enrolment_link,
    totp_now,
    verified_client,
)

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")
ENROLL = reverse("accounts:mfa_enroll")


def _link_url(token: str) -> str:
    return reverse("accounts:enrolment_link", args=[token])


def _confirm(client: Client, user) -> None:
    client.get(ENROLL)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(ENROLL, {"token": totp_now(device), "name": "Phone"})
    assert response.status_code == 200
    assert "Save your backup codes" in response.content.decode()


def test_the_password_alone_never_shows_a_qr_code_or_enrols():
    user = UserFactory()
    client = Client()
    response = client.post(LOGIN, {"email": user.email, "password": TEST_PASSWORD}, follow=True)
    body = response.content.decode()
    assert response.status_code == 403
    assert "You need an enrolment link" in body
    assert "<svg" not in body
    assert 'id="totp-secret"' not in body
    assert not TOTPDevice.objects.filter(user=user).exists()
    # Posting a code directly does not enrol either.
    response = client.post(ENROLL, {"token": "123456", "name": "Mine"})
    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_the_link_asks_for_the_password_then_enrols_once():
    user = UserFactory()
    issued = enrolment_link_issue(user=user, issued_by=None, via="test")
    client = Client()

    page = client.get(_link_url(issued.token))
    assert page.status_code == 200
    assert user.email in page.content.decode()
    assert page["Cache-Control"].startswith("no-store")
    wrong = client.post(_link_url(issued.token), {"password": "not the password 1"})
    assert wrong.status_code == 200
    assert "_auth_user_id" not in client.session

    response = client.post(_link_url(issued.token), {"password": TEST_PASSWORD})
    assert response["Location"].startswith(ENROLL)
    assert '<svg role="img"' in client.get(ENROLL).content.decode()
    _confirm(client, user)

    link = EnrolmentLink.objects.get(pk=issued.link.pk)
    assert link.used_at is not None
    enrolled = AuditEntry.objects.get(action="mfa.enrolled")
    assert enrolled.payload["enrolment_link"] == link.public_id
    # Single use: the same link is dead for anyone, including its person.
    again = Client().get(_link_url(issued.token))
    assert again.status_code == 404
    assert "<svg" not in again.content.decode()


def test_links_are_stored_hashed_audited_without_the_token_and_expire():
    user = UserFactory()
    issued = enrolment_link_issue(user=user, issued_by=None, via="test")
    link = EnrolmentLink.objects.get()
    assert issued.token not in link.token_hash
    assert len(link.token_hash) == 64
    entry = AuditEntry.objects.get(action="mfa.enrolment_link.issued")
    assert entry.target_id == user.public_id
    assert issued.token not in str(entry.payload)
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        assert Client().get(_link_url(issued.token)).status_code == 404


def test_a_new_link_replaces_the_earlier_one():
    user = UserFactory()
    first = enrolment_link_issue(user=user, issued_by=None, via="test")
    second = enrolment_link_issue(user=user, issued_by=None, via="test")
    assert Client().get(_link_url(first.token)).status_code == 404
    assert Client().get(_link_url(second.token)).status_code == 200


def test_a_link_opened_in_another_persons_session_grants_nothing():
    owner_of_link, intruder = UserFactory(), UserFactory()
    issued = enrolment_link_issue(user=owner_of_link, issued_by=None, via="test")
    client = login_password_only(intruder)
    response = client.get(_link_url(issued.token))
    assert response.status_code == 403
    assert client.get(ENROLL).status_code == 403


def test_a_person_with_an_authenticator_gets_no_link():
    from accounts.exceptions import EnrolmentLinkRefusedError

    user = UserFactory()
    TOTPDeviceFactory(user=user)
    with pytest.raises(EnrolmentLinkRefusedError):
        enrolment_link_issue(user=user, issued_by=None, via="test")


@settings(max_examples=40, deadline=None)
@given(token=st.text(min_size=1, max_size=300).filter(lambda t: "/" not in t))
def test_any_made_up_token_is_a_404_page_never_a_500(token):
    response = Client().get(_link_url(token))
    assert response.status_code == 404


def test_an_owner_issues_a_teammates_link_from_the_team_page_under_step_up():
    owner = member(Role.OWNER)
    teammate = member(Role.VIEWER, owner.merchant)
    client = verified_client(owner.user, merchant=owner.merchant)
    team = client.get(reverse("team:list")).content.decode()
    assert "no authenticator yet" in team

    url = reverse("team:enrolment_link", args=[teammate.user.public_id])
    response = client.post(url)
    body = response.content.decode()
    assert response.status_code == 200
    link_url = re.search(r'value="(http://testserver/accounts/mfa/enroll/[^"]+)"', body)
    assert link_url is not None
    entry = AuditEntry.objects.get(action="mfa.enrolment_link.issued")
    assert entry.actor_id == owner.user.public_id
    assert entry.merchant_public_id == owner.merchant.public_id

    invitee = Client()
    path = link_url.group(1).removeprefix("http://testserver")
    assert invitee.post(path, {"password": TEST_PASSWORD})["Location"].startswith(ENROLL)
    _confirm(invitee, teammate.user)


def test_a_viewer_cannot_issue_links_and_other_merchants_members_are_not_found():
    owner = member(Role.OWNER)
    viewer = member(Role.VIEWER, owner.merchant)
    stranger = member(Role.VIEWER)
    viewer_client = verified_client(viewer.user, merchant=owner.merchant)
    url = reverse("team:enrolment_link", args=[owner.user.public_id])
    assert viewer_client.post(url).status_code == 403
    owner_client = verified_client(owner.user, merchant=owner.merchant)
    url = reverse("team:enrolment_link", args=[stranger.user.public_id])
    assert owner_client.post(url).status_code == 404
    assert not EnrolmentLink.objects.exists()


def test_an_invited_newcomer_sets_a_password_and_enrols_in_one_flow_but_not_later_alone():
    owner = member(Role.OWNER)
    created = membership_invite(
        actor=owner.user, merchant=owner.merchant, email="new@example.test", role=Role.VIEWER
    )
    newcomer = Client()
    url = reverse("accounts:invite_accept", args=[created.token])
    password = "a fresh passphrase 77"
    response = newcomer.post(
        url, {"full_name": "New Person", "password1": password, "password2": password}
    )
    assert response["Location"].startswith(ENROLL)

    # Whoever learns that password before the newcomer enrolled gets no QR code elsewhere.
    stranger = Client()
    stranger.post(LOGIN, {"email": "new@example.test", "password": password})
    assert stranger.get(ENROLL).status_code == 403

    _confirm(newcomer, User.objects.get(email="new@example.test"))


def test_platform_staff_issue_links_in_the_admin_shown_once_never_in_a_message():
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    staff = UserFactory(is_staff=True)
    client = verified_client(admin_user)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "issue_enrolment_links", "_selected_action": [staff.pk]},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store")
    match = re.search(r'value="http://testserver(/accounts/mfa/enroll/[^"]+/)"', body)
    assert match is not None
    assert EnrolmentLink.objects.get().issued_by == admin_user
    assert Client().get(match.group(1)).status_code == 200


def test_the_enrolment_link_command_prints_the_link_last(capsys):
    user = UserFactory()
    call_command("enrolment_link", user.email.upper(), "--base-url", "http://example.test:9")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("http://example.test:9/accounts/mfa/enroll/")
    path = last.removeprefix("http://example.test:9")
    assert Client().get(path).status_code == 200


def test_the_enrolment_link_command_refuses_an_unknown_email():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no user has that email"):
        call_command("enrolment_link", "nobody@example.test")


def test_open_enrolment_link_helper_grants_only_its_session():
    user = UserFactory()
    client = Client()
    open_enrolment_link(user, client)
    assert client.get(ENROLL).status_code == 200
    assert login_password_only(user).get(ENROLL).status_code == 403
