"""Money out: payout and balance webhooks, reconciliation, the balance pages and the API.

Scenarios run against the sandbox (its own instance: the tests move its clock by days) and
reach Ledgerline through the inbound pipeline, as the processor's webhooks would.
"""

from __future__ import annotations

import csv
import io
import logging
import tracemalloc
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from compliance.models import AuditEntry
from inbound.models import EventProvider, InboundEvent
from inbound.services import inbound_event_ingest, inbound_event_process, inbound_events_reconcile
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Payment,
    Payout,
    PayoutStatus,
    Refund,
)
from payments.payout_events import merchant_money_reconcile
from payments.payout_reports import payout_contents, payout_csv_lines
from payments.services import merchant_connect_account_ensure
from tests.factories import MerchantFactory, member, verified_client
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import (
    card_fee,
    control_actions,
    deliver_events,
    sdk,
)

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def _pay(api, amount: int, currency: str = "gbp") -> Payment:
    response = api.post(
        "/api/v1/payments",
        {"amount": amount, "currency": currency, "payment_method": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Payment.objects.get(public_id=response.json()["id"])


@pytest.fixture
def paid_out(money_control):
    """A merchant with three payments and a partial refund, paid out automatically."""
    merchant = MerchantFactory(default_currency="gbp", country="GB")
    api = api_client_for(merchant)
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    payments = [_pay(api, amount) for amount in (10_000, 2_550, 777)]
    refund = api.post(
        f"/api/v1/payments/{payments[0].public_id}/refunds", {"amount": 1_234}, format="json"
    )
    assert refund.status_code in (200, 201), refund.json()
    # Six days: past the 2-day delay and a next-business-day arrival across any weekend.
    control_actions(money_control).advance_clock(6 * DAY)
    deliver_events(money_control.url, account=account)
    return {"merchant": merchant, "api": api, "account": account, "payments": payments}


def _expected_payout(amounts: tuple[int, ...], refunded: int) -> int:
    return sum(a - card_fee(a) for a in amounts) - refunded


# --- webhooks -------------------------------------------------------------------------------


def test_payout_webhooks_mirror_the_payout_its_contents_and_fees(paid_out):
    """Given payments paid out on the processor's schedule, when its events arrive, then the
    payout is paid, carries exactly those payments and the refund, and fees and net are set."""
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    assert payout.status == PayoutStatus.PAID
    assert payout.amount == _expected_payout((10_000, 2_550, 777), 1_234)
    contents = payout_contents(payout)
    assert contents.net == payout.amount
    kinds = sorted(line.type for line in contents.lines)
    assert kinds == [BalanceTransactionType.CHARGE, BalanceTransactionType.REFUND]
    for payment in Payment.objects.filter(merchant=merchant):
        assert payment.fee == card_fee(payment.amount)
        assert payment.net == payment.amount - payment.fee
        assert payment.platform_fee == 0
    refund = Refund.objects.get(merchant=merchant)
    assert (refund.fee, refund.net) == (0, -1_234)
    transitions = AuditEntry.objects.filter(
        action="payout.status_change", target_id=payout.public_id
    )
    assert transitions.count() >= 1


def test_a_duplicate_or_stale_payout_event_changes_nothing(paid_out, money_control):
    """Given a paid payout, when an old `payout.updated` (pending) is delivered again under a
    new id, then the payout stays paid and no audit entry is written."""
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    before = AuditEntry.objects.filter(action="payout.status_change").count()
    stale = {
        "id": payout.processor_payout_id,
        "object": "payout",
        "status": "pending",
        "amount": payout.amount,
        "currency": payout.currency,
        "arrival_date": int(payout.arrival_date.timestamp()),
        "created": int(payout.processor_created_at.timestamp()),
    }
    for event_id in ("evt_stale_payout_1", "evt_stale_payout_1", "evt_stale_payout_2"):
        result = inbound_event_ingest(
            provider=EventProvider.STRIPE,
            event_id=event_id,
            event_type="payout.updated",
            account=paid_out["account"],
            payload={
                "id": event_id,
                "type": "payout.updated",
                "account": paid_out["account"],
                "data": {"object": stale},
            },
        )
        if result.event_pk is not None:
            assert inbound_event_process(event_id=result.event_pk) == "succeeded"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert AuditEntry.objects.filter(action="payout.status_change").count() == before
    assert InboundEvent.objects.filter(event_id__startswith="evt_stale_payout").count() == 2


def test_a_failed_payout_is_mirrored_with_its_reason_and_explained(paid_out, money_control):
    """Given a bank account that returns payouts, when the next payout fails, then Ledgerline
    holds it failed with the processor's code and the balance page says what to do."""
    merchant, account = paid_out["merchant"], paid_out["account"]
    controls = control_actions(money_control)
    controls.stripe_action(
        "accounts", account, "payout_failure", {"failure_code": "account_closed"}
    )
    _pay(paid_out["api"], 5_000)
    controls.advance_clock(6 * DAY)
    deliver_events(money_control.url, account=account)
    failures = Payout.objects.filter(merchant=merchant, status=PayoutStatus.FAILED)
    assert failures.exists()
    assert {p.failure_code for p in failures} == {"account_closed"}
    failed = failures.latest("processor_created_at")
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    page = owner.get(reverse("balance")).content.decode()
    assert failed.public_id in page
    assert "The bank account is closed. Add a new bank account" in page
    # The returned money is back in the balance: conservation still holds at the processor.
    assert payout_contents(failed).net == failed.amount


# --- reconciliation -------------------------------------------------------------------------


def test_reconciliation_reports_every_difference_to_staff_and_repairs_it(paid_out, caplog):
    """Given a mirror that lost a balance transaction and holds a payout in an older state,
    when the reconciliation runs, then it names both differences in an ERROR log line and a
    failure audit entry, applies the processor's state, and a second run finds nothing."""
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    lost = BalanceTransaction.objects.filter(merchant=merchant, type="refund").get()
    lost.delete()
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PENDING)
    assert merchant_money_reconcile(merchant=merchant, since=None) != []
    with caplog.at_level(logging.ERROR, logger="payments.payout_events"):
        BalanceTransaction.objects.filter(merchant=merchant, type="refund").delete()
        Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PENDING)
        differences = merchant_money_reconcile(merchant=merchant, since=None)
    found = {(d.what, d.processor_id) for d in differences}
    assert ("payout_differs", payout.processor_payout_id) in found
    assert ("balance_transaction_missing", lost.processor_transaction_id) in found
    assert any(payout.processor_payout_id in r.getMessage() for r in caplog.records)
    entry = AuditEntry.objects.filter(action="payout.reconcile_difference").latest("pk")
    assert entry.outcome == "failure"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout_contents(payout).net == payout.amount
    assert merchant_money_reconcile(merchant=merchant, since=None) == []


