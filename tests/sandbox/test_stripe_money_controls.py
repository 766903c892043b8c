"""The Stripe stand-in's money controls that act now, without moving the clock: the automatic
payout runs (`accounts/{id}/payout_run`), the bank moves a payout (`payouts/{id}/move`), the
card network decides a dispute (`disputes/{id}/resolve`). `seed_demo` builds its history with
them, so the sandbox clock (which signs Plaid's webhooks) stays on real time."""

from __future__ import annotations

import pytest

from sandbox.client import ControlAPIError
from sandbox.stripe.resources.disputes import DISPUTE_FEE
from sandbox.stripe.resources.ledger import card_fee, day_start
from tests.sandbox.conftest import make_client
from tests.sandbox.money_support import balance, connected, listed, pay


def test_payout_run_sweeps_the_available_money_now_and_the_bank_moves_it(sandbox):
    """Given available funds (bypass-pending cards) and a pending charge, when the payout runs
    now, then one automatic payout carries exactly the available transactions; moved once it
    is in transit, moved again it is paid today, and the pending charge stays in the balance."""
    client = make_client(sandbox.url)
    options = connected(client)
    account = options["stripe_account"]
    clock = sandbox.control.advance_clock(0)
    for amount in (10_000, 2_500):
        pay(client, options, amount, pm="pm_card_bypassPending")
    pay(client, options, 4_000)  # pending for two midnights

    made = sandbox.control.stripe_action("accounts", account, "payout_run")["payouts"]

    assert len(made) == 1
    payout = made[0]
    expected = sum(a - card_fee(a) for a in (10_000, 2_500))
    assert (payout["amount"], payout["automatic"], payout["status"]) == (expected, True, "pending")
    swept = listed(
        client.v1.balance_transactions.list(params={"payout": payout["id"]}, options=options)
    )
    charges = [t for t in swept if t.type == "charge"]
    assert sorted(t.net for t in charges) == sorted(a - card_fee(a) for a in (10_000, 2_500))
    assert balance(client, options) == {
        "available": {"usd": 0},
        "pending": {"usd": 4_000 - card_fee(4_000)},
    }
    moved = sandbox.control.stripe_action("payouts", payout["id"], "move")
    assert moved["status"] == "in_transit"
    paid = sandbox.control.stripe_action("payouts", payout["id"], "move")
    assert paid["status"] == "paid"
    assert paid["arrival_date"] == day_start(clock)
    assert sandbox.control.advance_clock(0) - clock < 60  # the clock never moved
    with pytest.raises(ControlAPIError, match="only a payout on its way"):
        sandbox.control.stripe_action("payouts", payout["id"], "move")
    # Nothing left to sweep: a second run makes no payout.
    assert sandbox.control.stripe_action("accounts", account, "payout_run")["payouts"] == []


def test_a_payout_moved_with_the_failure_switch_on_fails_and_returns_its_money(sandbox):
    client = make_client(sandbox.url)
    options = connected(client)
    account = options["stripe_account"]
    pay(client, options, 5_000, pm="pm_card_bypassPending")
    sandbox.control.stripe_action(
        "accounts", account, "payout_failure", {"failure_code": "could_not_process"}
    )
    payout = sandbox.control.stripe_action("accounts", account, "payout_run")["payouts"][0]
    sandbox.control.stripe_action("payouts", payout["id"], "move")
    failed = sandbox.control.stripe_action("payouts", payout["id"], "move")
    assert (failed["status"], failed["failure_code"]) == ("failed", "could_not_process")
    assert balance(client, options)["available"] == {"usd": 5_000 - card_fee(5_000)}


def test_payout_run_is_refused_when_payouts_are_disabled(sandbox):
    client = make_client(sandbox.url)
    options = connected(client)
    account = options["stripe_account"]
    sandbox.control.stripe_action("accounts", account, "update", {"payouts_enabled": False})
    with pytest.raises(ControlAPIError, match="disabled"):
        sandbox.control.stripe_action("accounts", account, "payout_run")


def test_resolve_decides_a_dispute_now_won_gives_the_money_back(sandbox):
    """Given two disputed charges, when the network resolves one won and one lost, then the
    won one's amount and fee come back, the lost one's stay withdrawn; a closed dispute cannot
    be resolved again and an outcome must be won or lost."""
    client = make_client(sandbox.url)
    options = connected(client)
    charges = []
    for amount in (3_000, 2_000):
        intent = pay(client, options, amount, pm="pm_card_bypassPending")
        charges.append(str(intent.latest_charge))
    disputes = [
        sandbox.control.stripe_action("charges", charge, "dispute", {"reason": "fraudulent"})
        for charge in charges
    ]
    with pytest.raises(ControlAPIError, match="outcome"):
        sandbox.control.stripe_action("disputes", disputes[0]["id"], "resolve", {"outcome": "x"})

    won = sandbox.control.stripe_action(
        "disputes", disputes[0]["id"], "resolve", {"outcome": "won"}
    )
    lost = sandbox.control.stripe_action(
        "disputes", disputes[1]["id"], "resolve", {"outcome": "lost"}
    )

    assert (won["status"], lost["status"]) == ("won", "lost")
    assert [t["type"] for t in won["balance_transactions"]] == ["adjustment", "adjustment"]
    kept = sum(a - card_fee(a) for a in (3_000, 2_000)) - 2_000 - DISPUTE_FEE
    assert balance(client, options)["available"] == {"usd": kept}
    with pytest.raises(ControlAPIError, match="already closed"):
        sandbox.control.stripe_action("disputes", disputes[0]["id"], "resolve", {"outcome": "lost"})
