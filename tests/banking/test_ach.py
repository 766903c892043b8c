"""ACH debits of linked bank accounts (banking.ach) against the one sandbox process: Plaid issues
the `btok_`, Stripe attaches it and debits it on the merchant's connected account, and the
sandbox's own webhooks settle the payment through /webhooks/stripe/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import session_security
from accounts.roles import Role
from banking import ach, services
from banking.exceptions import BankAccountNotVerifiedError, InvalidBankingRequestError
from banking.models import BankAccount, BankDebit, PlaidItemStatus, VerificationState
from compliance.actors import Actor
from compliance.models import AuditEntry
from inbound.models import InboundEventStatus
from payments.gateways.stripe import client as stripe_client_module
from payments.gateways.stripe import resilience
from payments.models import Payment, PaymentMethodType, ProcessorAccount
from payments.state import PaymentStatus
from sandbox.stripe.banks import SETTLEMENT_SECONDS
from tests.banking.linking import PlaidSandbox, new_session
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.inbound.webhook_support import deliver
from tests.payments.factories import api_key_for
from tests.processor_calls import calls_in_transaction

__all__ = ["calls_in_transaction"]  # the shared fixture
ACTOR = Actor.system("tests")
STRIPE_KEY = "sk_test_ledgerline_sandbox"
# Stripe's ACH test account whose debits come back R01 (insufficient funds).
R01_ACCOUNT = "000222222227"


@pytest.fixture
def stripe_too(plaid: PlaidSandbox, settings: Any) -> Iterator[PlaidSandbox]:
    """Stripe calls go to the same sandbox process as Plaid's (so its btok_ are known there).

    `plaid` comes first: its override_settings must be entered before, and left after, the
    `settings` fixture's overrides, or leaving them in the wrong order leaks an override."""
    settings.STRIPE_API_BASE = plaid.url
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
    stripe_client_module.clear_client_cache()
    resilience.breaker_reset(fail_max=5, reset_timeout=30.0)
    yield plaid
    stripe_client_module.clear_client_cache()


def _linked(plaid: PlaidSandbox, flow: str = "instant", **choices: Any) -> BankAccount:
    new = new_session()
    item = plaid.link(new.session, flow, **choices)
    if flow == "same_day":
        plaid.run_link(plaid.link_token(new.session), "verify", code="ABC")
        services.bank_link_update_complete(session=new.session)
    account = BankAccount.objects.select_related("item", "customer", "merchant").get(
        item=item, subtype="checking"
    )
    assert account.verification_state == VerificationState.VERIFIED
    return account


def _debit(account: BankAccount, key: str = "debit-1", **fields: Any) -> Payment:
    params: dict[str, Any] = {"amount": 2500, "currency": "usd", **fields}
    return ach.bank_account_debit(
        merchant=account.merchant, account=account, idempotency_key=key, actor=ACTOR, **params
    )


def _stripe(plaid: PlaidSandbox, path: str, account: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{plaid.url}{path}",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {STRIPE_KEY}", "Stripe-Account": account},
        timeout=5,
    )
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def stripe_events(plaid: PlaidSandbox, account: str) -> list[dict[str, Any]]:
    """The sandbox's Stripe events on a connected account, newest first."""
    return _stripe(plaid, "/v1/events", account)


def _connected(account: BankAccount) -> str:
    return ProcessorAccount.objects.get(merchant=account.merchant).stripe_account_id


@pytest.mark.django_db
def test_verified_account_is_debited_by_ach_through_a_plaid_token(stripe_too: PlaidSandbox) -> None:
    """Given a verified instant-Auth account, when debited, then Plaid's btok_ becomes a Stripe
    bank account of the customer, the payment is an ACH debit processing at Stripe in USD with
    a mandate, and both steps are audited."""
    account = _linked(stripe_too)
    payment = _debit(account)
    assert payment.status == PaymentStatus.PROCESSING
    assert payment.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT
    assert (payment.amount, payment.currency, payment.bank_last4) == (2500, "usd", account.mask)
    account.refresh_from_db()
    assert account.stripe_payment_method_id.startswith("ba_")
    assert payment.stripe_payment_method_id == account.stripe_payment_method_id
    [intent] = _stripe(stripe_too, "/v1/payment_intents", _connected(account))
    assert intent["id"] == payment.stripe_payment_intent_id
    assert intent["payment_method_types"] == ["us_bank_account"]
    assert intent["metadata"] == {"ledgerline_payment": payment.public_id}
    [charge] = _stripe(stripe_too, "/v1/charges", _connected(account))
    assert charge["payment_method_details"]["us_bank_account"]["mandate"].startswith("mandate_")
    assert BankDebit.objects.get(payment=payment).bank_account == account
    actions = set(
        AuditEntry.objects.filter(target_id__in=[payment.public_id, account.public_id]).values_list(
            "action", flat=True
        )
    )
    assert {"bank_account.stripe_source_create", "bank_account.debit", "payment.create"} <= actions
    debit = AuditEntry.objects.get(action="bank_account.debit", target_id=account.public_id)
    assert debit.payload["payment"] == payment.public_id
    assert debit.payload["mandate"] == "offline"


