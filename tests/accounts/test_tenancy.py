"""Tenancy: the current merchant, switching between one's own merchants, and roles."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import session_security
from accounts.roles import ROLE_PERMISSIONS, Role, role_allows
from accounts.selectors import membership_get, team_member_list
from compliance.models import AuditEntry
from config.permissions import Permission
from tests.factories import MerchantFactory, UserFactory, member, verified_client

pytestmark = pytest.mark.django_db
SWITCH = reverse("accounts:switch_merchant")


def test_user_switches_between_own_merchants():
    first = member(Role.OWNER)
    second_merchant = MerchantFactory(legal_name="Second Shop")
    member_of_second = member(Role.VIEWER, second_merchant)
    second_merchant.memberships.create(user=first.user, role=Role.ANALYST)
    client = verified_client(first.user)

    response = client.post(SWITCH, {"merchant": second_merchant.public_id})

    assert response.status_code == 302
    assert client.session[session_security.CURRENT_MERCHANT] == second_merchant.public_id
    body = client.get(reverse("team:list")).content.decode()
    assert member_of_second.user.email in body
    entry = AuditEntry.objects.get(action="merchant.switched")
    assert entry.merchant_public_id == second_merchant.public_id
    assert entry.payload == {"from": first.merchant.public_id}


def test_switching_to_a_foreign_merchant_changes_nothing():
    mine = member(Role.OWNER)
    foreign = MerchantFactory()
    client = verified_client(mine.user, merchant=mine.merchant)
    response = client.post(SWITCH, {"merchant": foreign.public_id})
    assert response.status_code == 302
    assert client.session[session_security.CURRENT_MERCHANT] == mine.merchant.public_id
    assert not AuditEntry.objects.filter(action="merchant.switched").exists()


@pytest.mark.parametrize("value", ["", "x" * 5000, "mer_<script>", "' OR 1=1 --"])
def test_switch_with_garbage_is_not_a_500(value):
    client = verified_client(member(Role.OWNER).user)
    assert client.post(SWITCH, {"merchant": value}).status_code == 302


def test_switch_is_post_only():
    client = verified_client(member(Role.OWNER).user)
    assert client.get(SWITCH).status_code == 405


def test_forged_session_merchant_falls_back_to_a_real_membership():
    mine = member(Role.OWNER)
    foreign = member(Role.OWNER)
    client = verified_client(mine.user, merchant=foreign.merchant)
    body = client.get(reverse("team:list")).content.decode()
    assert mine.user.email in body
    assert foreign.user.email not in body


def test_user_without_membership_is_sent_to_no_merchant_page():
    client = verified_client(UserFactory())
    response = client.get(reverse("home"))
    assert response["Location"] == reverse("accounts:no_merchant")
    page = client.get(reverse("accounts:no_merchant"))
    assert page.status_code == 200
    assert "invite" in page.content.decode()


def test_no_merchant_page_sends_members_home():
    client = verified_client(member(Role.VIEWER).user)
    assert client.get(reverse("accounts:no_merchant"))["Location"] == reverse("home")


def test_selectors_are_scoped_to_the_merchant():
    a, b = member(Role.OWNER), member(Role.OWNER)
    assert membership_get(merchant=a.merchant, user_public_id=b.user.public_id) is None
    assert membership_get(merchant=b.merchant, user_public_id=b.user.public_id) == b
    assert [m.pk for m in team_member_list(merchant=a.merchant)] == [a.pk]
    assert [m.pk for m in team_member_list(merchant=b.merchant)] == [b.pk]


EXPECTED = {
    Role.OWNER: set(Permission),
    Role.ADMIN: set(Permission),
    Role.DEVELOPER: {
        Permission.VIEW_DASHBOARD,
        Permission.VIEW_PAYMENTS,
        Permission.VIEW_CUSTOMERS,
        Permission.VIEW_TEAM,
        Permission.VIEW_DEVELOPERS,
        Permission.MANAGE_API_KEYS,
        Permission.CREATE_PAYMENTS,
        Permission.MANAGE_PAYMENT_LINKS,
        Permission.MANAGE_CUSTOMERS,
    },
    Role.ANALYST: {
        Permission.VIEW_DASHBOARD,
        Permission.VIEW_PAYMENTS,
        Permission.VIEW_CUSTOMERS,
        Permission.VIEW_TEAM,
        Permission.EXPORT_PAYMENTS,
        Permission.VIEW_COMPLIANCE,
    },
    Role.VIEWER: {
        Permission.VIEW_DASHBOARD,
        Permission.VIEW_PAYMENTS,
        Permission.VIEW_CUSTOMERS,
        Permission.VIEW_TEAM,
    },
}


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("permission", Permission.values)
def test_role_permission_matrix(role, permission):
    assert role_allows(role, permission) is (permission in EXPECTED[role])


def test_every_role_has_an_entry_and_unknown_roles_have_nothing():
    assert set(ROLE_PERMISSIONS) == set(Role.values)
    assert not any(role_allows("superuser", p) for p in Permission.values)


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.DEVELOPER, 403), (Role.VIEWER, 403)],
)
def test_team_management_follows_the_matrix(role, status):
    membership = member(role)
    client = verified_client(membership.user, Client(), merchant=membership.merchant)
    response = client.post(reverse("team:invite"), {"email": "p@example.test", "role": "viewer"})
    assert response.status_code == status
