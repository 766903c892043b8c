"""A Braintree merchant's balance and payouts where Stripe's are shown: the balance derived
from what Braintree captured and has not disbursed, `GET /api/v1/balance` adding processors
up per currency, the payout detail page, its CSV and `GET /api/v1/balance-transactions?payout=`
for a disbursement; and concurrent duplicate deliveries of one disbursement (PostgreSQL)."""

from __future__ import annotations

import csv
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from compliance.actors import Actor
from compliance.models import AuditEntry
from inbound.models import InboundEvent
from payments import services
from payments.balance_selectors import UNDISBURSED_WINDOW, balance_by_processor
from payments.models import BalanceTransaction, Payment, Payout, ProcessorAccount
from payments.payout_reports import payout_items
from payments.services import merchant_connect_account_ensure
from sandbox.client import SandboxControl
from tests.factories import member, verified_client
from tests.payments.braintree.conftest import settle
from tests.payments.braintree.test_disbursements import disburse, settled_sales_and_refund
from tests.payments.braintree.test_webhooks import notification, pay, post
from tests.payments.conftest import api_client_for

ACTOR = Actor.system("tests")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _balance(api: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/api/v1/balance").json()
    return body


def test_braintree_money_captured_and_not_yet_disbursed_is_pending_until_the_disbursement(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    api = api_client_for(bt_account.merchant)
    disburse(bt_control)
    first, second = pay(bt_account, amount=5000), pay(bt_account, amount=3000)
    settle(bt_control, first.processor_payment_id)
    settle(bt_control, second.processor_payment_id)
    refund = services.refund_create(payment=first, actor=ACTOR, amount=1000)
    settle(bt_control, refund.processor_refund_id)
    pay(bt_account, capture=False, amount=900)  # authorised only: not Braintree's money yet

    before = _balance(api)
    assert before["object"] == "balance"
    assert before["pending"] == [{"amount": 7000, "currency": "usd"}]
    assert before["available"] == [{"amount": 0, "currency": "usd"}]

    (disbursement_id,) = disburse(bt_control)
    fields = notification(bt_control, "disbursement", disbursement_id)
    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    after = _balance(api)
    assert after["pending"] == [{"amount": 0, "currency": "usd"}]
    assert after["available"] == [{"amount": 0, "currency": "usd"}]


def test_money_captured_before_the_window_and_never_seen_disbursed_is_not_pending(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    """Payments Braintree disbursed before Ledgerline mirrored disbursements have no payout
    here: they are not counted as money Braintree still holds."""
    old, recent = pay(bt_account, amount=9000), pay(bt_account, amount=1100)
    Payment.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - UNDISBURSED_WINDOW - timedelta(days=1)
    )

    body = _balance(api_client_for(bt_account.merchant))

    assert recent.amount_captured == 1100
    assert body["pending"] == [{"amount": 1100, "currency": "usd"}]


def test_a_failed_disbursement_leaves_its_amount_with_braintree(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    api = api_client_for(bt_account.merchant)
    _, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    failed = notification(bt_control, "disbursement_exception", disbursement_id)

    assert post(client, failed, django_capture_on_commit_callbacks).status_code == 200

    assert _balance(api)["available"] == [{"amount": 7000, "currency": "usd"}]
    assert _balance(api)["pending"] == [{"amount": 0, "currency": "usd"}]


def test_the_balance_page_shows_braintree_pending_and_says_its_schedule_is_braintrees(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    merchant = bt_account.merchant
    disburse(bt_control)
    sale = pay(bt_account, amount=4321)
    settle(bt_control, sale.processor_payment_id)
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)

    page = owner.get(reverse("balance"))

    assert page.status_code == 200
    text = page.content.decode()
    assert '<td class="num" data-testid="pending-usd">$43.21</td>' in text
    assert 'data-testid="fixed-schedule"' in text
    assert "cannot be changed here" in text
    assert reverse("payout-schedule-update") not in text


def test_a_merchant_on_both_processors_sees_each_share_and_their_sum(
    bt_account: ProcessorAccount, bt_control: SandboxControl, sandbox_control: SandboxControl
) -> None:
    """The API's contract is one amount per currency: the processors are added up; the page
    shows each processor's share as well."""
    merchant = bt_account.merchant
    merchant_connect_account_ensure(merchant=merchant)
    now = timezone.now()
    BalanceTransaction.objects.create(
        merchant=merchant,
        processor="stripe",
        processor_transaction_id="txn_both_processors",
        type="charge",
        amount=2000,
        fee=88,
        net=1912,
        currency="usd",
        available_on=now - timedelta(days=1),
        processor_created_at=now - timedelta(days=3),
    )
    disburse(bt_control)
    sale = pay(bt_account, amount=1500)
    settle(bt_control, sale.processor_payment_id)

    shares = {
        (b.processor, b.currency): (b.available, b.pending)
        for b in balance_by_processor(merchant=merchant, using="default", now=now)
    }
    assert shares == {("braintree", "usd"): (0, 1500), ("stripe", "usd"): (1912, 0)}
    body = _balance(api_client_for(merchant))
    assert body["available"] == [{"amount": 1912, "currency": "usd"}]
    assert body["pending"] == [{"amount": 1500, "currency": "usd"}]
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    text = owner.get(reverse("balance")).content.decode()
    assert 'data-testid="balance-by-processor"' in text
    assert "Braintree" in text
    # The schedule form is Stripe's, and says so; Braintree's is named as not settable here.
    assert "Stripe: Automatic" in text
    assert 'data-testid="fixed-schedule"' in text


def test_a_braintree_payout_has_its_detail_page_csv_and_api_items(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    merchant = bt_account.merchant
    sales, refund, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    fields = notification(bt_control, "disbursement", disbursement_id)
    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200
    payout = Payout.objects.get(processor_payout_id=disbursement_id)
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)

    page = owner.get(reverse("payout-detail", args=[payout.public_id])).content.decode()
    for sale in sales:
        assert sale.public_id in page
    assert refund.public_id in page
    assert "The items' net adds up to the payout's amount." in page
    assert 'data-testid="fees-not-itemized"' in page

    response = owner.get(reverse("payout-export", args=[payout.public_id]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    items, total = rows[:-1], rows[-1]
    assert len(items) == 3
    assert sum(int(row["net"]) for row in items) == int(total["net"]) == payout.amount == 7000

    api = api_client_for(merchant)
    one = api.get(f"/api/v1/payouts/{payout.public_id}").json()
    assert {k: one[k] for k in ("amount", "currency", "status", "processor")} == {
        "amount": 7000,
        "currency": "usd",
        "status": "paid",
        "processor": "braintree",
    }
    listed = api.get("/api/v1/balance-transactions", {"payout": payout.public_id, "limit": 100})
    data = listed.json()["data"]
    swept = [t for t in data if t["type"] != "payout"]
    assert sum(t["net"] for t in swept) == payout.amount
    assert {t["source"] for t in swept} == {s.public_id for s in sales} | {refund.public_id}
    assert [t["net"] for t in data if t["type"] == "payout"] == [-7000]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_disbursement_delivered_many_times_at_once_is_one_payout(
    bt_account: ProcessorAccount, bt_control: SandboxControl, live_server: Any, caplog: Any
) -> None:
    """Braintree redelivers (the same payload) and may send the disbursement again signed
    later (another payload, another event): all at once, one payout, its items once."""
    _, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    first = notification(bt_control, "disbursement", disbursement_id)
    bt_control.advance_clock(2)
    second = notification(bt_control, "disbursement", disbursement_id)
    assert first != second
    deliveries = [urlencode(fields) for fields in (first, second) for _ in range(4)]
    url = f"{live_server.url}/webhooks/braintree/"
    caplog.set_level(logging.INFO)

    def deliver(body: str) -> int:
        return requests.post(url, data=body, headers=FORM, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(deliver, deliveries))

    assert statuses == [200] * len(deliveries)
    events = InboundEvent.objects.filter(provider="braintree", type="disbursement")
    assert sorted(events.values_list("status", flat=True)) == ["succeeded", "succeeded"]
    payout = Payout.objects.get(processor_payout_id=disbursement_id)
    items = payout_items(payout)
    assert items.count() == 3
    assert sum(item.net for item in items) == payout.amount == 7000
    assert BalanceTransaction.objects.filter(payout=payout).count() == 4  # and its own debit
    changes = AuditEntry.objects.filter(action="payout.status_change", target_id=payout.public_id)
    assert changes.count() == 1
    assert "IntegrityError" not in caplog.text