def test_the_registered_stripe_reconciler_also_reconciles_the_money_mirror(paid_out):
    """The inbound reconciler for Stripe (beat) runs the money reconciliation after missed
    events: a transaction missing from the mirror is back after one run."""
    merchant = paid_out["merchant"]
    BalanceTransaction.objects.filter(merchant=merchant, type="charge").first().delete()
    inbound_events_reconcile()
    payout = Payout.objects.get(merchant=merchant)
    assert payout_contents(payout).net == payout.amount


# --- API ------------------------------------------------------------------------------------


def test_api_balance_payouts_and_balance_transactions(paid_out):
    api, merchant = paid_out["api"], paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    balance = api.get("/api/v1/balance").json()
    assert balance["object"] == "balance"
    assert {"amount", "currency"} <= set(balance["available"][0])
    assert balance["available"][0]["currency"] == "gbp"
    listed = api.get("/api/v1/payouts").json()
    assert listed["has_more"] is False
    assert [p["id"] for p in listed["data"]] == [payout.public_id]
    one = api.get(f"/api/v1/payouts/{payout.public_id}").json()
    assert {k: one[k] for k in ("amount", "currency", "status", "processor")} == {
        "amount": payout.amount,
        "currency": "gbp",
        "status": "paid",
        "processor": "stripe",
    }
    assert one["arrival_date"]
    items = api.get("/api/v1/balance-transactions", {"payout": payout.public_id, "limit": 100})
    data = items.json()["data"]
    swept = [t for t in data if t["type"] != "payout"]
    assert sum(t["net"] for t in swept) == payout.amount
    assert all(t["net"] == t["amount"] - t["fee"] for t in data)
    sources = {t["source"] for t in swept}
    assert {p.public_id for p in paid_out["payments"]} <= sources
    first = api.get("/api/v1/balance-transactions", {"limit": 1}).json()
    assert first["has_more"] is True
    after = api.get(
        "/api/v1/balance-transactions", {"limit": 1, "starting_after": first["data"][0]["id"]}
    ).json()
    assert after["data"][0]["id"] != first["data"][0]["id"]
    payment = api.get(f"/api/v1/payments/{paid_out['payments'][1].public_id}").json()
    assert payment["fee"] == card_fee(2_550)
    assert payment["net"] == 2_550 - card_fee(2_550)
    refunds = api.get(f"/api/v1/payments/{paid_out['payments'][0].public_id}/refunds").json()
    assert refunds["data"][0]["net"] == -1_234


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/payouts/po_doesnotexist", {}, 404),
        ("/api/v1/payouts/../../etc", {}, 404),
        ("/api/v1/payouts", {"limit": "0"}, 400),
        ("/api/v1/payouts", {"limit": "abc"}, 400),
        ("/api/v1/payouts", {"status": "lost"}, 400),
        ("/api/v1/payouts", {"starting_after": "po_nothere"}, 400),
        ("/api/v1/balance-transactions", {"payout": "not-a-payout"}, 400),
        ("/api/v1/balance-transactions", {"payout": "po_" + "x" * 40}, 400),
        ("/api/v1/balance-transactions", {"payout": "po_unknown"}, 404),
        ("/api/v1/balance-transactions", {"starting_after": "txn_\u0000"}, 400),
        ("/api/v1/balance", {"expand": "everything"}, 200),
    ],
)
def test_api_bad_input_is_a_clear_4xx_never_a_500(paid_out, path, params, status):
    response = paid_out["api"].get(path, params)
    assert response.status_code == status, response.content
    if status >= 400:
        assert set(response.json()["error"]) >= {"type", "code", "message"}


