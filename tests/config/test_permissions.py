"""The dashboard's permission gate (config.permissions): every app's pages, compliance's too.

The gate asks the current member (`request.membership`) whether it grants the permission; with
no member it sends the user to the no-merchant page, and a refusal carries the permission so
the 403 page can name the roles that have it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import Membership
from accounts.roles import Role, role_allows
from config.permissions import Permission, PermissionMissing, require_permission


@dataclass
class FakeMember:
    granted: frozenset[str]

    def has_permission(self, permission: str) -> bool:
        return permission in self.granted


@require_permission(Permission.VIEW_COMPLIANCE)
def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the page")


def _request(member: FakeMember | None) -> HttpRequest:
    request = RequestFactory().get("/somewhere/")
    if member is not None:
        request.membership = member  # type: ignore[attr-defined]
    return request


def test_a_member_whose_role_grants_the_permission_sees_the_page():
    response = page(_request(FakeMember(frozenset({Permission.VIEW_COMPLIANCE}))))
    assert response.content == b"the page"


def test_a_member_without_the_permission_is_refused_with_the_permission_named():
    with pytest.raises(PermissionMissing) as refused:
        page(_request(FakeMember(frozenset({Permission.VIEW_PAYMENTS}))))
    assert refused.value.permission == Permission.VIEW_COMPLIANCE


def test_a_user_with_no_merchant_is_sent_to_the_no_merchant_page():
    response = page(_request(None))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:no_merchant")


@pytest.mark.parametrize("role", Role.values)
def test_a_membership_grants_what_its_role_allows(role):
    membership = Membership(role=role)
    for permission in Permission:
        assert membership.has_permission(permission) is role_allows(role, permission)
