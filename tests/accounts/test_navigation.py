"""Roles in the navigation: a member sees exactly the pages their role may open."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.navigation import NAVIGATION
from accounts.roles import Role
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db
NAV = re.compile(r'<nav class="sidenav".*?</nav>', re.S)


@pytest.mark.parametrize("role", list(Role))
def test_every_link_shown_opens_and_every_page_hidden_is_refused(role: Role) -> None:
    membership = member(role)
    client = verified_client(membership.user, merchant=membership.merchant)
    home = client.get(reverse("home"))
    nav = NAV.search(home.content.decode())
    assert nav, "the dashboard shell has its navigation"
    for item in NAVIGATION:
        url = reverse(item.url_name)
        shown = f'href="{url}"' in nav.group(0)
        status = client.get(url).status_code
        assert status == (200 if shown else 403), (role, item.label, shown, status)


def test_a_viewer_does_not_see_developers_or_compliance() -> None:
    membership = member(Role.VIEWER)
    client = verified_client(membership.user, merchant=membership.merchant)
    nav = NAV.search(client.get(reverse("home")).content.decode())
    assert nav
    assert "Payments" in nav.group(0)
    assert "Developers" not in nav.group(0)
    assert "Compliance" not in nav.group(0)
