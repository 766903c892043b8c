"""A reverse proxy that fails: what the public pages' scripts must turn into a sentence."""

from __future__ import annotations

from typing import Any

PROXY_502 = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"


def posts_answered_by_a_proxy_error(page: Any, url: str) -> None:
    """From now on a POST to `url` gets a proxy's HTML 502 page; other requests go through."""

    def answer(route: Any) -> None:
        if route.request.method == "POST":
            route.fulfill(status=502, content_type="text/html", body=PROXY_502)
        else:
            route.continue_()

    page.route(url, answer)


def assert_read_as_a_sentence(message: str) -> None:
    """What the customer read says what happened, in words: no HTML, nothing of the 502 page."""
    assert "Our server had a problem answering (error 502)." in message
    assert "<" not in message
    assert "Bad Gateway" not in message
    assert "JSON" not in message
