"""Security headers on every response: strict CSP with nonces, framing, sniffing, referrer."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.fixture
def login_page(client: Client):  # type: ignore[no-untyped-def]
    return client.get("/accounts/login/")


def _directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.django_db
def test_csp_scripts_need_a_nonce_and_never_inline(login_page) -> None:  # type: ignore[no-untyped-def]
    csp = _directives(login_page["Content-Security-Policy"])
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    # django-csp adds the nonce only to pages that render a script with it.
    for source in csp["script-src"]:
        assert source == "'self'" or re.fullmatch(r"'nonce-[A-Za-z0-9+/=_-]+'", source)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["style-src"]


@pytest.mark.django_db
def test_other_security_headers(login_page) -> None:  # type: ignore[no-untyped-def]
    assert login_page["X-Content-Type-Options"] == "nosniff"
    assert login_page["X-Frame-Options"] == "DENY"
    assert login_page["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in login_page["Permissions-Policy"]
    assert login_page["Cross-Origin-Opener-Policy"] == "same-origin"
    assert login_page["X-Request-Id"].startswith("req_")


@pytest.mark.django_db
def test_well_formed_request_id_from_proxy_is_kept_and_garbage_is_replaced(client: Client) -> None:
    kept = client.get("/healthz", headers={"X-Request-Id": "abc-123_def.456"})
    assert kept["X-Request-Id"] == "abc-123_def.456"
    replaced = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert replaced["X-Request-Id"].startswith("req_")


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_httponly_and_lax(client: Client) -> None:
    response = client.get("/accounts/login/")
    csrf = response.cookies["csrftoken"]
    assert csrf["httponly"]
    assert csrf["samesite"] == "Lax"
