"""Stripe's micro-deposits as the second fallback (banking.stripe_fallback, fallback_views) against
one sandbox process: Plaid's same-day micro-deposits fail, Stripe collects the account on its
own form (driven here with the publishable key and client secret, as Stripe.js does), the
code from Stripe's deposit verifies it, and the account can then be debited by ACH."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import stripe
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from banking import ach, services
from banking import stripe_fallback as fallback
from banking.exceptions import InvalidBankingRequestError
from banking.models import (
    BankAccount,
    StripeBankVerification,
    StripeVerificationStatus,
    VerificationState,
)
from compliance.actors import Actor
from compliance.models import AuditEntry
from payments.gateways.stripe import resilience
from payments.models import ProcessorAccount
from payments.state import PaymentStatus
from tests.banking.linking import PlaidSandbox, new_session
from tests.banking.test_ach import stripe_events, stripe_too
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.inbound.webhook_support import deliver

__all__ = ["plaid_failed_account", "stripe_too"]  # stripe_too: the shared fixture

pytestmark = pytest.mark.django_db
PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
# Stripe's ACH test account; linked through Plaid first so the last 4 match.
TEST_ACCOUNT = "000123456789"


def plaid_failed_account(
    plaid: PlaidSandbox, account_number: str = TEST_ACCOUNT
) -> tuple[Any, BankAccount]:
    """A same-day micro-deposit account whose Plaid verification failed (also used by the
    browser test)."""
    new = new_session(name="Pat Customer")
    item = plaid.link(new.session, "same_day", account=account_number)
    plaid.control.plaid(
        "POST",
        f"accounts/{plaid.account_id(item)}/verification_status",
        {"verification_status": "verification_failed", "webhook": False},
    )
    services.plaid_item_sync(item=item, actor=Actor.system("tests"))
    account = BankAccount.objects.select_related("item", "customer", "merchant").get(item=item)
    assert account.verification_state == VerificationState.FAILED
    return new, account


def _stripe_form(plaid: PlaidSandbox, account: BankAccount, secret: str, number: str) -> None:
    """What Stripe.js does on Stripe's origin: the numbers go to Stripe with the client secret."""
    connected = ProcessorAccount.objects.get(merchant=account.merchant).stripe_account_id
    public = stripe.StripeClient(PUBLISHABLE_KEY, base_addresses={"api": plaid.url})
    confirm: Any = {
        "client_secret": secret,
        "payment_method_data": {
            "type": "us_bank_account",
            "us_bank_account": {"routing_number": "110000000", "account_number": number},
            "billing_details": {"name": "Pat Customer"},
        },
        "mandate_data": {
            "customer_acceptance": {
                "type": "online",
                "online": {"ip_address": "203.0.113.5", "user_agent": "browser"},
            }
        },
    }
    public.v1.setup_intents.confirm(
        secret.split("_secret_", maxsplit=1)[0], confirm, {"stripe_account": connected}
    )


def _awaiting_code(plaid: PlaidSandbox, account: BankAccount, number: str = TEST_ACCOUNT) -> Any:
    started = fallback.stripe_fallback_start(account=account)
    assert started.client_secret.startswith("seti_")
    _stripe_form(plaid, account, started.client_secret, number)
    return fallback.stripe_fallback_collected(account=account)


def test_failed_plaid_account_is_verified_by_stripe_and_can_be_debited(
    stripe_too: PlaidSandbox,
) -> None:
    """Given Plaid's micro-deposits failed, when the customer enters the account on Stripe's
    form and then Stripe's code (after one wrong code), then the account is verified by
    Stripe, keeps Stripe's PaymentMethod, every step is audited, and an ACH debit uses it."""
    _, account = plaid_failed_account(stripe_too)
    verification = _awaiting_code(stripe_too, account)
    assert verification.status == StripeVerificationStatus.AWAITING_CODE
    assert verification.last4 == "6789"
    with pytest.raises(fallback.StripeFallbackCodeError) as wrong:
        fallback.stripe_fallback_verify(account=account, code="SM22BB")
    assert wrong.value.attempts_left == 9
    assert wrong.value.status_code == 422
    done = fallback.stripe_fallback_verify(account=account, code="sm11aa")
    assert done.status == StripeVerificationStatus.VERIFIED
    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED
    assert account.verified_by == "stripe"
    assert account.stripe_payment_method_id.startswith("pm_")
    assert account.stripe_payment_method_id == done.stripe_payment_method_id
    actions = list(
        AuditEntry.objects.filter(target_id=account.public_id).values_list("action", flat=True)
    )
    for action in (
        "bank_account.stripe_verification_start",
        "bank_account.stripe_microdeposits_sent",
        "bank_account.stripe_code_rejected",
        "bank_account.verify_stripe",
    ):
        assert action in actions
    payment = ach.bank_account_debit(
        merchant=account.merchant,
        account=account,
        amount=1800,
        currency="usd",
        idempotency_key="after-stripe",
        actor=Actor.system("tests"),
    )
    assert payment.status == PaymentStatus.PROCESSING
    assert payment.stripe_payment_method_id == account.stripe_payment_method_id


