"""Walks the whole URLconf: every dashboard and admin URL refuses an anonymous session and a
password-only (not OTP-verified) session, so views added later are covered automatically.

Public views are the exception and must be named in PUBLIC_VIEWS; a new public view that is
not listed there fails this test until someone decides, on purpose, that it is public.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch
from django.utils import timezone
from rest_framework.views import APIView

from accounts import session_security
from accounts.models import Membership, Merchant, User
from accounts.roles import Role

# Views anyone may reach without logging in, by URL name.
PUBLIC_VIEWS = {
    "healthz",
    "readyz",
    "accounts:login",
    "accounts:invite_accept",
    "accounts:enrolment_link",
    "admin:login",
    "api-schema",
    "api-docs",
    "pay",
    "pay-status",
    "bank-link",
    "bank-link-stripe-fallback",
    "webhooks-stripe",
    "webhooks-plaid",
    "webhooks-braintree",
}
# Views a logged-in user reaches before proving an OTP: enrolling or proving one, leaving.
PASSWORD_ONLY_VIEWS = {
    "accounts:mfa_enroll",
    "accounts:mfa_verify",
    "accounts:logout",
}
_SAMPLE_VALUES: dict[str, Any] = {
    "IntConverter": 1,
    "StringConverter": "x",
    "SlugConverter": "x",
    "UUIDConverter": uuid.UUID(int=1),
    "PathConverter": "x",
}


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    callback: Any
    namespaces: tuple[str, ...]


def _sample_kwargs(pattern: URLPattern | URLResolver) -> list[dict[str, Any]]:
    converters = getattr(pattern.pattern, "converters", {})
    if converters:
        return [{k: _SAMPLE_VALUES.get(type(c).__name__, "x") for k, c in converters.items()}]
    groups = list(pattern.pattern.regex.groupindex)
    if not groups:
        return [{}]
    return [dict.fromkeys(groups, value) for value in ("x", "1", "accounts", "auth")]


def _walk(
    patterns: list[Any], namespaces: tuple[str, ...] = (), kwargs: dict[str, Any] | None = None
) -> Iterator[tuple[URLPattern, tuple[str, ...], list[dict[str, Any]]]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, inner)
        else:
            yield entry, namespaces, _sample_kwargs(entry)


def _routes() -> list[Route]:
    routes: list[Route] = []
    for pattern, namespaces, candidates in _walk(get_resolver().url_patterns):
        if not pattern.name:
            # Only the admin's catch-all is unnamed; our own views all carry names.
            assert "admin" in namespaces, f"unnamed URL pattern {pattern.pattern}"
            continue
        name = ":".join((*namespaces, pattern.name))
        for kwargs in candidates:
            try:
                path = reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
            routes.append(Route(name, path, pattern.callback, namespaces))
            break
        else:
            pytest.fail(f"cannot build a sample URL for {name}")
    return routes


ROUTES = _routes()


def _is_api(route: Route) -> bool:
    view_class = getattr(route.callback, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def _is_public(route: Route) -> bool:
    return not getattr(route.callback, "login_required", True)


DASHBOARD = [
    r for r in ROUTES if not _is_api(r) and not _is_public(r) and "admin" not in r.namespaces
]
# Logging out reveals nothing and changes nothing for a session that is not logged in.
ADMIN = [
    r for r in ROUTES if "admin" in r.namespaces and not _is_public(r) and r.name != "admin:logout"
]
API = [r for r in ROUTES if _is_api(r) and r.name not in PUBLIC_VIEWS]


def _ids(routes: list[Route]) -> list[str]:
    return [f"{r.name} {r.path}" for r in routes]


def test_walk_found_the_dashboard_and_the_admin() -> None:
    names = {r.name for r in ROUTES}
    assert {"home", "team:list", "compliance:home", "admin:index"} <= names
    assert len(ADMIN) > 10


def test_every_public_view_is_listed_on_purpose() -> None:
    # DRF marks every API view login_not_required: API keys guard them (tested below).
    public = {r.name for r in ROUTES if _is_public(r) and not _is_api(r)}
    unexpected = public - PUBLIC_VIEWS
    assert not unexpected, f"views open to anonymous users but not in PUBLIC_VIEWS: {unexpected}"


@pytest.fixture
def password_only_client(db: None) -> Client:
    """Logged in with the right password, but no OTP proven in this session."""
    user = User.objects.create_user("walker@example.test", "a long password 123")
    user.is_staff = user.is_superuser = True
    user.save()
    merchant = Merchant.objects.create(
        slug="walk", legal_name="Walk Ltd", country="GB", default_currency="gbp"
    )
    Membership.objects.create(user=user, merchant=merchant, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    session = client.session
    now = timezone.now().isoformat()
    session[session_security.AUTHENTICATED_AT] = session[session_security.LAST_SEEN_AT] = now
    session.save()
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("route", DASHBOARD, ids=_ids(DASHBOARD))
@pytest.mark.parametrize("method", ["get", "post"])
def test_dashboard_url_refuses_anonymous(client: Client, route: Route, method: str) -> None:
    response = getattr(client, method)(route.path)
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("route", DASHBOARD, ids=_ids(DASHBOARD))
@pytest.mark.parametrize("method", ["get", "post"])
def test_dashboard_url_refuses_password_only_session(
    password_only_client: Client, route: Route, method: str
) -> None:
    if route.name in PASSWORD_ONLY_VIEWS:
        pytest.skip("reachable before OTP by design (enrollment, verification, logout)")
    response = getattr(password_only_client, method)(route.path)
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(
        (reverse("accounts:mfa_enroll"), reverse("accounts:mfa_verify"))
    )


@pytest.mark.django_db
@pytest.mark.parametrize("route", ADMIN, ids=_ids(ADMIN))
def test_admin_url_refuses_anonymous(client: Client, route: Route) -> None:
    response = client.get(route.path)
    assert response.status_code in (302, 405), response.status_code
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("route", ADMIN, ids=_ids(ADMIN))
def test_admin_url_refuses_password_only_staff(password_only_client: Client, route: Route) -> None:
    response = password_only_client.get(route.path)
    assert response.status_code in (302, 405), response.status_code
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
@pytest.mark.parametrize("route", API, ids=_ids(API))
def test_api_url_refuses_requests_without_a_key(client: Client, route: Route) -> None:
    response = client.get(route.path)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["type"] == "authentication_error"


# Public pages that take a secret in the URL: a made-up secret reveals and grants nothing,
# for an anonymous visitor and for a password-only session alike.
SECRET_LINK_VIEWS = ["accounts:enrolment_link", "accounts:invite_accept"]


@pytest.mark.parametrize("name", SECRET_LINK_VIEWS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_secret_link_pages_refuse_a_made_up_token(
    client: Client, password_only_client: Client, name: str, method: str
) -> None:
    path = reverse(name, args=["made-up-token"])
    for visitor in (client, password_only_client):
        response = getattr(visitor, method)(path, {"password": "a long password 123"})
        assert response.status_code == 404, (name, response.status_code)
        assert "<svg" not in response.content.decode()
    assert "_auth_user_id" not in client.session
