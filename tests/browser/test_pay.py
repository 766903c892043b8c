"""Paying a payment link in a real browser, against the sandbox's card form and 3-D Secure page.

Every request the browser makes (page and iframes) is recorded: the card number must reach the
processor's origin and never Ledgerline's. Afterwards `pan_scan` over the database and the
server log captured during the test must find no card number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from django.core.management import call_command

from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience
from payments.models import Payment, PaymentLink
from payments.services import merchant_connect_account_ensure
from tests.browser.proxy import assert_read_as_a_sentence, posts_answered_by_a_proxy_error
from tests.browser.support import BROWSER_TEST
from tests.factories import MerchantFactory
from tests.payments.factories import PaymentLinkFactory

pytestmark = BROWSER_TEST

VISA = "4242 4242 4242 4242"
THREE_D_SECURE = "4000 0025 0000 3155"
DECLINED = "4000 0000 0000 0002"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def processor(settings, sandbox) -> Iterator[Any]:
    """The live server pays against this sandbox (the settings fixture applies to its thread)."""
    settings.STRIPE_API_BASE = sandbox.url
    settings.STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    yield sandbox
    stripe_client_module.clear_client_cache()


@pytest.fixture
def link(processor) -> PaymentLink:
    merchant = MerchantFactory(legal_name="Corner Shop Ltd", country="GB", default_currency="gbp")
    merchant_connect_account_ensure(merchant=merchant)
    return PaymentLinkFactory(
        merchant=merchant, amount=2500, currency="gbp", description="Annual subscription"
    )


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[Path]:
    """Everything the server logs during the test, unmasked (before any masking filter)."""
    path = tmp_path / "server.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


@dataclass(frozen=True)
class Seen:
    url: str
    method: str
    headers: dict[str, str]
    body: str


@pytest.fixture
def requests_seen(page) -> list[Seen]:
    seen: list[Seen] = []

    def record(request: Any) -> None:
        try:
            body = request.post_data or ""
        except (UnicodeDecodeError, ValueError):
            body = (request.post_data_buffer or b"").decode("latin-1")
        seen.append(Seen(request.url, request.method, dict(request.headers), body))

    page.on("request", record)
    return seen


@dataclass(frozen=True)
class Checkout:
    """One customer's browser on one link, with what it sent and what the server logged."""

    page: Any
    live_url: str
    processor_url: str
    link: PaymentLink
    screenshot: Any
    seen: list[Seen]
    log: Path

    def open(self) -> None:
        self.page.goto(f"{self.live_url}/pay/{self.link.token}/")

    def assert_number_never_reached_ledgerline(self, number: str) -> None:
        _assert_number_never_reached_ledgerline(
            self.seen, self.live_url, self.processor_url, number
        )
        # pan_scan over the whole database and this test's server log finds nothing (exit 0).
        call_command("pan_scan", str(self.log))


@pytest.fixture
def shop(request: pytest.FixtureRequest, link: PaymentLink, processor: Any) -> Checkout:
    fixture = request.getfixturevalue
    return Checkout(
        page=fixture("page"),
        live_url=fixture("live_server").url,
        processor_url=processor.url,
        link=link,
        screenshot=fixture("screenshot"),
        seen=fixture("requests_seen"),
        log=fixture("server_log"),
    )


def _carries(text: str, number: str) -> bool:
    """The number in `text` as typed, without spaces, with dashes, or URL-encoded."""
    digits = number.replace(" ", "")
    decoded = unquote_plus(text)
    forms = {digits, number, number.replace(" ", "-")}
    if any(form in text or form in decoded for form in forms):
        return True
    # Any separators at all between the digits (e.g. "4242.4242"): compare digit runs only.
    return digits in re.sub(r"\D", "", decoded)


def _request_text(seen: Seen) -> list[str]:
    return [seen.url, seen.body, *(f"{k}: {v}" for k, v in seen.headers.items())]


def _assert_number_never_reached_ledgerline(
    seen: list[Seen], live_url: str, processor_url: str, number: str
) -> None:
    ours = [s for s in seen if s.url.startswith(live_url)]
    assert ours, "the browser must have talked to Ledgerline"
    for request in ours:
        for part in _request_text(request):
            assert not _carries(part, number), f"card number sent to Ledgerline: {request.url}"
    # The check can fail: the recorder does see the number, on its way to the processor.
    carrying = [s for s in seen if any(_carries(p, number) for p in _request_text(s))]
    assert carrying, "the card number should have been posted to the processor"
    assert all(s.url.startswith(f"{processor_url}/v1/payment_methods") for s in carrying)


def _type_card(page: Any, number: str) -> None:
    frame = page.frame_locator("iframe[name^='ll-card']")
    frame.locator("#number").press_sequentially(number)
    frame.locator("#exp").press_sequentially("1234")
    frame.locator("#cvc").press_sequentially("123")


