"""Linking a bank account in a real browser, through every Plaid flow, against the sandbox.

The merchant creates the link on the Bank accounts page; the customer opens `/link/<token>/`
on the live server, which loads the sandbox's Link stand-in from the sandbox's origin. Plaid's
webhooks are signed by the sandbox and posted to the live server's `/webhooks/plaid/`, verified
there and applied by the pipeline (Celery eager). Every request the browser makes is recorded:
bank credentials and account numbers go only to the sandbox's origin. After each flow the
database and the server's log hold no access token and no full account number.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Merchant
from accounts.roles import Role
from banking import services
from banking.gateways.plaid.webhooks import key_cache_clear
from banking.models import BankAccount, PlaidItem, PlaidItemStatus, VerificationState
from tests.banking.linking import (
    AUTOMATED_ACCOUNT,
    AUTOMATED_ROUTING,
    CLIENT_ID,
    PASS_GOOD,
    PASS_MICRODEPOSITS,
    SAME_DAY_ACCOUNT,
    SAME_DAY_ROUTING,
    SECRET,
    USER_GOOD,
    database_text,
    new_customer,
)
from tests.browser.proxy import assert_read_as_a_sentence, posts_answered_by_a_proxy_error
from tests.browser.support import BROWSER_TEST
from tests.browser.test_pay import (  # noqa: F401 - fixtures shared with the payment tests
    Seen,
    requests_seen,
    sandbox,
    server_log,
)
from tests.factories import MerchantFactory, member, verified_client

pytestmark = BROWSER_TEST

MODAL = "iframe[name='plaid-link-iframe']"
# What the customer types into Link; none of it may reach Ledgerline.
TYPED = (PASS_GOOD, PASS_MICRODEPOSITS, AUTOMATED_ACCOUNT, SAME_DAY_ACCOUNT, SAME_DAY_ROUTING)


@pytest.fixture
def plaid(settings: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The live server (same process, so the settings fixture reaches it) uses the sandbox."""
    handle = request.getfixturevalue("sandbox")
    settings.PLAID_API_BASE = handle.url
    settings.PLAID_CLIENT_ID = CLIENT_ID
    settings.PLAID_SECRET = SECRET
    key_cache_clear()
    yield handle
    key_cache_clear()


