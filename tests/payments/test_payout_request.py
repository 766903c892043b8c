"""Pay out now: on a manual schedule, owners and admins pay the available balance out, once.

The money tests' sandbox runs ahead of the wall clock (its clock is moved by days so funds
become available), so each test reads the pages at the sandbox's time.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from compliance.models import AuditEntry
from payments.models import Payout
from payments.services import merchant_connect_account_ensure
from tests.factories import MerchantFactory, member, verified_client
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import card_fee, control_actions, deliver_events, sdk

pytestmark = pytest.mark.django_db

DAY = 24 * 3600
AMOUNTS = (10_000, 2_550)
AVAILABLE = sum(a - card_fee(a) for a in AMOUNTS)
_TOKEN = re.compile(r'name="submission_token" value="([^"]+)"')


@pytest.fixture
def manual(money_control):
    """A merchant on a manual schedule whose two payments' funds are available, read at the
    sandbox's time (the context stays open for the test)."""
    merchant = MerchantFactory(default_currency="gbp", country="GB")
    api = api_client_for(merchant)
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    sdk(money_control.url).v1.accounts.update(
        account, {"settings": {"payouts": {"schedule": {"interval": "manual"}}}}
    )
    for amount in AMOUNTS:
        response = api.post(
            "/api/v1/payments",
            {"amount": amount, "currency": "gbp", "payment_method": "pm_card_visa"},
            format="json",
        )
        assert response.status_code == 201, response.json()
    now = control_actions(money_control).advance_clock(6 * DAY)
    deliver_events(money_control.url, account=account)
    with time_machine.travel(now + 60, tick=True):
        owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
        yield {"merchant": merchant, "account": account, "owner": owner}


def _token(client: Any) -> str:
    page = client.get(reverse("balance"))
    assert page.status_code == 200
    found = _TOKEN.search(page.content.decode().split('id="payout-request-heading"')[1])
    assert found, "the pay-out-now form is not on the balance page"
    return found.group(1)


def _payouts_at_processor(url: str, account: str) -> list[Any]:
    return list(sdk(url).v1.payouts.list({"limit": 100}, {"stripe_account": account}).data)


def _post(client: Any, token: str, amount: str, currency: str = "gbp") -> Any:
    return client.post(
        reverse("payout-create"),
        {"amount": amount, "currency": currency, "submission_token": token},
        follow=True,
    )


def _messages(response: Any) -> str:
    return " | ".join(str(m) for m in response.context["messages"])


def test_owner_pays_out_the_available_balance_once(manual, money_control):
    """Given available funds on a manual schedule, when the owner pays them out (and the
    button is pressed twice), then one payout is made, mirrored and audited with step-up."""
    owner, account = manual["owner"], manual["account"]
    page = owner.get(reverse("balance")).content.decode()
    assert "Pay out now" in page
    assert f'value="{AVAILABLE / 100:.2f}"' in page  # the whole available balance, prefilled
    token = _token(owner)

    first = _post(owner, token, f"{AVAILABLE / 100:.2f}")
    second = _post(owner, token, f"{AVAILABLE / 100:.2f}")  # a double click's second post

    at_processor = _payouts_at_processor(money_control.url, account)
    assert [(p.amount, p.automatic) for p in at_processor] == [(AVAILABLE, False)]
    payout = Payout.objects.get(merchant=manual["merchant"])
    assert (payout.processor_payout_id, payout.amount, payout.automatic) == (
        at_processor[0].id,
        AVAILABLE,
        False,
    )
    assert first.request["PATH_INFO"] == reverse("payout-detail", args=[payout.public_id])
    assert "made; it should arrive on" in _messages(first)
    assert "made; it should arrive on" in _messages(second)  # the first outcome, replayed
    request_entry = AuditEntry.objects.get(action="payout.request")
    assert request_entry.payload["amount"] == AVAILABLE
    assert request_entry.payload["step_up"] is True
    created = AuditEntry.objects.get(action="payout.create")
    assert created.target_id == payout.public_id
    assert created.payload["step_up"] is True


@pytest.mark.parametrize("fault", ["lose_response", "error_500_after"])
def test_a_lost_answer_is_read_back_at_once_and_pays_out_once(
    manual, money_control, monkeypatch, fault
):
    """Given the processor makes the payout but its answer is lost, when the request reads
    back the payout its key names, then the person is told it was made, once."""
    from payments.gateways.stripe import resilience

    owner, account = manual["owner"], manual["account"]
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    token = _token(owner)
    money_control.fault(kind=fault, method="POST", path="/v1/payouts")
    try:
        first = _post(owner, token, "50.00")
    finally:
        money_control.clear_faults()

    assert "made; it should arrive on" in _messages(first)
    at_processor = _payouts_at_processor(money_control.url, account)
    assert [p.amount for p in at_processor] == [5_000]
    assert Payout.objects.get(merchant=manual["merchant"]).processor_payout_id == (
        at_processor[0].id
    )
    assert AuditEntry.objects.filter(action="payout.create").count() == 1