@pytest.mark.django_db
def test_a_retry_with_the_same_key_never_debits_twice(stripe_too: PlaidSandbox) -> None:
    """The same idempotency key returns the same payment and makes no second intent; a new
    key is a new debit of the same Stripe bank account (the btok_ is used only once)."""
    account = _linked(stripe_too)
    first = _debit(account, "order-77")
    again = _debit(account, "order-77")
    assert again.pk == first.pk
    assert len(_stripe(stripe_too, "/v1/payment_intents", _connected(account))) == 1
    assert Payment.objects.filter(merchant=account.merchant).count() == 1
    second = _debit(account, "order-78", amount=900)
    assert second.pk != first.pk
    assert second.stripe_payment_method_id == first.stripe_payment_method_id
    assert len(_stripe(stripe_too, "/v1/payment_intents", _connected(account))) == 2
    with pytest.raises(InvalidBankingRequestError) as reused:
        _debit(account, "order-77", amount=100)
    assert reused.value.code == "idempotency_key_reused"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"verification_state": VerificationState.PENDING_MANUAL}, "bank_account_not_verified"),
        ({"verification_state": VerificationState.FAILED}, "bank_account_not_verified"),
        ({"verification_state": VerificationState.UNKNOWN}, "bank_account_not_verified"),
        ({"item_status": PlaidItemStatus.LOGIN_REQUIRED}, "item_login_required"),
        ({"item_status": PlaidItemStatus.REVOKED}, "bank_account_not_verified"),
        ({"disconnected": True}, "bank_account_not_verified"),
        ({"currency": "eur"}, "currency_unsupported"),
    ],
)
def test_an_account_that_cannot_move_money_is_refused_and_nothing_is_charged(
    stripe_too: PlaidSandbox, change: dict[str, Any], code: str
) -> None:
    account = _linked(stripe_too)
    if "verification_state" in change:
        BankAccount.objects.filter(pk=account.pk).update(
            verification_state=change["verification_state"]
        )
    if "item_status" in change:
        type(account.item).objects.filter(pk=account.item_id).update(status=change["item_status"])
    if "disconnected" in change:
        services.bank_account_disconnect(account=account, actor=ACTOR)
    account = BankAccount.objects.select_related("item", "customer", "merchant").get(pk=account.pk)
    intents_before = stripe_too.control.count("payment_intent")
    with pytest.raises((BankAccountNotVerifiedError, InvalidBankingRequestError)) as refused:
        _debit(account, currency=change.get("currency", "usd"))
    assert refused.value.code == code
    assert 400 <= refused.value.status_code < 500
    assert not Payment.objects.filter(merchant=account.merchant).exists()
    assert not BankDebit.objects.exists()
    assert stripe_too.control.count("payment_intent") == intents_before


def _settle_by_webhooks(plaid: PlaidSandbox, payment: Payment) -> None:
    """Let the bank answer (sandbox clock past settlement) and deliver every event Stripe
    recorded for the connected account to our endpoint, signed as Stripe signs them."""
    plaid.control.advance_clock(SETTLEMENT_SECONDS + 1)
    plaid.control.request("POST", "stripe/tick", {})
    account = ProcessorAccount.objects.get(merchant=payment.merchant).stripe_account_id
    events = list(reversed(stripe_events(plaid, account)))
    client = Client()
    for event in events:
        assert deliver(client, event).status_code == 200
    payment.refresh_from_db()