def test_another_merchants_payout_is_a_404_in_the_api_and_the_pages(paid_out):
    payout = Payout.objects.get(merchant=paid_out["merchant"])
    stranger = MerchantFactory()
    assert api_client_for(stranger).get(f"/api/v1/payouts/{payout.public_id}").status_code == 404
    listed = api_client_for(stranger).get(
        "/api/v1/balance-transactions", {"payout": payout.public_id}
    )
    assert listed.status_code == 404
    owner = verified_client(member(Role.OWNER, stranger).user, merchant=stranger)
    assert owner.get(reverse("payout-detail", args=[payout.public_id])).status_code == 404
    assert owner.get(reverse("payout-export", args=[payout.public_id])).status_code == 404


# --- pages ----------------------------------------------------------------------------------


def test_balance_page_shows_balance_payouts_and_schedule(paid_out):
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    viewer = verified_client(member(Role.VIEWER, merchant).user, merchant=merchant)
    page = viewer.get(reverse("balance"))
    assert page.status_code == 200
    text = page.content.decode()
    assert payout.public_id in text
    assert "Automatic, every day, for payments at least 2 days old." in text
    assert "Owners and admins can change the schedule." in text
    assert reverse("payout-schedule-update") not in text


def test_payout_detail_lists_exactly_what_it_contains_and_exports_it(paid_out):
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    page = owner.get(reverse("payout-detail", args=[payout.public_id])).content.decode()
    for payment in paid_out["payments"]:
        assert payment.public_id in page
    assert "The items' net adds up to the payout's amount." in page
    response = owner.get(reverse("payout-export", args=[payout.public_id]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    items, total = rows[:-1], rows[-1]
    assert len(items) == 4  # three payments and one refund
    assert sum(int(row["net"]) for row in items) == payout.amount == int(total["net"])
    assert {row["source"] for row in items} >= {p.public_id for p in paid_out["payments"]}


@pytest.mark.parametrize(
    "query",
    ["?starting_after=txn_nothere", "?ending_before=%00", "?starting_after=" + "a" * 500, "?x=1"],
)
def test_balance_pages_never_500_on_bad_input(paid_out, query):
    merchant = paid_out["merchant"]
    payout = Payout.objects.get(merchant=merchant)
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    assert owner.get(reverse("balance") + query).status_code == 200
    assert owner.get(reverse("payout-detail", args=[payout.public_id]) + query).status_code == 200
    for bad in ("po_nothere", "pay_" + "x" * 10, "po_" + "x" * 100, "%F0%9F%92%A9"):
        assert owner.get(f"/balance/payouts/{bad}/").status_code == 404
        assert owner.get(f"/balance/payouts/{bad}/export.csv").status_code == 404


def test_owner_changes_the_payout_schedule_under_step_up_and_it_is_audited(paid_out, money_control):
    merchant, account = paid_out["merchant"], paid_out["account"]
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    url = reverse("payout-schedule-update")
    form = {"interval": "weekly", "delay_days": "3", "weekly_anchor": "friday"}
    response = owner.post(url, form)
    assert response.status_code == 302
    at_processor = sdk(money_control.url).v1.accounts.retrieve(account)
    schedule = at_processor.settings.payouts.schedule
    assert (schedule.interval, schedule.weekly_anchor, schedule.delay_days) == (
        "weekly",
        "friday",
        3,
    )
    entry = AuditEntry.objects.filter(action="payout.schedule_change").latest("pk")
    assert entry.payload["to"]["interval"] == "weekly"
    assert entry.payload["step_up"] is True
    page = owner.get(reverse("balance")).content.decode()
    assert "Automatic, every Friday, for payments at least 3 days old." in page


def test_schedule_changes_need_the_role_a_fresh_code_and_valid_input(paid_out, money_control):
    from accounts import session_security

    merchant = paid_out["merchant"]
    url = reverse("payout-schedule-update")
    form = {"interval": "monthly", "delay_days": "2", "monthly_anchor": "15"}
    analyst = verified_client(member(Role.ANALYST, merchant).user, merchant=merchant)
    assert analyst.post(url, form).status_code == 403
    admin = verified_client(member(Role.ADMIN, merchant).user, merchant=merchant)
    session = admin.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    stale = admin.post(url, form)
    assert stale["Location"].startswith(reverse("accounts:step_up"))
    fresh = verified_client(member(Role.ADMIN, merchant).user, merchant=merchant)
    for bad in (
        {"interval": "hourly"},
        {"interval": "weekly", "delay_days": "2"},
        {"interval": "daily", "delay_days": "1"},
        {"interval": "monthly", "delay_days": "2", "monthly_anchor": "32"},
        {"interval": "daily", "delay_days": "4111111111111111"},
    ):
        response = fresh.post(url, bad, follow=True)
        assert response.status_code == 200
        assert "The payout schedule was not changed" in response.content.decode()
    assert not AuditEntry.objects.filter(action="payout.schedule_change").exists()


def test_payout_csv_streams_with_flat_memory():
    """The export of a payout of 30,000 items holds one chunk at a time, not the payout."""
    merchant = MerchantFactory()
    now = timezone.now()
    payout = Payout.objects.create(
        merchant=merchant,
        processor_payout_id="po_bulk",
        amount=30_000 * 97,
        currency="gbp",
        status=PayoutStatus.PAID,
        arrival_date=now,
        processor_created_at=now,
    )
    BalanceTransaction.objects.bulk_create(
        BalanceTransaction(
            merchant=merchant,
            processor_transaction_id=f"txn_bulk_{i}",
            type=BalanceTransactionType.CHARGE,
            amount=100,
            fee=3,
            net=97,
            currency="gbp",
            payout=payout,
            available_on=now,
            processor_created_at=now,
            public_id=f"txn_bulk{i}",
        )
        for i in range(30_000)
    )
    tracemalloc.start()
    try:
        lines = 0
        for _ in payout_csv_lines(payout):
            lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 30_002
    # 30,000 model objects would take tens of MB; a chunk of 2,000 tuples a few hundred kB.
    assert peak < 6 * 1024 * 1024, peak


def test_lost_answer_of_a_schedule_change_then_saving_again_changes_it_once(
    paid_out, money_control, monkeypatch
):
    """The processor changes the schedule but its answer is lost: the page says it may have
    changed (not that it did not), nothing is audited as done; saving again succeeds, is
    audited once, and the processor holds the schedule chosen."""
    from payments.gateways.stripe import resilience

    merchant, account = paid_out["merchant"], paid_out["account"]
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    url = reverse("payout-schedule-update")
    form = {"interval": "monthly", "delay_days": "4", "monthly_anchor": "10"}
    # No retry inside the request: the lost answer reaches the person, who saves again.
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    money_control.fault(kind="lose_response", method="POST", path=f"/v1/accounts/{account}")
    try:
        first = owner.post(url, form, follow=True)
    finally:
        money_control.clear_faults()
    page = first.content.decode()
    assert "may or may not have changed" in page, [m.message for m in first.context["messages"]]
    assert not AuditEntry.objects.filter(action="payout.schedule_change").exists()
    held = sdk(money_control.url).v1.accounts.retrieve(account).settings.payouts.schedule
    assert (held.interval, held.monthly_anchor) == ("monthly", 10)  # the processor acted
    second = owner.post(url, form, follow=True)
    assert "Payout schedule changed." in second.content.decode()
    assert AuditEntry.objects.filter(action="payout.schedule_change").count() == 1
    held = sdk(money_control.url).v1.accounts.retrieve(account).settings.payouts.schedule
    assert (held.interval, held.monthly_anchor, held.delay_days) == ("monthly", 10, 4)
