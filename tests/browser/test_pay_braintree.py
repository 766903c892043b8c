"""Paying through Braintree in a real browser: its stand-in Drop-in / Hosted Fields served from
the sandbox's origin, and failover from Stripe when Stripe's breaker is open.

Every request the browser makes is recorded: the card number goes only to the processor's
client API on its own origin, never to Ledgerline; `pan_scan` over the database and the
server log captured during the test finds no card number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command

from compliance.actors import Actor
from payments import routing
from payments.gateways import braintree
from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience as stripe_resilience
from payments.models import Payment, PaymentLink
from payments.services import braintree_account_connect, merchant_connect_account_ensure
from tests.browser.support import BROWSER_TEST
from tests.browser.test_pay import (  # the recorder and fixtures of the Stripe pay tests
    Seen,
    _carries,
    _request_text,
    requests_seen,
    server_log,
)
from tests.factories import MerchantFactory
from tests.payments.factories import PaymentLinkFactory

pytestmark = BROWSER_TEST
__all__ = ["requests_seen", "server_log"]  # fixtures this module uses

CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def processors(settings: Any, sandbox: Any) -> Iterator[Any]:
    """Stripe and Braintree are both this sandbox for the live server (same process)."""
    settings.STRIPE_API_BASE = sandbox.url
    settings.STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
    settings.BRAINTREE_API_BASE = sandbox.url
    stripe_client_module.clear_client_cache()
    braintree.clear_client_cache()
    stripe_resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    braintree.breaker_reset()
    routing.processor_outage_marks_forget()
    yield sandbox
    stripe_resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    braintree.breaker_reset()
    stripe_client_module.clear_client_cache()
    braintree.clear_client_cache()


def _merchant_on(primary: str, secondary: str | None) -> Any:
    merchant = MerchantFactory(legal_name="Corner Shop Inc", country="US", default_currency="usd")
    if "stripe" in (primary, secondary):
        merchant_connect_account_ensure(merchant=merchant)
    braintree_account_connect(
        merchant=merchant,
        merchant_id="ledgerline_sandbox_merchant",
        public_key="ledgerline_sandbox_public",
        private_key="ledgerline_sandbox_private",
        actor=Actor.system("tests"),
    )
    routing.processor_routing_set(
        merchant=merchant, primary=primary, secondary=secondary, actor=Actor.system("tests")
    )
    return merchant


def _link(merchant: Any) -> PaymentLink:
    return PaymentLinkFactory(
        merchant=merchant, amount=2500, currency="usd", description="Annual subscription"
    )


@dataclass(frozen=True)
class Browser:
    """One customer's browser, with what it sent and what the server logged."""

    page: Any
    live_url: str
    screenshot: Any
    seen: list[Seen]
    log: Any


@pytest.fixture
def customer(request: pytest.FixtureRequest, processors: Any) -> Browser:
    fixture = request.getfixturevalue
    return Browser(
        page=fixture("page"),
        live_url=fixture("live_server").url,
        screenshot=fixture("screenshot"),
        seen=fixture("requests_seen"),
        log=fixture("server_log"),
    )


def _pay_through_braintree(customer: Browser, link: PaymentLink) -> None:
    page, screenshot = customer.page, customer.screenshot
    page.goto(f"{customer.live_url}/pay/{link.token}/")
    frame = page.frame_locator("iframe[title='Secure card payment input frame']")
    frame.locator("#number").press_sequentially(CARD)
    frame.locator("#expiration").press_sequentially("12/30")
    frame.locator("#cvv").press_sequentially("123")
    screenshot("braintree-form")
    page.wait_for_function("!document.getElementById('pay-button').disabled")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_role("heading", name="Payment successful").wait_for()
    screenshot("receipt")


def _assert_card_went_only_to_braintree(customer: Browser, processor_url: str) -> None:
    seen, live_url = customer.seen, customer.live_url
    ours = [s for s in seen if s.url.startswith(live_url)]
    assert ours, "the browser must have talked to Ledgerline"
    for request in ours:
        for part in _request_text(request):
            assert not _carries(part, CARD), f"card number sent to Ledgerline: {request.url}"
    carrying = [s for s in seen if any(_carries(p, CARD) for p in _request_text(s))]
    assert carrying, "the card number should have been posted to the processor"
    assert all(
        s.url.startswith(f"{processor_url}/merchants/")
        and s.url.endswith("/client_api/v1/payment_methods/credit_cards")
        for s in carrying
    )
    call_command("pan_scan", str(customer.log))


def test_a_customer_pays_through_braintrees_card_form(processors: Any, customer: Browser) -> None:
    """Braintree primary: the page loads Braintree's stand-in Drop-in from the processor's
    origin, the card becomes a nonce there, and the payment is Braintree's."""
    link = _link(_merchant_on("braintree", None))
    _pay_through_braintree(customer, link)
    payment = Payment.objects.get(payment_link=link)
    assert payment.processor == "braintree"
    assert payment.status == "succeeded"
    assert payment.card_last4 == "1111"
    assert payment.public_id in customer.page.locator("dl.receipt").inner_text()
    _assert_card_went_only_to_braintree(customer, processors.url)


def test_with_stripes_breaker_open_a_customer_pays_through_braintree(
    processors: Any, customer: Browser
) -> None:
    """Stripe primary, Braintree secondary, Stripe's breaker forced open: the page renders
    Braintree's form instead, the customer pays, and Stripe is never asked to charge."""
    merchant = _merchant_on("stripe", "braintree")
    link = _link(merchant)
    stripe_resilience.breaker().open()
    _pay_through_braintree(customer, link)
    payment = Payment.objects.get(payment_link=link)
    assert payment.processor == "braintree"
    assert payment.status == "succeeded"
    assert not any("/v1/payment_intents" in s.url for s in customer.seen)
    assert not any(s.url.startswith(f"{processors.url}/v3/") for s in customer.seen), (
        "Stripe.js must not even load while Stripe is down"
    )
    _assert_card_went_only_to_braintree(customer, processors.url)


def _type_braintree_card(customer: Browser, link: PaymentLink, number: str) -> None:
    page = customer.page
    page.goto(f"{customer.live_url}/pay/{link.token}/")
    frame = page.frame_locator("iframe[title='Secure card payment input frame']")
    frame.locator("#number").press_sequentially(number)
    frame.locator("#expiration").press_sequentially("12/30")
    frame.locator("#cvv").press_sequentially("123")
    page.wait_for_function("!document.getElementById('pay-button').disabled")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def test_three_d_secure_in_braintrees_client_flow(processors: Any, customer: Browser) -> None:
    """A challenge card opens the issuer's page over the pay page (Braintree's client flow);
    failing it charges nothing and says so, approving it pays."""
    link = _link(_merchant_on("braintree", None))
    page = customer.page
    challenge = page.frame_locator("iframe[title='3-D Secure authentication']")
    _type_braintree_card(customer, link, "4000 0000 0000 1091")
    challenge.get_by_role("button", name="Fail authentication").click()
    page.get_by_text("We could not authenticate your card").wait_for()
    assert not Payment.objects.filter(payment_link=link).exists()
    customer.screenshot("3ds-failed")
    _type_braintree_card(customer, link, "4000 0000 0000 1091")
    challenge.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("heading", name="Payment successful").wait_for()
    payment = Payment.objects.get(payment_link=link)
    assert (payment.processor, payment.status, payment.card_last4) == (
        "braintree",
        "succeeded",
        "1091",
    )