@pytest.mark.django_db(transaction=True)
def test_settlement_arrives_by_webhook_and_the_payment_succeeds(stripe_too: PlaidSandbox) -> None:
    account = _linked(stripe_too)
    payment = _debit(account)
    _settle_by_webhooks(stripe_too, payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == 2500
    change = AuditEntry.objects.filter(
        action="payment.status_change", target_id=payment.public_id
    ).last()
    assert change is not None
    assert change.payload["to"] == "succeeded"
    assert not payment.merchant.inbound_events.exclude(
        status__in=[InboundEventStatus.SUCCEEDED, InboundEventStatus.IGNORED]
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_an_r01_return_fails_the_debit_by_webhook(stripe_too: PlaidSandbox) -> None:
    """Given an account linked by same-day micro-deposits with Stripe's R01 test number, when
    the bank returns the debit, then the payment needs a new payment method with the reason."""
    account = _linked(stripe_too, "same_day", account=R01_ACCOUNT)
    payment = _debit(account)
    assert payment.status == PaymentStatus.PROCESSING
    _settle_by_webhooks(stripe_too, payment)
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert payment.failure_code == "insufficient_funds"
    assert payment.amount_captured == 0


def _debit_form(client: Client, account: BankAccount) -> dict[str, str]:
    """The Debit form as the Bank accounts page renders it for this account."""
    action = reverse("bank-account-debit", args=[account.public_id])
    return form_fields(client, reverse("bank-accounts"), action, amount="25.00", authorized="on")


@pytest.mark.django_db
def test_merchant_debits_from_the_bank_accounts_page_once_per_form(
    stripe_too: PlaidSandbox,
) -> None:
    """An owner with a fresh one-time code debits 25.00 from the page; submitting the same
    form again lands on the same payment."""
    account = _linked(stripe_too)
    owner = verified_client(member(Role.OWNER, account.merchant).user, merchant=account.merchant)
    form = _debit_form(owner, account)
    url = reverse("bank-account-debit", args=[account.public_id])
    first = owner.post(url, form)
    payment = Payment.objects.get(merchant=account.merchant)
    assert first.status_code == 302
    assert first["Location"] == reverse("payment-detail", args=[payment.public_id])
    assert (payment.amount, payment.status) == (2500, PaymentStatus.PROCESSING)
    assert owner.post(url, form)["Location"] == first["Location"]
    assert Payment.objects.filter(merchant=account.merchant).count() == 1
    entry = AuditEntry.objects.get(action="payment.create", target_id=payment.public_id)
    assert entry.payload["step_up"] is True


@pytest.mark.django_db
def test_page_debit_needs_the_role_a_fresh_code_and_the_authorization(
    stripe_too: PlaidSandbox,
) -> None:
    account = _linked(stripe_too)
    url = reverse("bank-account-debit", args=[account.public_id])
    analyst = verified_client(
        member(Role.ANALYST, account.merchant).user, merchant=account.merchant
    )
    assert analyst.post(url, {"amount": "1.00", "authorized": "on"}).status_code == 403
    owner = verified_client(member(Role.OWNER, account.merchant).user, merchant=account.merchant)
    form = _debit_form(owner, account)
    unauthorized = owner.post(url, {**form, "authorized": ""}, follow=True)
    assert "Nothing was debited" in unauthorized.content.decode()
    session = owner.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    stale = owner.post(url, form, HTTP_REFERER="http://testserver/bank-accounts/")
    assert stale["Location"].startswith(reverse("accounts:step_up"))
    assert not Payment.objects.filter(merchant=account.merchant).exists()


@pytest.mark.django_db
def test_api_debits_a_bank_account_instead_of_a_card_and_replays_by_key(
    stripe_too: PlaidSandbox,
) -> None:
    """POST /api/v1/payments with `bank_account`: 201 processing ACH debit; the same
    Idempotency-Key replays it; an unverified account is a 409 with nothing charged."""
    account = _linked(stripe_too)
    _, secret = api_key_for(account.merchant, Role.DEVELOPER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = {"amount": 1500, "currency": "usd", "bank_account": account.public_id}
    first = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="ach-1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert (data["status"], data["payment_method_type"]) == ("processing", "us_bank_account")
    assert data["bank_last4"] == account.mask
    again = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="ach-1")
    assert again.json()["id"] == data["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert len(_stripe(stripe_too, "/v1/payment_intents", _connected(account))) == 1
    unkeyed = api.post("/api/v1/payments", {**body, "amount": 700}, format="json")
    assert unkeyed.status_code == 201, unkeyed.content
    assert unkeyed.json()["id"] != data["id"]
    both = api.post("/api/v1/payments", {**body, "payment_method": "pm_card_visa"}, format="json")
    assert both.status_code == 400
    BankAccount.objects.filter(pk=account.pk).update(
        verification_state=VerificationState.PENDING_MANUAL
    )
    refused = api.post("/api/v1/payments", body, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "bank_account_not_verified"
    assert Payment.objects.filter(merchant=account.merchant).count() == 2


@pytest.mark.django_db
def test_dashboard_debit_answered_500_after_debiting_is_one_debit(
    stripe_too: PlaidSandbox,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Stripe makes the debit, then answers 500 (kept under the key): the page says the
    debit is being checked (never "nothing was debited"); submitting the same form again
    finds the debit at Stripe by its metadata: one PaymentIntent, one payment, processing."""
    account = _linked(stripe_too)
    owner = verified_client(member(Role.OWNER, account.merchant).user, merchant=account.merchant)
    form = _debit_form(owner, account)
    url = reverse("bank-account-debit", args=[account.public_id])
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    stripe_too.control.add_fault("error_500_after", method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False):
        first = owner.post(url, form, follow=True)
    assert "The debit is being checked and will not happen twice" in first.content.decode()
    assert "Nothing was debited" not in first.content.decode()
    again = owner.post(url, form)
    payment = Payment.objects.get(merchant=account.merchant)
    assert again["Location"] == reverse("payment-detail", args=[payment.public_id])
    assert payment.status == PaymentStatus.PROCESSING
    assert payment.stripe_payment_intent_id
    assert len(_stripe(stripe_too, "/v1/payment_intents", _connected(account))) == 1
