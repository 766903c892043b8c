"""The Stripe stand-in's money, driven by the official SDK: balance, balance transactions and
fees, availability on the sandbox clock, manual and automatic payouts, their schedule,
failures and webhooks, and that malformed parameters are Stripe errors, never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.server import SandboxHandle
from sandbox.stripe.errors import StripeError
from sandbox.stripe.params import parse_multipart
from sandbox.stripe.resources.ledger import DAY, ach_fee, card_fee
from sandbox.stripe.resources.payouts import arrival_for, next_run
from tests.sandbox.conformance import assert_conforms
from tests.sandbox.conftest import SANDBOX_KEY, Receiver, make_client
from tests.sandbox.money_support import (
    balance,
    connected,
    days,
    listed,
    pay,
    pay_by_bank,
    to_noon,
)


def _stamp(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# --- fees ------------------------------------------------------------------------------------
@given(st.integers(min_value=1, max_value=99_999_999))
def test_card_fee_is_2_9_percent_plus_30_rounded_half_up(amount):
    exact = (Decimal(amount) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert card_fee(amount) == int(exact) + 30


@given(st.integers(min_value=1, max_value=99_999_999))
def test_ach_fee_is_0_8_percent_rounded_half_up_capped_at_5(amount):
    exact = (Decimal(amount) * Decimal("0.008")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert ach_fee(amount) == min(int(exact), 500)


def test_a_card_charge_books_its_fee_and_net_pending_until_two_midnights(sandbox):
    """Given a 100.00 card payment, then its balance transaction is a pending charge with a
    3.20 Stripe fee, net 96.80, available at midnight UTC two days after its creation."""
    client = make_client(sandbox.url)
    options = connected(client)
    pi = pay(client, options)
    charge = client.v1.charges.retrieve(str(pi.latest_charge), options=options)
    txn = client.v1.balance_transactions.retrieve(str(charge.balance_transaction), options=options)
    assert_conforms(txn)
    assert (txn.type, txn.amount, txn.fee, txn.net, txn.status) == (
        "charge",
        10_000,
        320,
        9_680,
        "pending",
    )
    assert txn.fee_details[0].type == "stripe_fee"
    assert txn.fee_details[0].amount == 320
    assert txn.source == charge.id
    assert txn.available_on == txn.created - txn.created % DAY + 2 * DAY
    found = client.v1.balance.retrieve(options=options)
    assert_conforms(found)
    assert balance(client, options) == {"available": {"usd": 0}, "pending": {"usd": 9_680}}


def test_funds_become_available_on_the_clock_with_balance_available(hooked):
    """When the clock passes available_on, the charge is available and balance.available,
    naming the connected account, is delivered with the new balance."""
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 5_000)
    days(handle, 2)
    assert balance(client, options) == {"available": {"usd": 4_825}, "pending": {"usd": 0}}
    assert handle.control.wait_for_webhooks(10)
    event = next(e for e in receiver.events() if e["type"] == "balance.available")
    assert event["account"] == options["stripe_account"]
    assert event["data"]["object"]["available"][0]["amount"] == 4_825


def test_bypass_pending_card_is_available_at_once(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 2_000, pm="pm_card_bypassPending")
    assert balance(client, options)["available"] == {"usd": 2_000 - 88}


def test_refund_debits_the_available_balance_at_once_and_keeps_the_fee(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pi = pay(client, options, 10_000)
    refund = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 2_500}, options=options
    )
    txn = client.v1.balance_transactions.retrieve(str(refund.balance_transaction), options=options)
    assert (txn.type, txn.amount, txn.fee, txn.status) == ("refund", -2_500, 0, "available")
    assert balance(client, options) == {"available": {"usd": -2_500}, "pending": {"usd": 9_680}}


def test_ach_debit_is_a_payment_with_the_capped_ach_fee_in_the_bank_account_balance(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay_by_bank(sandbox, client, options, 100_000)
    (txn,) = client.v1.balance_transactions.list(params={"type": "payment"}, options=options).data
    assert (txn.amount, txn.fee, txn.net) == (100_000, 500, 99_500)
    found = client.v1.balance.retrieve(options=options)
    assert found.pending[0].source_types.bank_account == 99_500


# --- manual payouts --------------------------------------------------------------------------
def test_manual_payout_is_refused_beyond_the_available_balance(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 10_000)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payouts.create(params={"amount": 1, "currency": "usd"}, options=options)
    assert caught.value.code == "balance_insufficient"
    days(sandbox, 2)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.create(params={"amount": 9_681, "currency": "usd"}, options=options)
    assert client.v1.payouts.list(options=options).data == []


def test_manual_payout_goes_pending_in_transit_paid_with_webhooks(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 10_000)
    days(handle, 2)
    to_noon(handle)
    payout = client.v1.payouts.create(
        params={"amount": 9_000, "currency": "usd", "statement_descriptor": "LEDGERLINE"},
        options=options,
    )
    assert_conforms(payout)
    assert (payout.status, payout.automatic, payout.method) == ("pending", False, "standard")
    assert payout.arrival_date == arrival_for(payout.created)
    assert _weekday(payout.arrival_date) < 5
    assert balance(client, options)["available"] == {"usd": 680}
    own = client.v1.balance_transactions.list(params={"payout": payout.id}, options=options)
    assert [(t.type, t.amount) for t in own.data] == [("payout", -9_000)]
    handle.control.advance_clock(3_600)
    assert client.v1.payouts.retrieve(payout.id, options=options).status == "in_transit"
    days(handle, 4)
    paid = client.v1.payouts.retrieve(payout.id, options=options)
    assert paid.status == "paid"
    assert handle.control.wait_for_webhooks(10)
    types = [e["type"] for e in receiver.events() if e["data"]["object"].get("id") == payout.id]
    assert types == ["payout.created", "payout.updated", "payout.updated", "payout.paid"]


def test_pending_manual_payout_can_be_canceled_and_returns_the_money(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 10_000, pm="pm_card_bypassPending")
    payout = client.v1.payouts.create(params={"amount": 5_000, "currency": "usd"}, options=options)
    canceled = client.v1.payouts.cancel(payout.id, options=options)
    assert canceled.status == "canceled"
    back = client.v1.balance_transactions.retrieve(
        str(canceled.failure_balance_transaction), options=options
    )
    assert (back.type, back.amount) == ("payout_cancel", 5_000)
    assert balance(client, options)["available"] == {"usd": 9_680}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payouts.cancel(payout.id, options=options)
    assert caught.value.code == "payout_not_cancelable"


# --- automatic payouts -----------------------------------------------------------------------
def test_daily_payout_sweeps_the_available_transactions_and_reconciles(hooked):
    """Given two payments and a partial refund on a daily schedule, when the clock passes the
    availability date and the arrival date, then one automatic payout pays what was available,
    and its balance transactions (besides its own) sum to its amount."""
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(client)
    first = pay(client, options, 10_000)
    pay(client, options, 4_000)
    client.v1.refunds.create(params={"payment_intent": first.id, "amount": 1_000}, options=options)
    days(handle, 7)
    payouts = client.v1.payouts.list(options=options)
    assert_conforms(payouts, stripe.Payout)
    (payout,) = payouts.data
    expected = 10_000 - card_fee(10_000) + 4_000 - card_fee(4_000) - 1_000
    assert (payout.automatic, payout.amount, payout.status) == (True, expected, "paid")
    assert payout.reconciliation_status == "completed"
    items = listed(
        client.v1.balance_transactions.list(params={"payout": payout.id}, options=options)
    )
    swept = [t for t in items if t.type != "payout"]
    assert sorted(t.type for t in swept) == ["charge", "charge", "refund"]
    assert sum(t.net for t in swept) == payout.amount
    assert [t.amount for t in items if t.type == "payout"] == [-payout.amount]
    assert balance(client, options) == {"available": {"usd": 0}, "pending": {"usd": 0}}
    assert handle.control.wait_for_webhooks(10)
    assert "payout.paid" in [e["type"] for e in receiver.events()]


def test_a_negative_balance_is_not_paid_out(sandbox):
    client = make_client(sandbox.url)
    options = connected(client)
    pi = pay(client, options, 10_000, pm="pm_card_bypassPending")
    sandbox.control.stripe_action("charges", str(pi.latest_charge), "dispute", {})
    days(sandbox, 5)
    assert client.v1.payouts.list(options=options).data == []
    assert balance(client, options)["available"]["usd"] == 9_680 - 10_000 - 1_500


def test_weekly_schedule_pays_on_its_anchor_day(sandbox):
    client = make_client(sandbox.url)
    options = connected(
        client,
        settings={"payouts": {"schedule": {"interval": "weekly", "weekly_anchor": "friday"}}},
    )
    account = client.v1.accounts.retrieve(options["stripe_account"])
    assert account.settings.payouts.schedule.weekly_anchor == "friday"
    pay(client, options, 3_000)
    days(sandbox, 12)
    (payout,) = client.v1.payouts.list(options=options).data
    assert _weekday(payout.created) == 4
    assert payout.created % DAY == 0


def test_schedule_update_through_the_accounts_endpoint_is_announced(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(client)
    updated = client.v1.accounts.update(
        options["stripe_account"],
        params={
            "settings": {"payouts": {"schedule": {"interval": "monthly", "monthly_anchor": 31}}}
        },
    )
    assert_conforms(updated)
    schedule = updated.settings.payouts.schedule
    assert (schedule.interval, schedule.monthly_anchor, schedule.delay_days) == ("monthly", 31, 2)
    assert handle.control.wait_for_webhooks(10)
    event = [e for e in receiver.events() if e["type"] == "account.updated"][-1]
    previous = event["data"]["previous_attributes"]["settings"]["payouts"]["schedule"]
    assert previous["interval"] == "daily"


@pytest.mark.parametrize(
    ("schedule", "param"),
    [
        ({"interval": "weekly"}, "settings[payouts][schedule][weekly_anchor]"),
        ({"interval": "monthly"}, "settings[payouts][schedule][monthly_anchor]"),
        ({"interval": "manual", "delay_days": 3}, "settings[payouts][schedule][delay_days]"),
        ({"delay_days": 1}, "settings[payouts][schedule][delay_days]"),
        ({"delay_days": "soon"}, "settings[payouts][schedule][delay_days]"),
        ({"interval": "hourly"}, "settings[payouts][schedule][interval]"),
        ({"monthly_anchor": 32}, "settings[payouts][schedule][monthly_anchor]"),
    ],
)
def test_bad_schedules_are_refused_naming_the_parameter(sandbox, schedule, param):
    client = make_client(sandbox.url)
    options = connected(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.accounts.update(
            options["stripe_account"], params={"settings": {"payouts": {"schedule": schedule}}}
        )
    assert caught.value.param == param
    account = client.v1.accounts.retrieve(options["stripe_account"])
    assert account.settings.payouts.schedule.interval == "daily"


def test_delay_days_sets_when_new_charges_become_available(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    client.v1.accounts.update(
        options["stripe_account"],
        params={"settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 5}}}},
    )
    pi = pay(client, options, 1_000)
    charge = client.v1.charges.retrieve(str(pi.latest_charge), options=options)
    txn = client.v1.balance_transactions.retrieve(str(charge.balance_transaction), options=options)
    assert txn.available_on == txn.created - txn.created % DAY + 5 * DAY


def test_next_run_and_arrival_dates():
    """Monthly anchors past a short month's end pay on its last day; arrival skips weekends."""
    monthly = {"interval": "monthly", "monthly_anchor": 31}
    assert next_run(monthly, not_before=_stamp("2026-02-03T10:00:00"), after=None) == _stamp(
        "2026-02-28T00:00:00"
    )
    weekly = {"interval": "weekly", "weekly_payout_days": ["tuesday", "thursday"]}
    wednesday = _stamp("2026-12-09T00:00:01")
    assert next_run(weekly, not_before=wednesday, after=None) == _stamp("2026-12-10T00:00:00")
    daily = {"interval": "daily"}
    midnight = _stamp("2026-12-09T00:00:00")
    assert next_run(daily, not_before=midnight, after=None) == midnight
    assert next_run(daily, not_before=midnight, after=midnight) == midnight + DAY
    assert next_run({"interval": "manual"}, not_before=midnight, after=None) is None
    friday = _stamp("2026-12-11T15:00:00")
    assert arrival_for(friday) == _stamp("2026-12-14T00:00:00")


