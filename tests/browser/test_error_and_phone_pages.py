"""In a real browser: the styled 404 and 500 pages, and dashboard tables that scroll sideways
inside their box on a phone-width screen instead of running off it."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role
from payments import public_views
from tests.browser.support import BROWSER_TEST
from tests.factories import member, verified_client
from tests.payments.factories import (
    CustomerFactory,
    InboundEventFactory,
    PaymentFactory,
    PaymentLinkFactory,
)

pytestmark = BROWSER_TEST


def _assert_site_look(page: Any) -> None:
    """The page uses the site's stylesheet: its card is white on the site's background."""
    card = page.locator(".error-card")
    assert card.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 255, 255)"
    body = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert body == "rgb(248, 250, 252)"
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/img/favicon.svg"


def test_an_unknown_address_shows_the_styled_404(page: Any, live_server: Any, screenshot) -> None:
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    page.get_by_role("heading", name="This page does not exist").wait_for()
    _assert_site_look(page)
    screenshot("404")


def test_a_server_failure_shows_the_styled_500(
    page: Any, live_server: Any, screenshot, monkeypatch
) -> None:
    """A customer on a payment page never sees a traceback: the styled page, with a reference."""
    link = PaymentLinkFactory()

    def broken(**kwargs: object) -> None:
        raise RuntimeError("database exploded at secret_table")

    monkeypatch.setattr(public_views, "payment_link_by_token", broken)
    response = page.goto(f"{live_server.url}/pay/{link.token}/")
    assert response.status == 500
    page.get_by_role("heading", name="Something went wrong on our side").wait_for()
    _assert_site_look(page)
    text = page.locator("body").inner_text()
    assert "secret_table" not in text
    assert "Traceback" not in text
    assert response.headers["x-request-id"] in text
    screenshot("500")


def _log_in(page: Any, live_server: Any, role: str = Role.OWNER) -> Any:
    membership = member(role)
    client = verified_client(membership.user, merchant=membership.merchant)
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": live_server.url}
            for name, morsel in client.cookies.items()
        ]
    )
    return membership.merchant


@pytest.mark.parametrize("path", ["/payments/", "/developers/", "/compliance/"])
def test_tables_scroll_inside_their_box_on_a_phone(
    browser: Any, live_server: Any, path: str, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800}, is_mobile=True)
    phone = context.new_page()
    try:
        merchant = _log_in(phone, live_server)
        customer = CustomerFactory(merchant=merchant, email="a.very.long.address@example.test")
        for _ in range(3):
            PaymentFactory(merchant=merchant, customer=customer, description="x" * 40)
        InboundEventFactory(merchant=merchant)
        phone.goto(f"{live_server.url}{path}")
        phone.locator("table").first.wait_for()
        overflow = phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
        wrap = phone.locator(".table-wrap").first
        assert wrap.evaluate("el => getComputedStyle(el).overflowX") == "auto"
        assert wrap.evaluate("el => el.getBoundingClientRect().right") <= 375
        if path == "/payments/":
            # The payments table is wider than a phone: it scrolls inside its box.
            assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
            # Public ids are shown exactly as they are (no upper-casing by CSS).
            first_id = phone.locator("tbody th[scope=row] code").first
            assert first_id.inner_text().startswith("pay_")
            assert first_id.inner_text() == first_id.text_content()
            phone.screenshot(path=str(_screenshot_path(request, "phone")), full_page=True)
    finally:
        context.close()


def _screenshot_path(request: pytest.FixtureRequest, step: str) -> Any:
    from tests.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{request.node.name.replace('/', '_')}-{step}.png"
