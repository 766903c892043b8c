"""Tenant isolation across every merchant-owned model, in both directions.

Every model with a foreign key to Merchant must be listed in CASES with the URLs that reach
one of its objects (dashboard and API). Each URL, asked by the other merchant, answers 404 and
changes nothing; asked by the owner, it is found. A new merchant-owned model fails
`test_every_merchant_owned_model_is_covered` until it is added here on purpose.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Merchant
from accounts.roles import Role
from banking.models import BankAccount, PlaidItem
from banking.vault import Binding, vault_seal
from inbound.models import InboundEvent
from payments.models import Refund
from tests.factories import member, verified_client
from tests.payments.factories import (
    CustomerFactory,
    PaymentFactory,
    PaymentLinkFactory,
    api_key_for,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    make: Callable[[Merchant], Any]
    dashboard_get: tuple[str, ...] = ()
    dashboard_post: tuple[str, ...] = ()
    api_get: tuple[str, ...] = ()
    api_post: tuple[str, ...] = ()
    # Why a model has no URL of its own, when it has none.
    reached_through: str = ""
    kwarg: dict[str, str] = field(default_factory=lambda: {"public_id": "public_id"})


def _refund(merchant: Merchant) -> Refund:
    payment = PaymentFactory(merchant=merchant, status="succeeded", amount_captured=1000)
    return Refund.objects.create(merchant=merchant, payment=payment, amount=100, status="pending")


def _invitation(merchant: Merchant) -> Invitation:
    inviter = member(Role.OWNER, merchant).user
    return Invitation.objects.create(
        merchant=merchant,
        email="invitee@example.test",
        role=Role.VIEWER,
        invited_by=inviter,
        token_hash=secrets.token_hex(32),
        expires_at=timezone.now() + timedelta(days=1),
    )


def _event(merchant: Merchant) -> InboundEvent:
    return InboundEvent.objects.create(
        provider="stripe",
        event_id=f"evt_{merchant.slug}",
        type="x.y",
        merchant=merchant,
        payload={},
    )


def _bank_account(merchant: Merchant) -> BankAccount:
    customer = CustomerFactory(merchant=merchant)
    item = PlaidItem(merchant=merchant, customer=customer, item_id=f"item_{merchant.slug}")
    item.access_token = vault_seal(
        plaintext="access-isolation",
        binding=Binding("plaid_access_token", item.public_id, merchant.public_id, item.item_id),
    )
    item.save()
    return BankAccount.objects.create(
        merchant=merchant,
        customer=customer,
        item=item,
        plaid_account_id="acc_1",
        verification_state="verified",
    )


def _payout(merchant: Merchant) -> Any:
    from django.utils import timezone

    from payments.models import Payout

    now = timezone.now()
    return Payout.objects.create(
        merchant=merchant,
        processor_payout_id=f"po_tenant_{merchant.public_id}",
        amount=1000,
        currency="gbp",
        status="paid",
        arrival_date=now,
        processor_created_at=now,
    )


CASES: dict[str, Case] = {
    "payments.Payout": Case(
        make=_payout,
        dashboard_get=("payout-detail", "payout-export"),
        api_get=("payments_api:payout",),
    ),
    "payments.BalanceTransaction": Case(
        make=lambda m: None,
        reached_through="its payout's URLs and `/api/v1/balance-transactions?payout=`, which "
        "look the payout up within the key's merchant",
    ),
    "payments.Payment": Case(
        make=lambda m: PaymentFactory(merchant=m, status="requires_capture"),
        dashboard_get=("payment-detail",),
        dashboard_post=("payment-capture", "payment-cancel", "payment-refund"),
        api_get=("payments_api:payment", "payments_api:payment-refunds"),
        api_post=("payments_api:payment-capture", "payments_api:payment-cancel"),
    ),
    "payments.Customer": Case(
        make=lambda m: CustomerFactory(merchant=m),
        dashboard_get=("customer-detail",),
        api_get=("payments_api:customer",),
        api_post=("payments_api:customer",),
    ),
    "payments.PaymentLink": Case(
        make=lambda m: PaymentLinkFactory(merchant=m),
        dashboard_post=("payment-link-deactivate",),
        api_get=("payments_api:payment-link",),
        api_post=("payments_api:payment-link-deactivate",),
    ),
    "inbound.InboundEvent": Case(make=_event, api_get=("events_api:event",)),
    "payments.Refund": Case(make=_refund, reached_through="its payment's refunds URLs"),
    "payments.Dispute": Case(make=lambda m: None, reached_through="its payment's detail page"),
    "payments.ProcessorAccount": Case(
        make=lambda m: None,
        reached_through="never by id: /settings/ lists and ranks only the current merchant's "
        "accounts (tests/payments/braintree/test_settings_processors.py)",
    ),
    "payments.PaymentDayTotal": Case(
        make=lambda m: None,
        reached_through="never by id: the overview reads the current merchant's day totals "
        "(tests/payments/test_overview_rollup.py)",
    ),
    "payments.CustomerDayCount": Case(
        make=lambda m: None,
        reached_through="never by id: the overview reads the current merchant's counts "
        "(tests/payments/test_overview_rollup.py)",
    ),
    "payments.BalanceTotal": Case(
        make=lambda m: None,
        reached_through="never by id: the balance reads the current merchant's totals "
        "(tests/payments/test_balance_totals.py)",
    ),
    "api.IdempotencyRecord": Case(
        make=lambda m: None, reached_through="never: keyed by (merchant, key) inside the API"
    ),
    "banking.BankLinkSession": Case(
        make=lambda m: None,
        reached_through="only by its URL token (/link/<token>/), which names no merchant; "
        "the API creates sessions (for the key's own customers) but never reads one by id",
    ),
    "banking.PlaidItem": Case(
        make=lambda m: None, reached_through="never: only through its bank accounts"
    ),
    "banking.BankDebit": Case(
        make=lambda m: None,
        reached_through="its payment's URLs (a debit is a payment) and its bank account's debit "
        "action; it has no public id of its own",
    ),
    "banking.StripeBankVerification": Case(
        make=lambda m: None,
        reached_through="only by the bank-link URL token (/link/<token>/stripe/<ba>/), whose "
        "session's item must hold the account (banking.stripe_fallback.stripe_fallback_account)",
    ),
    "banking.BankAccount": Case(
        make=_bank_account,
        dashboard_post=("bank-account-disconnect", "bank-account-debit"),
        api_get=("banking_api:bank-account",),
    ),
    "accounts.Membership": Case(
        make=lambda m: member(Role.VIEWER, m).user,
        dashboard_post=("team:role_change", "team:remove"),
        kwarg={"member_id": "public_id"},
    ),
    "accounts.Invitation": Case(
        make=_invitation,
        dashboard_post=("team:invitation_revoke",),
        kwarg={"invitation_id": "public_id"},
    ),
    "accounts.ApiKey": Case(
        make=lambda m: api_key_for(m)[0],
        dashboard_post=("developers-key-revoke",),
        kwarg={"key_id": "public_id"},
    ),
}


def test_every_merchant_owned_model_is_covered() -> None:
    owned = {
        model._meta.label
        for model in apps.get_models()
        if any(f.many_to_one and f.related_model is Merchant for f in model._meta.get_fields())
    }
    assert owned - set(CASES) == set(), "add the new merchant-owned model to CASES"
    for label, case in CASES.items():
        has_url = case.dashboard_get or case.dashboard_post or case.api_get or case.api_post
        assert has_url or case.reached_through, f"{label}: give its URLs or say how it is reached"


@dataclass
class Tenant:
    merchant: Merchant
    client: Client
    api_headers: dict[str, str]


def _tenant() -> Tenant:
    owner = member(Role.OWNER)
    _, secret = api_key_for(owner.merchant)
    return Tenant(
        merchant=owner.merchant,
        client=verified_client(owner.user, merchant=owner.merchant),
        api_headers={"Authorization": f"Bearer {secret}"},
    )


def _url(name: str, case: Case, obj: Any) -> str:
    kwargs = {key: getattr(obj, attr) for key, attr in case.kwarg.items()}
    return reverse(name, kwargs=kwargs)


WITH_URLS = [label for label, case in CASES.items() if not case.reached_through]


@pytest.mark.parametrize("label", WITH_URLS)
@pytest.mark.parametrize("direction", ["a_reads_b", "b_reads_a"])
def test_other_merchants_objects_answer_404(label: str, direction: str) -> None:
    case = CASES[label]
    first, second = _tenant(), _tenant()
    owner, intruder = (second, first) if direction == "a_reads_b" else (first, second)
    obj = case.make(owner.merchant)
    before = obj.__class__.objects.filter(pk=obj.pk).values().first()

    for name in case.dashboard_get:
        url = _url(name, case, obj)
        assert intruder.client.get(url).status_code == 404, url
        assert owner.client.get(url).status_code == 200, url
    for name in case.dashboard_post:
        url = _url(name, case, obj)
        assert intruder.client.post(url, {"amount": "1.00", "role": Role.ADMIN}).status_code == 404
    for name in case.api_get:
        url = _url(name, case, obj)
        assert intruder.client.get(url, headers=intruder.api_headers).status_code == 404, url
        assert owner.client.get(url, headers=owner.api_headers).status_code == 200, url
    for name in case.api_post:
        url = _url(name, case, obj)
        response = intruder.client.post(
            url, {}, content_type="application/json", headers=intruder.api_headers
        )
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "resource_missing"

    assert obj.__class__.objects.filter(pk=obj.pk).values().first() == before