@pytest.mark.parametrize("fault", ["lose_response", "error_500_after"])
def test_a_lost_answer_then_pressing_again_pays_out_once(manual, money_control, monkeypatch, fault):
    """Given the payout is made but its answer is lost and reading it back fails too, when the
    person is told it may or may not have happened and presses again, then the same payout is
    found and mirrored: one payout at the processor, one in Ledgerline, one success audited."""
    from payments.gateways.stripe import resilience

    owner, account = manual["owner"], manual["account"]
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    token = _token(owner)
    money_control.fault(kind=fault, method="POST", path="/v1/payouts")
    money_control.fault(kind="error_500", method="GET", path="/v1/payouts")
    try:
        first = _post(owner, token, "50.00")
    finally:
        money_control.clear_faults()
    assert "may or may not have been made" in _messages(first)
    assert not Payout.objects.filter(merchant=manual["merchant"]).exists()
    assert len(_payouts_at_processor(money_control.url, account)) == 1  # the processor acted
    assert _token(owner) == token  # the form keeps its token until the outcome is final

    again = _post(owner, token, "50.00")

    assert "made; it should arrive on" in _messages(again)
    at_processor = _payouts_at_processor(money_control.url, account)
    assert [p.amount for p in at_processor] == [5_000]
    assert Payout.objects.get(merchant=manual["merchant"]).processor_payout_id == (
        at_processor[0].id
    )
    assert AuditEntry.objects.filter(action="payout.create").count() == 1
    assert AuditEntry.objects.filter(action="payout.request").count() == 1


@pytest.mark.parametrize(
    ("amount", "currency", "says"),
    [
        (f"{(AVAILABLE + 1) / 100:.2f}", "gbp", "insufficient funds"),
        ("0", "gbp", "must be positive"),
        ("-5.00", "gbp", "Enter an amount"),
        ("12.345", "gbp", "No payout was made"),
        ("lots", "gbp", "Enter an amount"),
        ("4111111111111111", "gbp", "No payout was made"),
        ("10.00", "usd", "insufficient funds"),
        ("10.00", "x1", "No payout was made"),
        ("10.00", "", "No payout was made"),
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_is_paid_out(
    manual, money_control, amount, currency, says
):
    owner = manual["owner"]
    response = _post(owner, _token(owner), amount, currency)
    assert response.status_code == 200
    assert says in _messages(response)
    assert _payouts_at_processor(money_control.url, manual["account"]) == []
    assert not Payout.objects.filter(merchant=manual["merchant"]).exists()
    assert not AuditEntry.objects.filter(action="payout.create").exists()


def test_only_owners_and_admins_under_a_fresh_code_may_pay_out(manual, money_control):
    from datetime import timedelta

    from django.utils import timezone

    from accounts import session_security

    merchant = manual["merchant"]
    analyst = verified_client(member(Role.ANALYST, merchant).user, merchant=merchant)
    assert "Pay out now" not in analyst.get(reverse("balance")).content.decode()
    assert (
        analyst.post(reverse("payout-create"), {"amount": "1.00", "currency": "gbp"}).status_code
        == 403
    )
    admin = verified_client(member(Role.ADMIN, merchant).user, merchant=merchant)
    session = admin.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    stale = admin.post(reverse("payout-create"), {"amount": "1.00", "currency": "gbp"})
    assert stale["Location"].startswith(reverse("accounts:step_up"))
    assert _payouts_at_processor(money_control.url, manual["account"]) == []


def test_on_an_automatic_schedule_there_is_no_button_and_a_post_is_refused(manual, money_control):
    owner, account = manual["owner"], manual["account"]
    token = _token(owner)
    sdk(money_control.url).v1.accounts.update(
        account, {"settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}}}
    )
    assert "Pay out now" not in owner.get(reverse("balance")).content.decode()
    response = _post(owner, token, "1.00")
    assert "choose the manual schedule" in _messages(response)
    # The new schedule pays the balance out by itself; nothing was paid out by hand.
    assert [p for p in _payouts_at_processor(money_control.url, account) if not p.automatic] == []
    assert not AuditEntry.objects.filter(action="payout.request").exists()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.text(max_size=24),
    currency=st.one_of(st.text(max_size=6), st.sampled_from(["gbp", "GBP", "usd", "jpy"])),
    token=st.one_of(st.sampled_from([None, "issued"]), st.text(max_size=60)),
)
def test_generated_input_never_answers_500_nor_pays_out_more_than_available(
    manual, money_control, amount, currency, token
):
    owner = manual["owner"]
    form = {"amount": amount, "currency": currency}
    if token is not None:
        form["submission_token"] = _token(owner) if token == "issued" else token
    response = owner.post(reverse("payout-create"), form)
    assert response.status_code in (302, 400, 403)
    paid = sum(p.amount for p in _payouts_at_processor(money_control.url, manual["account"]))
    assert paid <= AVAILABLE
