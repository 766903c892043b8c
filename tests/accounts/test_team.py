"""Team page: invitations (single use, expiring, hashed), role changes, removal, owner rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.exceptions import (
    InvalidRoleError,
    LastOwnerError,
    MemberNotFoundError,
    TeamPermissionError,
)
from accounts.models import Invitation, Membership
from accounts.roles import Role
from compliance.models import AuditEntry
from tests.factories import (
    TEST_PASSWORD,
    MerchantFactory,
    UserFactory,
    login_password_only,
    member,
    verified_client,
)

pytestmark = pytest.mark.django_db
TEAM = reverse("team:list")
NEW_PASSWORD = "a fine long passphrase 7"


def _invite(client: Client, email: str, role: str = Role.VIEWER):
    return client.post(reverse("team:invite"), {"email": email, "role": role})


def _link(response) -> str:
    match = re.search(
        r'value="(http://testserver/accounts/invite/[^"]+/)"', response.content.decode()
    )
    assert match, "the invitation link is shown on screen"
    return match.group(1).removeprefix("http://testserver")


def _role(client: Client, target: Membership, role: str):
    url = reverse("team:role_change", args=[target.user.public_id])
    return client.post(url, {"role": role})


def _remove(client: Client, target: Membership):
    return client.post(reverse("team:remove", args=[target.user.public_id]))


def test_team_page_lists_members_and_pending_invitations(owner, owner_client):
    colleague = member(Role.ANALYST, owner.merchant)
    member(Role.ADMIN)  # another merchant's member
    _invite(owner_client, "new.person@example.test")
    body = owner_client.get(TEAM).content.decode()
    assert owner.user.email in body
    assert colleague.user.email in body
    assert "new.person@example.test" in body
    assert Membership.objects.exclude(merchant=owner.merchant).get().user.email not in body


def test_viewer_sees_team_without_controls_and_cannot_change_it(merchant):
    viewer = member(Role.VIEWER, merchant)
    client = verified_client(viewer.user, merchant=merchant)
    body = client.get(TEAM).content.decode()
    assert reverse("team:invite") not in body
    assert _invite(client, "x@example.test").status_code == 403
    assert not Invitation.objects.exists()


def test_invitation_stores_only_a_hash_shows_link_and_mails_it(owner, owner_client):
    response = _invite(owner_client, "New.Person@Example.test", Role.DEVELOPER)
    assert response.status_code == 200
    link = _link(response)
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.email == "new.person@example.test"
    assert token not in invitation.token_hash
    assert len(invitation.token_hash) == 64
    assert invitation.expires_at - invitation.created_at == settings.INVITE_MAX_AGE
    assert len(mail.outbox) == 1
    assert link in mail.outbox[0].body
    assert mail.outbox[0].to == ["new.person@example.test"]
    assert response["Cache-Control"].startswith("no-store")
    entry = AuditEntry.objects.get(action="team.invite.created")
    assert entry.target_id == invitation.public_id
    assert entry.merchant_public_id == owner.merchant.public_id
    assert "@" not in str(entry.payload)
    assert token not in str(entry.payload)


def test_new_user_accepts_with_password_then_enrolls_and_link_is_single_use(owner, owner_client):
    link = _link(_invite(owner_client, "fresh@example.test", Role.ANALYST))
    visitor = Client()
    page = visitor.get(link)
    assert 'autocomplete="new-password"' in page.content.decode()

    weak = visitor.post(link, {"password1": "short", "password2": "short"})
    assert weak.status_code == 200
    assert not Membership.objects.filter(user__email="fresh@example.test").exists()

    response = visitor.post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa_enroll"))
    joined = Membership.objects.get(user__email="fresh@example.test")
    assert (joined.merchant, joined.role) == (owner.merchant, Role.ANALYST)
    assert joined.user.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(action="team.invite.accepted").count() == 1

    again = Client().post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert again.status_code == 404


def test_invitation_expires(owner, owner_client):
    link = _link(_invite(owner_client, "late@example.test"))
    with time_machine.travel(timezone.now() + settings.INVITE_MAX_AGE + timedelta(seconds=1)):
        assert Client().get(link).status_code == 404
        response = Client().post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 404
    assert not Membership.objects.filter(user__email="late@example.test").exists()


def test_unknown_token_is_404_not_500():
    assert Client().get(reverse("accounts:invite_accept", args=["nonsense"])).status_code == 404


def test_revoked_invitation_no_longer_works(owner, owner_client):
    link = _link(_invite(owner_client, "revoked@example.test"))
    invitation = Invitation.objects.get()
    owner_client.post(reverse("team:invitation_revoke", args=[invitation.public_id]))
    assert Client().get(link).status_code == 404
    assert AuditEntry.objects.filter(action="team.invite.revoked").exists()


def test_reinviting_supersedes_the_earlier_link(owner, owner_client):
    first = _link(_invite(owner_client, "twice@example.test"))
    second = _link(_invite(owner_client, "twice@example.test"))
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200


def test_existing_user_logs_in_first_then_accepts(owner, owner_client):
    existing = UserFactory(email="known@example.test")
    link = _link(_invite(owner_client, "known@example.test", Role.DEVELOPER))

    anonymous = Client().get(link)
    assert reverse("accounts:login") in anonymous.content.decode()
    assert "password1" not in anonymous.content.decode()

    password_only = login_password_only(existing)
    assert password_only.get(link)["Location"].startswith(reverse("accounts:mfa_verify"))

    client = verified_client(existing)
    response = client.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(user=existing).role == Role.DEVELOPER
    assert client.session["ll_current_merchant"] == owner.merchant.public_id


def test_invitation_for_someone_else_is_refused(owner, owner_client):
    link = _link(_invite(owner_client, "intended@example.test"))
    intruder = verified_client(UserFactory(email="intruder@example.test"))
    assert intruder.post(link).status_code == 403
    assert not Membership.objects.filter(user__email="intruder@example.test").exists()


def test_inviting_an_existing_member_is_refused(owner, owner_client):
    colleague = member(Role.VIEWER, owner.merchant)
    response = _invite(owner_client, colleague.user.email.upper())
    assert response.status_code == 409
    assert not Invitation.objects.exists()


def test_team_changes_need_a_step_up_within_five_minutes(owner, merchant):
    target = member(Role.VIEWER, merchant)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(owner.user, merchant=merchant)
        clock.shift(timedelta(minutes=4, seconds=59))
        assert _role(client, target, Role.ANALYST)["Location"] == TEAM
        clock.shift(timedelta(seconds=2))
        response = client.post(
            reverse("team:role_change", args=[target.user.public_id]),
            {"role": Role.DEVELOPER},
            HTTP_REFERER="http://testserver/team/",
        )
    assert response["Location"].startswith(reverse("accounts:step_up"))
    assert "next=http%3A%2F%2Ftestserver%2Fteam%2F" in response["Location"]
    target.refresh_from_db()
    assert target.role == Role.ANALYST


def test_step_up_page_returns_to_next_after_a_fresh_code(owner):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import totp_now

    client = verified_client(owner.user, merchant=owner.merchant)
    device = TOTPDevice.objects.get(user=owner.user)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        response = client.post(
            reverse("accounts:step_up"), {"token": totp_now(device), "next": "/team/"}
        )
        assert response["Location"] == "/team/"
        target = member(Role.VIEWER, owner.merchant)
        assert _role(client, target, Role.ANALYST)["Location"] == TEAM
    target.refresh_from_db()
    assert target.role == Role.ANALYST


def test_owner_changes_roles_and_it_is_audited(owner, owner_client):
    target = member(Role.VIEWER, owner.merchant)
    _role(owner_client, target, Role.ADMIN)
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    entry = AuditEntry.objects.get(action="team.role.changed")
    assert entry.payload == {"from": "viewer", "to": "admin"}
    assert entry.target_id == target.user.public_id


def test_admin_cannot_grant_or_revoke_owner(owner, admin_member):
    client = verified_client(admin_member.user, merchant=admin_member.merchant)
    other = member(Role.VIEWER, owner.merchant)
    _role(client, other, Role.OWNER)
    _role(client, owner, Role.VIEWER)
    _remove(client, owner)
    assert _invite(client, "boss@example.test", Role.OWNER).status_code == 400
    other.refresh_from_db()
    owner.refresh_from_db()
    assert (other.role, owner.role) == (Role.VIEWER, Role.OWNER)
    assert not Invitation.objects.exists()


def test_admin_manages_non_owners(admin_member):
    client = verified_client(admin_member.user, merchant=admin_member.merchant)
    dev = member(Role.DEVELOPER, admin_member.merchant)
    _role(client, dev, Role.ANALYST)
    dev.refresh_from_db()
    assert dev.role == Role.ANALYST
    _remove(client, dev)
    assert not Membership.objects.filter(pk=dev.pk).exists()
    assert AuditEntry.objects.filter(action="team.member.removed").exists()


def test_last_owner_cannot_be_demoted_or_removed_through_the_page(owner, owner_client):
    _role(owner_client, owner, Role.ADMIN)
    _remove(owner_client, owner)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_with_two_owners_one_may_step_down(owner, owner_client):
    second = member(Role.OWNER, owner.merchant)
    _role(owner_client, second, Role.ADMIN)
    second.refresh_from_db()
    assert second.role == Role.ADMIN


def test_last_owner_rule_lives_in_the_service(owner):
    with pytest.raises(LastOwnerError):
        services.membership_role_change(
            actor=owner.user,
            merchant=owner.merchant,
            member_public_id=owner.user.public_id,
            role=Role.ADMIN,
        )
    with pytest.raises(LastOwnerError):
        services.membership_remove(
            actor=owner.user, merchant=owner.merchant, member_public_id=owner.user.public_id
        )
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_service_refuses_members_of_other_merchants(owner):
    stranger = member(Role.VIEWER, MerchantFactory())
    with pytest.raises(MemberNotFoundError):
        services.membership_remove(
            actor=owner.user, merchant=owner.merchant, member_public_id=stranger.user.public_id
        )
    foreign_owner = member(Role.OWNER)
    with pytest.raises(TeamPermissionError):
        services.membership_role_change(
            actor=foreign_owner.user,
            merchant=owner.merchant,
            member_public_id=owner.user.public_id,
            role=Role.VIEWER,
        )
    assert Membership.objects.filter(pk=stranger.pk).exists()


def test_service_refuses_roles_outside_the_list(owner):
    target = member(Role.VIEWER, owner.merchant)
    with pytest.raises(InvalidRoleError):
        services.membership_role_change(
            actor=owner.user,
            merchant=owner.merchant,
            member_public_id=target.user.public_id,
            role="superuser",
        )


def test_bad_role_value_on_the_page_is_not_a_500(owner, owner_client):
    target = member(Role.VIEWER, owner.merchant)
    assert _role(owner_client, target, "superuser").status_code == 302
    assert _invite(owner_client, "not-an-email", "nope").status_code == 400
    missing = owner_client.post(reverse("team:remove", args=["usr_doesnotexist"]))
    assert missing.status_code == 404


def test_removed_member_loses_access(owner, owner_client):
    gone = member(Role.ANALYST, owner.merchant)
    gone_client = verified_client(gone.user, merchant=owner.merchant)
    assert gone_client.get(TEAM).status_code == 200
    _remove(owner_client, gone)
    assert gone_client.get(TEAM)["Location"] == reverse("accounts:no_merchant")


def test_password_login_then_team_page_requires_otp(owner):
    client = Client()
    client.post(reverse("accounts:login"), {"email": owner.user.email, "password": TEST_PASSWORD})
    assert client.get(TEAM).status_code == 302