def test_a_plaid_sync_after_stripe_verified_keeps_it_verified(stripe_too: PlaidSandbox) -> None:
    _, account = plaid_failed_account(stripe_too)
    _awaiting_code(stripe_too, account)
    fallback.stripe_fallback_verify(account=account, code="SM11AA")
    services.plaid_item_sync(item=account.item, actor=Actor.system("tests"))
    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED


def test_ten_wrong_codes_fail_it_and_an_eleventh_never_reaches_stripe(
    stripe_too: PlaidSandbox,
) -> None:
    _, account = plaid_failed_account(stripe_too)
    _awaiting_code(stripe_too, account)
    for _ in range(fallback.MAX_CODE_ATTEMPTS - 1):
        with pytest.raises(fallback.StripeFallbackCodeError):
            fallback.stripe_fallback_verify(account=account, code="SM00XX")
    with pytest.raises(InvalidBankingRequestError) as failed:
        fallback.stripe_fallback_verify(account=account, code="SM00XX")
    assert failed.value.code == "stripe_verification_failed"
    verification = StripeBankVerification.objects.get(bank_account=account)
    assert verification.status == StripeVerificationStatus.FAILED
    assert verification.code_attempts == fallback.MAX_CODE_ATTEMPTS
    with pytest.raises(InvalidBankingRequestError) as closed:
        fallback.stripe_fallback_verify(account=account, code="SM11AA")
    assert closed.value.code == "stripe_fallback_not_started"
    account.refresh_from_db()
    assert account.verification_state == VerificationState.FAILED


def test_another_account_at_stripe_does_not_verify_this_one(stripe_too: PlaidSandbox) -> None:
    """The account typed at Stripe must end in the same 4 digits as the one Plaid linked."""
    _, account = plaid_failed_account(stripe_too)
    verification = _awaiting_code(stripe_too, account, number="000222222227")
    assert verification.status == StripeVerificationStatus.FAILED
    assert verification.failure_code == "account_mismatch"
    with pytest.raises(InvalidBankingRequestError):
        fallback.stripe_fallback_verify(account=account, code="SM11AA")


def test_only_failed_or_expired_accounts_are_offered_stripe(stripe_too: PlaidSandbox) -> None:
    new = new_session()
    item = stripe_too.link(new.session, "instant")
    verified = BankAccount.objects.select_related("item", "customer", "merchant").filter(item=item)[
        0
    ]
    with pytest.raises(InvalidBankingRequestError) as refused:
        fallback.stripe_fallback_start(account=verified)
    assert refused.value.code == "stripe_fallback_not_available"
    assert not StripeBankVerification.objects.exists()