def _pay(page: Any) -> None:
    button = page.get_by_role("button", name="Pay £25.00")
    page.wait_for_function("!document.getElementById('pay-button').disabled")
    button.click()


def _assert_receipt(page: Any, link: PaymentLink, last4: str = "4242") -> Payment:
    page.get_by_role("heading", name="Payment successful").wait_for()
    payment = Payment.objects.get(payment_link=link, status="succeeded")
    receipt = page.locator("dl.receipt").inner_text()
    assert "£25.00" in receipt
    assert "Corner Shop Ltd" in receipt
    assert f"Visa ending in {last4}" in receipt
    assert payment.public_id in receipt
    return payment


def test_paying_with_a_card_shows_a_receipt(shop: Checkout) -> None:
    """4242: card typed into the processor's iframe, receipt shown, link closed, and the
    number never reached Ledgerline, its database or its log."""
    page, link = shop.page, shop.link
    shop.open()
    assert page.get_by_role("heading", name="£25.00").is_visible()
    assert page.get_by_text("Annual subscription").is_visible()
    shop.screenshot("form")
    _type_card(page, VISA)
    _pay(page)
    _assert_receipt(page, link)
    shop.screenshot("receipt")
    link.refresh_from_db()
    assert link.completed_at is not None
    shop.open()
    assert page.get_by_text("already been paid").is_visible()
    shop.assert_number_never_reached_ledgerline(VISA)


def test_three_d_secure_approved_shows_a_receipt(shop: Checkout) -> None:
    page, link = shop.page, shop.link
    shop.open()
    _type_card(page, THREE_D_SECURE)
    _pay(page)
    page.wait_for_url(f"{shop.processor_url}/stripe/3ds/**")
    shop.screenshot("challenge")
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{shop.live_url}/pay/{link.token}/status/**")
    payment = _assert_receipt(page, link, last4="3155")
    assert payment.card_last4 == "3155"
    shop.screenshot("receipt")
    shop.assert_number_never_reached_ledgerline(THREE_D_SECURE)


def test_failed_three_d_secure_is_a_clear_decline_and_another_card_succeeds(
    shop: Checkout,
) -> None:
    page, link = shop.page, shop.link
    shop.open()
    _type_card(page, THREE_D_SECURE)
    _pay(page)
    page.wait_for_url(f"{shop.processor_url}/stripe/3ds/**")
    page.get_by_role("button", name="Fail authentication").click()
    page.wait_for_url(f"{shop.live_url}/pay/{link.token}/status/**")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "We could not authenticate your card" in alert.inner_text()
    shop.screenshot("authentication-failed")
    assert not Payment.objects.filter(payment_link=link, status="succeeded").exists()

    _type_card(page, VISA)
    _pay(page)
    _assert_receipt(page, link)
    shop.screenshot("receipt-after-retry")
    statuses = sorted(Payment.objects.filter(payment_link=link).values_list("status", flat=True))
    assert statuses == ["requires_payment_method", "succeeded"]
    shop.assert_number_never_reached_ledgerline(THREE_D_SECURE)
    shop.assert_number_never_reached_ledgerline(VISA)


def test_declined_card_shows_a_clear_retryable_message(shop: Checkout) -> None:
    page, link = shop.page, shop.link
    shop.open()
    _type_card(page, DECLINED)
    _pay(page)
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Your card was declined. Try another card." in alert.inner_text()
    # The form is back, ready for another card, on the same link.
    assert page.frame_locator("iframe[name^='ll-card']").locator("#number").is_visible()
    shop.screenshot("declined")
    payment = Payment.objects.get(payment_link=link)
    assert payment.status == "requires_payment_method"
    assert payment.decline_code == "generic_decline"
    shop.assert_number_never_reached_ledgerline(DECLINED)


def test_a_server_answer_that_is_not_ours_becomes_a_human_message_then_paying_again_works(
    shop: Checkout,
) -> None:
    """A proxy's 502 HTML page, then no answer at all: the customer reads a sentence (never
    HTML or a script error), the button comes back, and the next press pays exactly once."""
    page, link = shop.page, shop.link
    pay_url = f"{shop.live_url}/pay/{link.token}/"
    shop.open()
    _type_card(page, VISA)
    posts_answered_by_a_proxy_error(page, pay_url)
    _pay(page)
    alert = page.locator("#pay-error")
    alert.wait_for(state="visible")
    assert_read_as_a_sentence(alert.inner_text())
    assert "press Pay again" in alert.inner_text()
    shop.screenshot("502")

    page.unroute(pay_url)
    page.route(
        pay_url,
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    _pay(page)
    page.locator("#pay-error-text", has_text="could not reach our server").wait_for()
    page.unroute(pay_url)
    _pay(page)
    _assert_receipt(page, link)
    assert Payment.objects.filter(payment_link=link).count() == 1