@dataclass
class BankLink:
    """One merchant, one customer, one browser; what it sent and what the server logged."""

    page: Any
    live_url: str
    sandbox: Any
    screenshot: Any
    seen: list[Seen]
    log: Path
    customer_id: str
    link_url: str = ""

    @property
    def modal(self) -> Any:
        return self.page.frame_locator(MODAL)

    # --- the merchant ------------------------------------------------------------------------
    def merchant_creates_link(self) -> None:
        self.page.goto(f"{self.live_url}/bank-accounts/")
        self.page.get_by_label("Customer id (cus_...)").fill(self.customer_id)
        self.page.get_by_role("button", name="Create link").click()
        self.link_url = self.page.locator("#bank-link-url").input_value()
        assert self.link_url.startswith(f"{self.live_url}/link/")
        self.screenshot("merchant-link-created")

    def merchant_sees(self, account: BankAccount, label: str) -> None:
        self.page.goto(f"{self.live_url}/bank-accounts/")
        row = self.page.locator("tr", has_text=account.public_id)
        text = str(row.text_content())
        assert f"{account.name} ···{account.mask}" in text
        assert label in text

    # --- the customer ------------------------------------------------------------------------
    def open_link(self, button: str = "Link a bank account") -> None:
        """The customer's page, then Link (the modal from the sandbox's origin)."""
        self.page.goto(self.link_url)
        self.page.wait_for_function("!document.getElementById('link-button').disabled")
        self.page.get_by_role("button", name=button).click()
        self.modal.locator("#view h1").wait_for()

    def reopen_link(self, notice: str, text: str, shot: str, button: str) -> None:
        """The customer comes back through the same link: the page says why (the element
        `notice`), then the customer opens Link on the item with `button`."""
        self.page.goto(self.link_url)
        assert text in self.page.locator(notice).inner_text()
        self.screenshot(shot)
        self.open_link(button)

    def log_in(self, institution: str | None, password: str) -> None:
        if institution is not None:
            self.modal.get_by_role("button", name=institution).click()
        self.modal.locator("#username").fill(USER_GOOD)
        self.modal.locator("#password").fill(password)

    def finish(self, locator: Any) -> None:
        """Click the modal's last button: Link hands over, our page posts it and reloads."""
        with self.page.expect_navigation():
            locator.click()
        self.page.get_by_role("heading", name="Your linked bank account").wait_for()

    def badge(self) -> str:
        return str(self.page.locator(".bank-accounts .badge").inner_text())

    # --- Plaid's side ------------------------------------------------------------------------
    def webhooks_delivered(self, item: PlaidItem, *codes: str) -> None:
        """The sandbox signed and posted these webhooks and our endpoint took them (2xx)."""
        assert self.sandbox.control.wait_for_webhooks(timeout=15)
        delivered = [
            d["key"].split(":")[2]
            for d in self.sandbox.control.deliveries()
            if d["key"].startswith(f"plaid:{item.item_id}:") and d["outcome"] == "delivered"
        ]
        assert delivered == list(codes), self.sandbox.control.deliveries()

    def assert_no_secrets_leaked(self) -> None:
        ours = [s for s in self.seen if s.url.startswith(self.live_url)]
        assert ours, "the browser must have talked to Ledgerline"
        for request in ours:
            for typed in TYPED:
                assert typed not in request.url + request.body, request.url
        # The recorder does see what the customer typed, on its way to the sandbox only.
        carrying = [s for s in self.seen if any(t in s.body for t in TYPED)]
        assert carrying
        assert all(s.url.startswith(f"{self.sandbox.url}/plaid/link/api/") for s in carrying)
        tokens = [services.plaid_item_access_token(item=i) for i in PlaidItem.objects.all()]
        numbers = [
            a["account_number"]
            for i in PlaidItem.objects.all()
            for a in self.sandbox.control.plaid_item(i.item_id)["accounts"]
        ]
        stored, logged = database_text(), self.log.read_text(encoding="utf-8")
        for text in (stored, logged):
            assert "access-sandbox-" not in text
            for secret in (*tokens, *numbers):
                assert secret not in text


@pytest.fixture
def bank(request: pytest.FixtureRequest, plaid: Any, live_server: Any) -> BankLink:
    fixture = request.getfixturevalue
    merchant: Merchant = MerchantFactory.create(legal_name="Corner Shop Ltd")
    customer = new_customer(merchant=merchant)
    owner = member(Role.OWNER, merchant)
    session = verified_client(owner.user, merchant=merchant).cookies["sessionid"].value
    page = fixture("page")
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    return BankLink(
        page=page,
        live_url=live_server.url,
        sandbox=plaid,
        screenshot=fixture("screenshot"),
        seen=fixture("requests_seen"),
        log=fixture("server_log"),
        customer_id=customer.public_id,
    )


def _only_account() -> BankAccount:
    account: BankAccount = BankAccount.objects.select_related("item").get()
    return account


