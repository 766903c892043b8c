"""A payment's, refund's or dispute's event reads the balance transactions it names, not the
whole recent history: one processor call per event whatever the shop's volume, and an event
that arrives hours late still finds its own transaction."""

from __future__ import annotations

from typing import Any

import pytest

from payments.gateways.stripe.api import StripeGateway
from payments.gateways.stripe.events import balance_transaction_ids
from payments.models import BalanceTransaction, Payment
from payments.services import merchant_connect_account_ensure
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import card_fee, control_actions, deliver_events

pytestmark = pytest.mark.django_db

HOUR = 3600


def _pay(api: Any, amount: int) -> Payment:
    response = api.post(
        "/api/v1/payments",
        {"amount": amount, "currency": "gbp", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Payment.objects.get(public_id=response.json()["id"])


@pytest.fixture
def shop(money_control):
    merchant = MerchantFactory(default_currency="gbp", country="GB")
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    return {"merchant": merchant, "api": api_client_for(merchant), "account": account}


def test_a_charge_event_reads_only_its_own_balance_transaction(shop, money_control, monkeypatch):
    """Given a busy shop, when a payment's events arrive, then the fee comes from one read of
    the transaction the charge names, and the recent history is never listed for it."""
    reads: list[str] = []
    retrieve = StripeGateway.balance_entry_retrieve

    def counted(self: StripeGateway, *, account: str, entry: str) -> Any:
        reads.append(entry)
        return retrieve(self, account=account, entry=entry)

    def refused(self: StripeGateway, **kwargs: Any) -> Any:
        raise AssertionError("a charge event listed the balance history")

    monkeypatch.setattr(StripeGateway, "balance_entry_retrieve", counted)
    monkeypatch.setattr(StripeGateway, "balance_entry_list", refused)
    payment = _pay(shop["api"], 4_200)
    deliver_events(money_control.url, account=shop["account"])

    payment.refresh_from_db()
    assert (payment.fee, payment.net) == (card_fee(4_200), 4_200 - card_fee(4_200))
    assert len(reads) == len(set(reads)) >= 1
    mirrored = BalanceTransaction.objects.get(payment=payment)
    assert mirrored.processor_transaction_id in reads


def test_a_charge_event_delivered_hours_late_still_gets_its_fee(shop, money_control):
    """Given a payment whose events are held back while a later payment's arrive two hours
    on, when the late events arrive, then the first payment's fee and net are filled in too
    (re-listing from the newest transaction held, less an hour, would never see it)."""
    early = _pay(shop["api"], 1_000)
    # The early payment's events exist now; counted as seen, they are held back.
    held_back = _event_ids(money_control.url, shop["account"])
    control_actions(money_control).advance_clock(2 * HOUR)
    later = _pay(shop["api"], 2_000)
    deliver_events(money_control.url, account=shop["account"], seen=set(held_back))
    later.refresh_from_db()
    assert later.fee == card_fee(2_000)
    early.refresh_from_db()
    assert early.fee is None

    deliver_events(money_control.url, account=shop["account"])  # the held-back ones, late

    early.refresh_from_db()
    assert (early.fee, early.net) == (card_fee(1_000), 1_000 - card_fee(1_000))


def _event_ids(url: str, account: str) -> set[str]:
    import requests

    from tests.payments.conftest import SECRET_KEY

    response = requests.get(
        f"{url}/v1/events",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {SECRET_KEY}", "Stripe-Account": account},
        timeout=10,
    )
    response.raise_for_status()
    return {event["id"] for event in response.json()["data"]}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"id": "ch_1", "balance_transaction": "txn_1"}, ["txn_1"]),
        ({"id": "ch_1", "balance_transaction": {"id": "txn_2", "object": "x"}}, ["txn_2"]),
        ({"id": "ch_1", "balance_transaction": None}, []),
        (
            {"id": "re_1", "balance_transaction": "txn_1", "failure_balance_transaction": "txn_9"},
            [
                "txn_1",
                "txn_9",
            ],
        ),
        (
            {"id": "dp_1", "balance_transactions": [{"id": "txn_3"}, "txn_4", {"id": "txn_3"}]},
            [
                "txn_3",
                "txn_4",
            ],
        ),
        ({"id": "ch_1", "balance_transaction": "../../v1/payouts"}, []),
        ({"id": "ch_1", "balance_transaction": 12}, []),
        ({"id": "dp_1", "balance_transactions": "txn_5"}, []),
        (
            {"id": "dp_1", "balance_transactions": [f"txn_{n}" for n in range(50)]},
            [
                "txn_0",
                "txn_1",
                "txn_2",
                "txn_3",
            ],
        ),
    ],
)
def test_only_balance_transaction_ids_are_read_from_a_payload(obj, expected):
    assert balance_transaction_ids(obj) == expected
