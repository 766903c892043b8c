"""Which payout carries a balance transaction: a payout's listing says so, and a later plain
read of recent transactions (a `balance.available` event) never undoes it.

A failed payout's money comes back as a `payout_failure` transaction whose source is that
payout; the next payout sweeps it. A plain listing names no payout, and the mirror's guess for
a payout's own movement (it belongs to its source payout) once moved the returned money back to
the failed payout, leaving the sweeping payout short of its amount.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compliance.actors import Actor
from payments.models import BalanceTransaction, BalanceTransactionType, Payout, PayoutStatus
from payments.payout_reports import payout_contents
from payments.services import merchant_connect_account_ensure
from payments.services.payouts import MoneyRead, money_read_apply, money_read_recent
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import control_actions, deliver_events

pytestmark = pytest.mark.django_db


def _pay_now(api, amount: int) -> None:
    response = api.post(
        "/api/v1/payments",
        {"amount": amount, "currency": "gbp", "payment_method": "pm_card_bypassPending"},
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_a_recent_read_leaves_a_returned_payouts_money_with_the_payout_that_swept_it(
    money_control,
):
    """Given a payout the bank returned and the next payout sweeping its money, when the
    recent transactions are read and applied again, then the return stays with the sweeping
    payout, whose items still add up to its amount, and the failed one's to its own."""
    merchant = MerchantFactory(default_currency="gbp", country="GB")
    api = api_client_for(merchant)
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    controls = control_actions(money_control)
    _pay_now(api, 5_000)
    returned = controls.stripe_action("accounts", account, "payout_run")["payouts"][0]["id"]
    controls.stripe_action("payouts", returned, "move")
    controls.stripe_action("payouts", returned, "fail", {"failure_code": "could_not_process"})
    _pay_now(api, 3_000)
    sweeping = controls.stripe_action("accounts", account, "payout_run")["payouts"][0]["id"]
    deliver_events(money_control.url, account=account)

    everything = money_read_recent(merchant=merchant, since=datetime.fromtimestamp(0, tz=UTC))
    money_read_apply(
        merchant=merchant,
        read=MoneyRead(entries=everything.entries),
        actor=Actor.system("tests"),
    )

    failed = Payout.objects.get(processor_payout_id=returned)
    carrier = Payout.objects.get(processor_payout_id=sweeping)
    assert failed.status == PayoutStatus.FAILED
    back = BalanceTransaction.objects.get(
        merchant=merchant, type=BalanceTransactionType.PAYOUT_FAILURE
    )
    assert back.payout == carrier
    assert payout_contents(carrier).net == carrier.amount
    assert payout_contents(failed).net == failed.amount
