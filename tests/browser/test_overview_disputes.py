"""The overview at desktop and phone width, and answering a dispute with a document, in a real
browser against the sandbox. Screenshots are kept under var/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.roles import Role
from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience
from payments.models import DisputeStatus
from payments.services import merchant_connect_account_ensure
from tests.browser.support import BROWSER_TEST
from tests.conftest import SCREENSHOTS
from tests.factories import member, verified_client
from tests.payments.conftest import SECRET_KEY, SandboxControl
from tests.payments.dispute_support import PDF, disputed_payment, processor_dispute, processor_files
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = BROWSER_TEST

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def processor(settings, sandbox) -> Iterator[SandboxControl]:
    """The live server talks to this sandbox (the settings fixture applies to its thread)."""
    settings.STRIPE_API_BASE = sandbox.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    yield SandboxControl(sandbox.url)
    stripe_client_module.clear_client_cache()


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


def _history(merchant: Any) -> None:
    now = timezone.now()
    customer = CustomerFactory(merchant=merchant, email="ada@example.test")
    for days, amount in ((0, 12_500), (1, 4_000), (3, 250_000), (5, 9_900), (9, 30_000)):
        PaymentFactory(
            merchant=merchant, customer=customer, amount=amount, created_at=now - timedelta(days)
        )


def _overview_checks(page: Any, width: int) -> None:
    chart = page.locator("svg.chart-svg")
    chart.wait_for()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    box = chart.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width
    # Axis labels stay legible: at least 9 CSS pixels tall at this width.
    tick = page.locator("svg.chart-svg text").first
    tick_box = tick.bounding_box()
    assert tick_box is not None
    assert tick_box["height"] >= 9, tick_box
    assert page.get_by_text("Gross volume", exact=True).first.is_visible()
    assert (
        page.locator("svg.chart-svg desc").text_content().startswith("Gross volume per day in GBP:")
    )
    assert page.locator(".metric").count() == 6


def test_the_overview_at_desktop_and_phone_width(
    browser: Any, page: Any, live_server: Any, screenshot: Any, request: pytest.FixtureRequest
) -> None:
    cache.clear()
    merchant = _log_in(page, live_server)
    merchant.default_currency = "gbp"
    merchant.save(update_fields=["default_currency"])
    _history(merchant)
    page.goto(f"{live_server.url}/?period=7d")
    _overview_checks(page, 1280)
    assert page.locator(".metric .metric-value").first.inner_text() == "£2,764.00"
    screenshot("desktop")

    context = browser.new_context(viewport=PHONE, is_mobile=True)
    phone = context.new_page()
    try:
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{live_server.url}/?period=7d")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-phone.png"), full_page=True)
        _overview_checks(phone, PHONE["width"])
    finally:
        context.close()


def test_submitting_dispute_evidence_with_a_file(
    page: Any, live_server: Any, screenshot: Any, processor: SandboxControl, tmp_path: Any
) -> None:
    merchant = _log_in(page, live_server)
    merchant.default_currency = "gbp"
    merchant.country = "GB"
    merchant.save(update_fields=["default_currency", "country"])
    merchant_connect_account_ensure(merchant=merchant)
    dispute = disputed_payment(merchant, processor)

    page.goto(f"{live_server.url}/disputes/")
    page.get_by_role("link", name=dispute.public_id).click()
    page.get_by_label("Product or service description").fill("A hand-made lamp, delivered")
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(PDF)
    page.get_by_label("Receipt").set_input_files(str(receipt))
    screenshot("filled")
    page.get_by_role("button", name="Submit evidence").click()
    page.get_by_text("Evidence submitted.").wait_for()
    assert page.locator("h1 .badge").inner_text() == "Under review"
    assert page.get_by_text("no copy kept").is_visible()
    screenshot("submitted")

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW
    at_processor = processor_dispute(processor, dispute)
    assert at_processor["evidence_details"]["submission_count"] == 1
    [uploaded] = processor_files(processor, dispute)
    assert at_processor["evidence"]["receipt"] == uploaded["id"]
