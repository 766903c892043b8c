"""Money is conserved at the Stripe stand-in, to the cent, over random histories.

For each account and currency: every payout still standing (not failed or canceled) plus the
balance (available + pending) equals gross captured minus refunds minus fees minus disputes
lost (an open dispute counts as withdrawn); a direct charge's application fee is one of its
fees. The expected side is computed here, with its own fee arithmetic (Decimal, half up), from
what the history did; and every automatic payout's swept transactions add up to its amount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.server import SandboxHandle, start_in_thread
from tests.sandbox.conftest import make_client
from tests.sandbox.money_support import connected, days, listed, pay_by_bank

DISPUTE_FEE = 1500


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_fee(amount: int, ach: bool) -> int:
    if ach:
        return min(_half_up(Decimal(amount) * Decimal("0.008")), 500)
    return _half_up(Decimal(amount) * Decimal("0.029")) + 30


@dataclass
class Payment:
    intent: str
    charge: str
    amount: int
    currency: str
    refunded: int = 0
    dispute: str | None = None
    outcome: str | None = None  # won | lost once decided; None while open


@dataclass
class Model:
    payments: list[Payment] = field(default_factory=list)
    gross: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refunds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fees: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def lost(self) -> dict[str, int]:
        """Disputed amounts not won (open ones are withdrawn too), with their fees."""
        found: dict[str, int] = defaultdict(int)
        for p in self.payments:
            if p.dispute and p.outcome != "won":
                found[p.currency] += p.amount - p.refunded + DISPUTE_FEE
        return found


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("pay"),
            st.integers(50, 50_000),
            st.sampled_from(["usd", "eur"]),
            st.sampled_from(["pm_card_visa", "pm_card_bypassPending"]),
            # the platform's application fee on the direct charge (capped at the amount)
            st.sampled_from([0, 0, 1, 280, 60_000]),
        ),
        st.tuples(st.just("ach"), st.integers(50, 200_000)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.floats(0.01, 1.0)),
        st.tuples(st.just("dispute"), st.integers(0, 50)),
        st.tuples(
            st.just("respond"),
            st.integers(0, 50),
            st.sampled_from(["winning_evidence", "losing_evidence", "accept", "ignore"]),
        ),
        st.tuples(st.just("advance"), st.integers(1, 96)),
        st.tuples(st.just("payout"), st.floats(0.1, 1.0), st.sampled_from(["usd", "eur"])),
        st.tuples(st.just("bank_fails"), st.booleans()),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxHandle]:
    handle = start_in_thread(port=0)
    try:
        yield handle
    finally:
        handle.stop()


def _run(handle: SandboxHandle, client: stripe.StripeClient, options, model: Model, op) -> None:
    kind = op[0]
    if kind == "pay":
        _, amount, currency, pm, application_fee = op
        application_fee = min(application_fee, amount)
        pi = client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "payment_method": pm,
                "confirm": True,
                "payment_method_types": ["card"],
                **({"application_fee_amount": application_fee} if application_fee else {}),
            },
            options=options,
        )
        _booked(model, pi, amount, currency, ach=False)
        model.fees[currency] += application_fee
    elif kind == "ach":
        pi = pay_by_bank(handle, client, options, op[1])
        _booked(
            model, client.v1.payment_intents.retrieve(pi.id, options=options), op[1], "usd", True
        )
    elif kind == "refund" and model.payments:
        p = model.payments[op[1] % len(model.payments)]
        left = p.amount - p.refunded
        if p.dispute is None and left > 0:
            amount = max(1, int(left * op[2]))
            client.v1.refunds.create(params={"charge": p.charge, "amount": amount}, options=options)
            p.refunded += amount
            model.refunds[p.currency] += amount
    elif kind == "dispute" and model.payments:
        p = model.payments[op[1] % len(model.payments)]
        if p.dispute is None and p.amount > p.refunded:
            p.dispute = handle.control.stripe_action("charges", p.charge, "dispute", {})["id"]
    elif kind == "respond":
        _respond(client, options, model, op)
    elif kind == "advance":
        handle.control.advance_clock(op[1] * 3600)
        _decided(client, options, model)
    elif kind == "payout":
        _manual_payout(client, options, op[1], op[2])
    elif kind == "bank_fails":
        code = "account_closed" if op[1] else None
        handle.control.stripe_action(
            "accounts", options["stripe_account"], "payout_failure", {"failure_code": code}
        )


def _booked(model: Model, pi, amount: int, currency: str, ach: bool) -> None:
    model.payments.append(Payment(pi.id, str(pi.latest_charge), amount, currency))
    model.gross[currency] += amount
    model.fees[currency] += expected_fee(amount, ach)


def _respond(client, options, model: Model, op) -> None:
    open_ = [p for p in model.payments if p.dispute and p.outcome is None]
    if not open_:
        return
    p = open_[op[1] % len(open_)]
    dispute = client.v1.disputes.retrieve(str(p.dispute), options=options)
    if dispute.status != "needs_response":
        return
    if op[2] == "accept":
        client.v1.disputes.close(dispute.id, options=options)
    elif op[2] != "ignore":
        client.v1.disputes.update(
            dispute.id,
            params={"evidence": {"uncategorized_text": op[2]}, "submit": True},
            options=options,
        )
    _decided(client, options, model)


def _decided(client, options, model: Model) -> None:
    for p in model.payments:
        if p.dispute and p.outcome is None:
            status = client.v1.disputes.retrieve(p.dispute, options=options).status
            if status in ("won", "lost"):
                p.outcome = status


def _manual_payout(client, options, fraction: float, currency: str) -> None:
    found = client.v1.balance.retrieve(options=options)
    for funds in found.available:
        card = funds.source_types.card if funds.source_types else 0
        if funds.currency == currency and card > 0:
            amount = max(1, int(card * fraction))
            client.v1.payouts.create(
                params={"amount": amount, "currency": currency}, options=options
            )


def _check(client, options, model: Model) -> None:
    found = client.v1.balance.retrieve(options=options)
    held: dict[str, int] = defaultdict(int)
    for funds in [*found.available, *found.pending]:
        held[funds.currency] += funds.amount
    payouts = listed(client.v1.payouts.list(params={"limit": 100}, options=options))
    for payout in payouts:
        if payout.status not in ("failed", "canceled"):
            held[payout.currency] += payout.amount
        if payout.automatic:
            items = listed(
                client.v1.balance_transactions.list(
                    params={"payout": payout.id, "limit": 100}, options=options
                )
            )
            swept = [t for t in items if t.source != payout.id]
            assert sum(t.net for t in swept) == payout.amount
    lost = model.lost()
    for currency in set(held) | set(model.gross):
        expected = (
            model.gross[currency] - model.refunds[currency] - model.fees[currency] - lost[currency]
        )
        assert held[currency] == expected, currency
    txns = listed(client.v1.balance_transactions.list(params={"limit": 100}, options=options))
    fees: dict[str, int] = defaultdict(int)
    for txn in txns:
        fees[txn.currency] += txn.fee
    for currency in model.gross:
        disputed = sum(
            DISPUTE_FEE
            for p in model.payments
            if p.currency == currency and p.dispute and p.outcome != "won"
        )
        assert fees[currency] == model.fees[currency] + disputed


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=operations,
    schedule=st.sampled_from(
        [
            {"interval": "daily"},
            {"interval": "manual"},
            {"interval": "weekly", "weekly_anchor": "wednesday"},
            {"interval": "monthly", "monthly_anchor": 31},
        ]
    ),
)
def test_payouts_plus_balance_equal_gross_minus_refunds_fees_and_lost_disputes(
    shared, history, schedule
):
    client = make_client(shared.url)
    options = connected(client, settings={"payouts": {"schedule": schedule}})
    model = Model()
    for op in history:
        _run(shared, client, options, model, op)
    _check(client, options, model)
    days(shared, 40)  # every dispute decided, every payout arrived
    _decided(client, options, model)
    assert all(p.outcome for p in model.payments if p.dispute)
    _check(client, options, model)