def _sandbox_call(bank: BankLink, path: str, item: PlaidItem, **body: Any) -> None:
    """Plaid's /sandbox/item/... endpoints, as a tester drives Plaid's own Sandbox."""
    request = urllib.request.Request(  # noqa: S310 - loopback sandbox
        f"{bank.sandbox.url}{path}",
        data=json.dumps(
            {
                "client_id": CLIENT_ID,
                "secret": SECRET,
                "access_token": services.plaid_item_access_token(item=item),
                **body,
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200


def _link_instant(bank: BankLink) -> None:
    bank.merchant_creates_link()
    bank.open_link()
    bank.screenshot("link-institutions")
    bank.log_in("First Platypus Bank", PASS_GOOD)
    bank.modal.locator("#submit-login").click()
    bank.modal.get_by_role("heading", name="Select an account").wait_for()
    bank.screenshot("link-select-account")
    bank.finish(bank.modal.locator("#continue"))


def test_instant_auth_links_a_verified_account_the_merchant_sees(bank: BankLink) -> None:
    _link_instant(bank)
    assert bank.badge() == VerificationState.VERIFIED.label
    assert "First Platypus Bank Plaid Checking" in bank.page.locator(".bank-accounts").inner_text()
    bank.screenshot("customer-linked")
    account = _only_account()
    assert account.verification_state == VerificationState.VERIFIED
    assert account.can_move_money
    bank.merchant_sees(account, VerificationState.VERIFIED.label)
    bank.screenshot("merchant-bank-accounts")
    bank.assert_no_secrets_leaked()


def _link_automated(bank: BankLink) -> BankAccount:
    bank.merchant_creates_link()
    bank.open_link()
    bank.log_in("Houndstooth Bank", PASS_MICRODEPOSITS)
    bank.modal.locator("#submit-login").click()
    bank.modal.locator("#continue").click()
    bank.modal.locator("#routing").fill(AUTOMATED_ROUTING)
    bank.modal.locator("#account").fill(AUTOMATED_ACCOUNT)
    bank.screenshot("link-account-numbers")
    bank.finish(bank.modal.locator("#submit-numbers"))
    assert bank.badge() == VerificationState.PENDING_AUTOMATIC.label
    assert "Small deposits are on their way" in bank.page.content()
    bank.screenshot("customer-pending-automatic")
    account = _only_account()
    assert account.verification_state == VerificationState.PENDING_AUTOMATIC
    assert not account.can_move_money
    return account


def _plaid_settles_deposits(bank: BankLink, account: BankAccount, status: str) -> None:
    _sandbox_call(
        bank,
        "/sandbox/item/set_verification_status",
        account.item,
        account_id=account.plaid_account_id,
        verification_status=status,
    )


@pytest.mark.parametrize(
    ("status", "code", "state"),
    [
        ("automatically_verified", "AUTOMATICALLY_VERIFIED", VerificationState.VERIFIED),
        ("verification_expired", "VERIFICATION_EXPIRED", VerificationState.EXPIRED),
    ],
    ids=["verified", "expired"],
)
def test_automated_micro_deposits_end_with_plaids_auth_webhook(
    bank: BankLink, status: str, code: str, state: VerificationState
) -> None:
    """Houndstooth Bank: pending until Plaid's AUTH webhook (signed by the sandbox, through
    /webhooks/plaid/ and the pipeline) says the deposit verified, or expired."""
    account = _link_automated(bank)
    _plaid_settles_deposits(bank, account, status)
    bank.webhooks_delivered(account.item, code)
    account.refresh_from_db()
    assert account.verification_state == state
    verified = state == VerificationState.VERIFIED
    assert bool(account.routing_fingerprint) is verified
    assert account.can_move_money is verified
    bank.page.goto(bank.link_url)
    assert bank.badge() == state.label
    bank.screenshot(f"customer-{state}-by-webhook")
    bank.merchant_sees(account, state.label)
    bank.assert_no_secrets_leaked()


def _link_same_day(bank: BankLink) -> BankAccount:
    bank.merchant_creates_link()
    bank.open_link()
    bank.modal.locator("#manual-entry").click()
    bank.modal.locator("#routing").fill(SAME_DAY_ROUTING)
    bank.modal.locator("#account").fill(SAME_DAY_ACCOUNT)
    bank.modal.locator("#name").fill("Pat Customer")
    bank.screenshot("link-manual-entry")
    bank.finish(bank.modal.locator("#submit-manual"))
    assert bank.badge() == VerificationState.PENDING_MANUAL.label
    assert "3 attempts left" in bank.page.content()
    bank.screenshot("customer-pending-manual")
    return _only_account()


def _enter_code(bank: BankLink, code: str) -> None:
    bank.open_link("Continue with your bank")
    bank.modal.get_by_role("heading", name="Verify your account").wait_for()
    bank.modal.locator("#code").fill(code)
    bank.modal.locator("#submit-code").click()


def test_same_day_wrong_codes_count_down_then_lock(bank: BankLink) -> None:
    account = _link_same_day(bank)
    # The customer comes back through the same link and enters two wrong codes before closing
    # Link: the page counts both, as Plaid does.
    _enter_code(bank, "XYZ")
    bank.modal.locator("#attempts").filter(has_text="2 attempts left").wait_for()
    bank.modal.locator("#code").fill("XYW")
    bank.modal.locator("#submit-code").click()
    bank.modal.locator("#attempts").filter(has_text="1 attempts left").wait_for()
    with bank.page.expect_navigation():
        bank.modal.get_by_role("button", name="Close").click()
    assert "1 attempt left" in bank.page.locator(".bank-accounts").inner_text()
    bank.screenshot("customer-1-attempt-left")
    _enter_code(bank, "QQQ")
    # Plaid locks the account; Link closes itself and the page shows the result.
    bank.page.locator(MODAL).wait_for(state="detached")
    bank.page.get_by_text(VerificationState.FAILED.label).wait_for()
    bank.screenshot("customer-locked")
    assert "Continue with your bank" not in bank.page.content()
    account.refresh_from_db()
    assert account.verification_state == VerificationState.FAILED
    bank.webhooks_delivered(account.item, "SMS_MICRODEPOSITS_VERIFICATION")
    bank.merchant_sees(account, VerificationState.FAILED.label)
    bank.assert_no_secrets_leaked()


def test_same_day_right_code_verifies(bank: BankLink) -> None:
    account = _link_same_day(bank)
    bank.open_link("Continue with your bank")
    bank.modal.locator("#code").fill("abc")
    bank.screenshot("link-enter-code")
    bank.finish(bank.modal.locator("#submit-code"))
    assert bank.badge() == VerificationState.VERIFIED.label
    bank.screenshot("customer-code-verified")
    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED
    assert account.can_move_money
    bank.webhooks_delivered(account.item, "SMS_MICRODEPOSITS_VERIFICATION")
    bank.merchant_sees(account, VerificationState.VERIFIED.label)
    bank.assert_no_secrets_leaked()


def test_a_login_error_is_repaired_in_update_mode_on_the_same_item(bank: BankLink) -> None:
    _link_instant(bank)
    account = _only_account()
    item = account.item
    # The bank asks the customer to log in again: Plaid's ITEM: ERROR reaches our endpoint.
    _sandbox_call(bank, "/sandbox/item/reset_login", item)
    bank.webhooks_delivered(item, "ERROR")
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.LOGIN_REQUIRED
    bank.merchant_sees(account, PlaidItemStatus.LOGIN_REQUIRED.label)
    bank.screenshot("merchant-login-required")
    # The customer reopens the same link: Link opens in update mode on the item's bank.
    bank.reopen_link(
        "#login-required",
        "Your bank needs you to sign in again",
        "customer-asked-to-sign-in-again",
        "Continue with your bank",
    )
    bank.modal.get_by_role("heading", name="Log in to First Platypus Bank").wait_for()
    bank.log_in(None, "pass_wrong")
    bank.modal.locator("#submit-login").click()
    bank.modal.locator("#error").filter(has_text="credentials").wait_for()
    bank.screenshot("link-update-mode-wrong-password")
    bank.log_in(None, PASS_GOOD)
    bank.finish(bank.modal.locator("#submit-login"))
    bank.screenshot("customer-repaired")
    assert bank.page.locator("#login-required").count() == 0
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.ACTIVE
    assert PlaidItem.objects.count() == 1
    assert list(BankAccount.objects.values_list("plaid_account_id", flat=True)) == [
        account.plaid_account_id
    ]
    bank.webhooks_delivered(item, "ERROR", "LOGIN_REPAIRED")
    bank.merchant_sees(account, PlaidItemStatus.ACTIVE.label)
    bank.assert_no_secrets_leaked()


def test_new_accounts_at_the_bank_are_shared_in_update_mode_with_account_select(
    bank: BankLink,
) -> None:
    """Plaid's ITEM: NEW_ACCOUNTS_AVAILABLE (signed by the sandbox, through /webhooks/plaid/
    and the pipeline) makes the customer's page offer Link's Account Select; the customer ticks
    the new account and both the page and the merchant's page show it."""
    _link_instant(bank)
    checking = _only_account()
    item = checking.item
    _sandbox_call(bank, "/sandbox/item/fire_webhook", item, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    bank.webhooks_delivered(item, "NEW_ACCOUNTS_AVAILABLE")
    item.refresh_from_db()
    assert item.new_accounts_available_at is not None
    bank.page.goto(f"{bank.live_url}/bank-accounts/")
    row = bank.page.locator("tr", has_text=checking.public_id)
    assert "New accounts available: send the customer their link again" in str(row.text_content())
    bank.screenshot("merchant-new-accounts-available")
    # The customer reopens the same link: the page offers to share, Link asks which accounts.
    bank.reopen_link(
        "#new-accounts",
        "Your bank has new accounts you can share",
        "customer-offered-new-accounts",
        "Share new accounts",
    )
    bank.log_in(None, PASS_GOOD)
    bank.modal.locator("#submit-login").click()
    bank.modal.get_by_role("heading", name="Choose the accounts to share").wait_for()
    assert bank.modal.get_by_label("Plaid Checking").is_checked()
    new_account = bank.modal.get_by_label("Plaid Saving")
    assert not new_account.is_checked()
    new_account.check()
    bank.screenshot("link-account-select")
    bank.finish(bank.modal.locator("#share-accounts"))
    bank.screenshot("customer-shared-new-account")
    listed = bank.page.locator(".bank-accounts").inner_text()
    assert "First Platypus Bank Plaid Checking" in listed
    assert "First Platypus Bank Plaid Saving" in listed
    assert bank.page.locator("#new-accounts").count() == 0
    assert bank.page.locator("#link-button").count() == 0
    item.refresh_from_db()
    assert item.new_accounts_available_at is None
    saving = BankAccount.objects.get(item=item, mask="1111")
    assert saving.verification_state == VerificationState.VERIFIED
    assert PlaidItem.objects.count() == 1
    bank.merchant_sees(saving, VerificationState.VERIFIED.label)
    bank.merchant_sees(checking, VerificationState.VERIFIED.label)
    assert "New accounts available" not in bank.page.content()
    bank.screenshot("merchant-sees-new-account")
    bank.webhooks_delivered(item, "NEW_ACCOUNTS_AVAILABLE")
    bank.assert_no_secrets_leaked()


def test_a_server_answer_that_is_not_ours_becomes_a_human_message(bank: BankLink) -> None:
    """The customer finishes Link, our server's answer is a proxy's 502 page: the page says so
    in words (never HTML or a JSON parse error) and the button comes back."""
    bank.merchant_creates_link()
    posts_answered_by_a_proxy_error(bank.page, bank.link_url)
    bank.open_link()
    bank.log_in("First Platypus Bank", PASS_GOOD)
    bank.modal.locator("#submit-login").click()
    bank.modal.get_by_role("heading", name="Select an account").wait_for()
    bank.modal.locator("#continue").click()
    error = bank.page.locator("#link-error-text", has_text="error 502")
    error.wait_for()
    assert_read_as_a_sentence(error.inner_text())
    assert "reload this page" in error.inner_text()
    bank.screenshot("502")