# --- failures --------------------------------------------------------------------------------
def test_payout_to_a_closed_test_bank_account_fails_and_returns_the_funds(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(
        client,
        external_account="btok_us_verified_accountClosed",
        settings={"payouts": {"schedule": {"interval": "manual"}}},
    )
    pay(client, options, 10_000, pm="pm_card_bypassPending")
    payout = client.v1.payouts.create(params={"amount": 9_680, "currency": "usd"}, options=options)
    days(handle, 5)
    failed = client.v1.payouts.retrieve(payout.id, options=options)
    assert_conforms(failed)
    assert (failed.status, failed.failure_code) == ("failed", "account_closed")
    assert failed.failure_message
    back = client.v1.balance_transactions.retrieve(
        str(failed.failure_balance_transaction), options=options
    )
    assert (back.type, back.amount, back.status) == ("payout_failure", 9_680, "available")
    assert balance(client, options)["available"] == {"usd": 9_680}
    assert handle.control.wait_for_webhooks(10)
    types = [e["type"] for e in receiver.events() if e["data"]["object"].get("id") == payout.id]
    assert types[-1] == "payout.failed"


def test_failure_switches_on_the_account_and_on_one_payout(sandbox):
    """The account switch fails its payouts at arrival until cleared; the payout switch fails
    one payout at once; a finished payout cannot fail."""
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    account = options["stripe_account"]
    pay(client, options, 10_000, pm="pm_card_bypassPending")
    sandbox.control.stripe_action(
        "accounts", account, "payout_failure", {"failure_code": "no_account"}
    )
    first = client.v1.payouts.create(params={"amount": 9_680, "currency": "usd"}, options=options)
    days(sandbox, 5)
    first = client.v1.payouts.retrieve(first.id, options=options)
    assert (first.status, first.failure_code) == ("failed", "no_account")
    sandbox.control.stripe_action("accounts", account, "payout_failure", {"failure_code": None})
    again = client.v1.payouts.create(params={"amount": 9_680, "currency": "usd"}, options=options)
    days(sandbox, 5)
    assert client.v1.payouts.retrieve(again.id, options=options).status == "paid"
    pay(client, options, 1_000, pm="pm_card_bypassPending")
    third = client.v1.payouts.create(params={"amount": 500, "currency": "usd"}, options=options)
    forced = sandbox.control.stripe_action(
        "payouts", third.id, "fail", {"failure_code": "account_frozen"}
    )
    assert (forced["status"], forced["failure_code"]) == ("failed", "account_frozen")
    with pytest.raises(Exception, match="400"):
        sandbox.control.stripe_action("payouts", again.id, "fail", {})
    assert balance(client, options)["available"] == {"usd": 1_000 - card_fee(1_000)}


def test_payouts_disabled_stops_payouts(sandbox):
    client = make_client(sandbox.url)
    options = connected(client)
    sandbox.control.stripe_action(
        "accounts", options["stripe_account"], "update", {"payouts_enabled": False}
    )
    pay(client, options, 10_000, pm="pm_card_bypassPending")
    days(sandbox, 4)
    assert client.v1.payouts.list(options=options).data == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payouts.create(params={"amount": 100, "currency": "usd"}, options=options)
    assert caught.value.code == "payouts_not_allowed"


# --- lists -----------------------------------------------------------------------------------
def test_payout_and_balance_transaction_list_filters(sandbox):
    client = make_client(sandbox.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 20_000, pm="pm_card_bypassPending")
    first = client.v1.payouts.create(params={"amount": 1_000, "currency": "usd"}, options=options)
    days(sandbox, 5)
    second = client.v1.payouts.create(params={"amount": 2_000, "currency": "usd"}, options=options)
    by_status = client.v1.payouts.list(params={"status": "paid"}, options=options)
    assert_conforms(by_status, stripe.Payout)
    assert [p.id for p in by_status.data] == [first.id]
    later = client.v1.payouts.list(params={"created": {"gt": first.created}}, options=options)
    assert [p.id for p in later.data] == [second.id]
    arriving = client.v1.payouts.list(
        params={"arrival_date": {"lte": first.arrival_date}}, options=options
    )
    assert [p.id for p in arriving.data] == [first.id]
    page = client.v1.payouts.list(params={"limit": 1}, options=options)
    assert page.has_more
    rest = client.v1.payouts.list(params={"starting_after": page.data[0].id}, options=options)
    assert [p.id for p in rest.data] == [first.id]
    txns = client.v1.balance_transactions.list(params={"type": "payout"}, options=options)
    assert_conforms(txns, stripe.BalanceTransaction)
    assert sorted(t.amount for t in txns.data) == [-2_000, -1_000]
    recent = client.v1.balance_transactions.list(
        params={"created": {"gte": second.created}}, options=options
    )
    assert [t.source for t in recent.data] == [second.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.balance_transactions.list(params={"payout": "po_missing"}, options=options)


def test_money_is_scoped_to_its_account(sandbox):
    client = make_client(sandbox.url)
    mine, other = connected(client), connected(client)
    pay(client, mine, 5_000)
    assert balance(client, other)["pending"] == {"usd": 0}
    assert client.v1.balance_transactions.list(options=other).data == []


def _weekday(timestamp: int) -> int:
    return datetime.fromtimestamp(timestamp, UTC).weekday()


# --- malformed input -------------------------------------------------------------------------
def _post(url: str, path: str, body: bytes, account: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    if account:
        headers["Stripe-Account"] = account
    request = urllib.request.Request(url + path, data=body, method="POST", headers=headers)  # noqa: S310
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            json.loads(answer.read())
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        json.loads(exc.read())
        return int(exc.code)


_scalars = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "true", "minimum"]),
)
_fields = st.sampled_from(
    [
        "amount",
        "currency",
        "method",
        "source_type",
        "destination",
        "settings[payouts][schedule][interval]",
        "settings[payouts][schedule][delay_days]",
        "settings[payouts][schedule][weekly_anchor]",
        "settings[payouts][schedule][monthly_anchor]",
        "settings[payouts][schedule][monthly_payout_days][]",
        "external_account",
        "external_account[object]",
        "external_account[account_number]",
        "evidence[receipt]",
        "evidence[uncategorized_text]",
        "evidence[enhanced_evidence][x]",
        "submit",
        "purpose",
        "file",
        "metadata[k]",
    ]
)


