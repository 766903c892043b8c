"""The Stripe micro-deposit fallback in a real browser: a customer whose Plaid micro-deposits
failed opens the bank-link page, chooses Stripe, types the account into the sandbox's Stripe
form (an iframe on the processor's origin), returns with Stripe's code, and the account is
verified. The account number reaches only the processor, never Ledgerline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from banking.models import StripeBankVerification, VerificationState
from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience
from tests.banking.linking import PlaidSandbox, running_sandbox
from tests.banking.test_stripe_fallback import plaid_failed_account
from tests.browser.support import BROWSER_TEST

pytestmark = BROWSER_TEST

ACCOUNT_NUMBER = "000123456789"  # Stripe's ACH test account; linked with Plaid first (same last 4)


@pytest.fixture(scope="module")
def both() -> Iterator[PlaidSandbox]:
    with running_sandbox() as running:
        yield running


@pytest.fixture
def processors(settings: Any, both: PlaidSandbox) -> Iterator[PlaidSandbox]:
    """The live server talks to one sandbox for Plaid and Stripe (as production talks to both)."""
    settings.PLAID_API_BASE = both.url
    settings.STRIPE_API_BASE = both.url
    settings.STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    yield both
    stripe_client_module.clear_client_cache()


def test_customer_verifies_a_failed_account_with_stripe(
    processors: PlaidSandbox, page: Any, live_server: Any, screenshot: Any
) -> None:
    new, account = plaid_failed_account(processors, ACCOUNT_NUMBER)
    seen: list[tuple[str, str]] = []
    page.on("request", lambda request: seen.append((request.url, request.post_data or "")))
    page.goto(f"{live_server.url}{new.path}")
    page.get_by_role("link", name="Verify it with Stripe instead").click()
    page.get_by_role("heading", name="Verify your bank account with Stripe").wait_for()
    page.wait_for_function("!document.getElementById('fallback-button').disabled")
    screenshot("offer")
    page.get_by_role("button", name="Enter bank details with Stripe").click()

    form = page.frame_locator("iframe[name='ll-bank-account']")
    form.locator("#routing").fill("110000000")
    form.locator("#account").fill(ACCOUNT_NUMBER)
    form.locator("#confirm").fill(ACCOUNT_NUMBER)
    screenshot("stripe-form")
    form.get_by_role("button", name="Accept and continue").click()

    page.get_by_label("Code from the deposit's description").wait_for()
    assert "ending in 6789" in page.content()
    page.get_by_label("Code from the deposit's description").fill("SM00XX")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("9 attempts left").first.wait_for()
    page.get_by_label("Code from the deposit's description").fill("SM11AA")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Stripe verified this account").wait_for()
    screenshot("verified")

    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED
    assert account.verified_by == "stripe"
    verification = StripeBankVerification.objects.get(bank_account=account)
    assert verification.code_attempts == 1
    ours = [(url, body) for url, body in seen if url.startswith(live_server.url)]
    assert ours
    for url, body in ours:
        assert ACCOUNT_NUMBER not in unquote_plus(url + body), f"account number sent to {url}"
    carrying = [url for url, body in seen if ACCOUNT_NUMBER in unquote_plus(body)]
    assert carrying, "the account number should have been posted to the processor"
    assert all(url == f"{processors.url}/v1/payment_methods" for url in carrying)