def test_pages_offer_the_fallback_and_start_it(stripe_too: PlaidSandbox) -> None:
    """The bank-link page links a failed account to its Stripe page; that page loads Stripe.js
    from the processor's origin only and answers the SetupIntent's client secret to `start`;
    an account of another link is not found there."""
    new, account = plaid_failed_account(stripe_too)
    client = Client(enforce_csrf_checks=False)
    link_page = client.get(new.path).content.decode()
    fallback_path = f"{new.path}stripe/{account.public_id}/"
    assert f'href="{fallback_path}"' in link_page
    page = client.get(fallback_path)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'src="{stripe_too.url}/v3/"' in html
    assert stripe_too.url in page["Content-Security-Policy"]
    started = client.post(fallback_path, json.dumps({"action": "start"}), "application/json")
    assert started.status_code == 200
    secret = started.json()["client_secret"]
    connected = ProcessorAccount.objects.get(merchant=account.merchant).stripe_account_id
    assert started.json()["stripe_account"] == connected
    _stripe_form(stripe_too, account, secret, TEST_ACCOUNT)
    collected = client.post(fallback_path, json.dumps({"action": "collected"}), "application/json")
    assert collected.json()["status"] == "awaiting_code"
    assert "SM11AA" in client.get(fallback_path).content.decode()
    fields = form_fields(client, fallback_path, fallback_path, code="SM11AA")
    verified = client.post(fallback_path, fields, follow=True)
    assert "Stripe verified this account" in verified.content.decode()
    other, _ = plaid_failed_account(stripe_too)
    assert client.get(f"{other.path}stripe/{account.public_id}/").status_code == 410


def test_merchant_page_shows_the_account_was_verified_by_stripe(stripe_too: PlaidSandbox) -> None:
    _, account = plaid_failed_account(stripe_too)
    _awaiting_code(stripe_too, account)
    owner = verified_client(member(Role.OWNER, account.merchant).user, merchant=account.merchant)
    before = owner.get(reverse("bank-accounts")).content.decode()
    assert "by Stripe" not in before
    fallback.stripe_fallback_verify(account=account, code="SM11AA")
    after = owner.get(reverse("bank-accounts")).content.decode()
    assert 'Verified</span> <span class="muted">by Stripe</span>' in after
    assert f'action="{reverse("bank-account-debit", args=[account.public_id])}"' in after


@pytest.mark.django_db(transaction=True)
def test_verified_on_stripes_hosted_page_arrives_by_webhook(stripe_too: PlaidSandbox) -> None:
    """Given the customer entered the code on Stripe's hosted verification page instead of
    ours, when Stripe's setup_intent events reach /webhooks/stripe/ (all of them, oldest first,
    then again newest first), then the account is verified by Stripe exactly once."""
    _, account = plaid_failed_account(stripe_too)
    verification = _awaiting_code(stripe_too, account)
    connected = ProcessorAccount.objects.get(merchant=account.merchant).stripe_account_id
    setup_id = verification.stripe_setup_intent_id
    intent = stripe_too.control.stripe_object(setup_id)["object"]
    hosted = intent["next_action"]["verify_with_microdeposits"]["hosted_verification_url"]
    answer = requests.post(
        hosted,
        data={"client_secret": intent["client_secret"], "descriptor_code": "SM11AA"},
        timeout=5,
    )
    assert "verified" in answer.text
    events = [
        e for e in reversed(stripe_events(stripe_too, connected)) if e["type"].startswith("setup_")
    ]
    assert [e["type"] for e in events][-1] == "setup_intent.succeeded"
    client = Client()
    for event in [*events, *reversed(events)]:
        assert deliver(client, event).status_code == 200
    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED
    assert account.verified_by == "stripe"
    assert (
        AuditEntry.objects.filter(
            action="bank_account.verify_stripe", target_id=account.public_id
        ).count()
        == 1
    )


def test_code_form_resubmitted_replays_and_a_lost_answer_verifies_once(
    stripe_too: PlaidSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe verifies the code, then answers 500 (kept under the attempt's key): the page
    says to try again; pressing Verify again (same form) reads the SetupIntent back and shows
    the account verified, and a third press (back button) replays that answer."""
    new, account = plaid_failed_account(stripe_too)
    _awaiting_code(stripe_too, account)
    client = Client()
    path = f"{new.path}stripe/{account.public_id}/"
    fields = form_fields(client, path, path, code="SM11AA")
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    stripe_too.control.add_fault("error_500_after", method="POST", path="/v1/setup_intents")
    first = client.post(path, fields, follow=True)
    assert "did not answer" in first.content.decode() or "unavailable" in first.content.decode()
    for _ in range(2):
        again = client.post(path, fields, follow=True)
        assert "Your bank account is verified." in again.content.decode()
    account.refresh_from_db()
    assert (account.verification_state, account.verified_by) == ("verified", "stripe")
    assert AuditEntry.objects.filter(action="bank_account.verify_stripe").count() == 1