@pytest.fixture(scope="module")
def shared_sandbox():
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    try:
        yield handle
    finally:
        handle.stop()


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(["/v1/payouts", "/v1/accounts/{acct}", "/v1/disputes/{du}", "/v1/files"]),
    pairs=st.lists(st.tuples(_fields, _scalars), max_size=5),
)
def test_malformed_money_parameters_are_never_a_500(shared_sandbox: SandboxHandle, path, pairs):
    client = make_client(shared_sandbox.url)
    if not hasattr(shared_sandbox, "_money_ids"):
        options = connected(client)
        pi = pay(client, options, 5_000, pm="pm_card_createDispute")
        charge = client.v1.charges.retrieve(str(pi.latest_charge), options=options)
        shared_sandbox._money_ids = (options["stripe_account"], str(charge.dispute))  # type: ignore[attr-defined]
    account, dispute = shared_sandbox._money_ids  # type: ignore[attr-defined]
    target = path.format(acct=account, du=dispute)
    status = _post(
        shared_sandbox.url,
        target,
        urlencode(pairs).encode(),
        None if target.startswith("/v1/accounts") else account,
    )
    assert status < 500


def test_payout_receiver_gets_signed_connect_events(hooked: tuple[SandboxHandle, Receiver]):
    handle, receiver = hooked
    client = make_client(handle.url)
    options = connected(client, settings={"payouts": {"schedule": {"interval": "manual"}}})
    pay(client, options, 1_000, pm="pm_card_bypassPending")
    client.v1.payouts.create(params={"amount": 500, "currency": "usd"}, options=options)
    assert handle.control.wait_for_webhooks(10)
    delivery = next(r for r in receiver.received if r.event["type"] == "payout.created")
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["stripe-signature"], "whsec_ledgerline_sandbox"
    )
    assert event.account == options["stripe_account"]


