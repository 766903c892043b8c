"""The favicon is ours and local: the SVG every page links, and /favicon.ico for the rest."""

from __future__ import annotations

from django.test import Client


def test_favicon_ico_is_served_from_the_site_root() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")


def test_pages_link_the_vendored_svg_icon() -> None:
    response = Client().get("/accounts/login/")
    assert 'rel="icon" href="/static/img/favicon.svg"' in response.content.decode()
    assert Client().get("/static/img/favicon.svg").status_code == 200
