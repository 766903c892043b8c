"""`/api/docs/` in a real browser: renders every operation under the strict CSP, reaching for
nothing on another origin (issue 13 item 8, issue 14 item 6).

drf-spectacular's own page preconnected to and loaded Google Fonts and started Redoc from an
inline script the CSP refuses: the page stayed blank.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser.support import BROWSER_TEST

pytestmark = BROWSER_TEST

OPERATIONS = ("payments_create", "customers_list", "bank_accounts_retrieve", "events_list")


def test_api_docs_render_every_operation_with_nothing_from_another_origin(
    page, live_server, screenshot
) -> None:
    origin = urlsplit(live_server.url).netloc
    console_errors: list[str] = []
    page_errors: list[str] = []
    foreign_requests: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    def note(request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != origin:
            foreign_requests.append(request.url)

    page.on("request", note)

    response = page.goto(f"{live_server.url}/api/docs/")
    assert response is not None
    assert response.status == 200
    assert "fonts.g" not in response.text()
    page.get_by_role("heading", name="Ledgerline API").first.wait_for()
    page.wait_for_load_state("networkidle")
    screenshot("rendered")

    for operation in OPERATIONS:
        assert page.locator(f"[id='operation/{operation}']").count() == 1, operation
    menu_items = page.locator("[role='menuitem']").count()
    assert menu_items >= 15  # one per operation, plus the tags
    assert foreign_requests == []
    assert page_errors == []
    assert console_errors == [], "\n".join(console_errors)