def test_an_account_from_an_older_state_file_keeps_working(sandbox):
    """An account saved before payouts existed (no settings, no external account): its money
    is never paid out to nowhere, and a schedule can be set on it."""
    client = make_client(sandbox.url)
    options = connected(client)
    stored = sandbox.sandbox.stripe.store.objects[options["stripe_account"]]
    del stored["settings"]
    stored["external_accounts"]["data"] = []
    pay(client, options, 5_000)
    days(sandbox, 6)
    assert client.v1.payouts.list(options=options).data == []
    assert balance(client, options)["available"] == {"usd": 5_000 - card_fee(5_000)}
    updated = client.v1.accounts.update(
        options["stripe_account"],
        params={"settings": {"payouts": {"schedule": {"interval": "manual"}}}},
    )
    assert updated.settings.payouts.schedule.interval == "manual"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payouts.create(params={"amount": 100, "currency": "usd"}, options=options)
    assert caught.value.code == "no_external_account"


_parts = st.lists(
    st.tuples(
        st.sampled_from(['name="purpose"', 'name="file"; filename="a/b.pdf"', "", 'name=""']),
        st.binary(max_size=40),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(parts=_parts, noise=st.binary(max_size=60), boundary=st.sampled_from(["xyz", "", '"q"']))
def test_any_multipart_body_parses_or_is_a_stripe_400(parts, noise, boundary):
    body = b"".join(
        b"--xyz\r\nContent-Disposition: form-data; "
        + header.encode()
        + b"\r\n\r\n"
        + data
        + b"\r\n"
        for header, data in parts
    )
    for raw in (body + b"--xyz--\r\n", noise, body + noise):
        try:
            parsed: object = parse_multipart(raw, f"multipart/form-data; boundary={boundary}")
        except StripeError as exc:
            parsed = exc.status
        assert parsed == 400 or isinstance(parsed, dict)
