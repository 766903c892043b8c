"""Styled error pages: 400, 403, 404 and 500 in the site's look, never a debug page, and the
embedded default (`make run`) shows them unless a developer turns DEBUG on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from payments import views
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _assert_styled(response, status: int, heading: str) -> str:  # type: ignore[no-untyped-def]
    body = response.content.decode()
    assert response.status_code == status
    assert "/static/css/app.css" in body
    assert "/static/img/favicon.svg" in body
    assert heading in body
    assert "Traceback" not in body
    assert "DEBUG" not in body
    return body


def test_an_unknown_address_gets_the_styled_404() -> None:
    _assert_styled(Client().get("/no-such-page/"), 404, "This page does not exist")


def test_an_unknown_object_in_the_dashboard_gets_the_styled_404() -> None:
    owner = member(Role.OWNER)
    client = verified_client(owner.user, merchant=owner.merchant)
    response = client.get(reverse("payment-detail", args=["pay_doesnotexist"]))
    _assert_styled(response, 404, "This page does not exist")


def test_a_bad_host_gets_the_styled_400() -> None:
    response = Client(HTTP_HOST="attacker.example").get("/no-such-page/")
    _assert_styled(response, 400, "We could not read that request")


def test_an_unexpected_error_gets_the_styled_500_with_a_reference(monkeypatch) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.reports, "overview_cached", broken)
    owner = member(Role.OWNER)
    client = verified_client(owner.user, merchant=owner.merchant)
    client.raise_request_exception = False
    response = client.get(reverse("home"))
    body = _assert_styled(response, 500, "Something went wrong on our side")
    assert "secret internals" not in body
    assert response["X-Request-Id"] in body


def test_a_refused_page_says_which_role_it_needs_and_who_can_grant_it() -> None:
    owner = member(Role.OWNER, full_name="Olivia Owner")
    admin = member(Role.ADMIN, owner.merchant, full_name="Adam Admin")
    viewer = member(Role.VIEWER, owner.merchant, full_name="Vera Viewer")
    client = verified_client(viewer.user, merchant=owner.merchant)
    body = _assert_styled(client.get(reverse("developers")), 403, "You do not have access")
    assert "<strong>Owner</strong> or <strong>Admin</strong> or <strong>Developer</strong>" in body
    assert "Your role is <strong>Viewer</strong>" in body
    assert "Olivia Owner (Owner)" in body
    assert f"{admin.user.full_name} (Admin)" in body
    assert "Vera Viewer" not in body.split("Ask one of them")[1]


def _local_debug(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.local as s; print(s.DEBUG)"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_make_run_shows_the_styled_pages_unless_a_developer_turns_debug_on() -> None:
    assert _local_debug() == "False"
    assert _local_debug(DJANGO_DEBUG="1") == "True"
