"""Money is conserved in Ledgerline as at the processor, to the cent, over random histories.

Payments and partial refunds go through Ledgerline's API; disputes are opened, won or lost at
the processor (the sandbox); manual payouts, bank failures and the clock are the processor's.
Ledgerline learns everything from the processor's events, delivered through the inbound
pipeline, and its reconciliation. Then, per currency: payouts still standing plus the balance
equal gross minus refunds minus fees minus lost disputes, computed here from what the history
did, in Ledgerline and at the processor alike. Each merchant pays a random platform fee
(rate and fixed part, possibly none): every charge carries it as an application fee, the
processor counts it in the charge's fee, and refunds leave it taken.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from payments import selectors
from payments.models import Payment, Payout, PayoutStatus, ProcessorAccount
from payments.payout_events import merchant_money_reconcile
from payments.payout_reports import payout_contents
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import (
    DISPUTE_FEE,
    card_fee,
    deliver_events,
    failed_events,
    processor_totals,
    sdk,
)

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@dataclass
class Paid:
    payment: str
    charge: str
    amount: int
    currency: str
    refunded: int = 0
    dispute: str | None = None
    outcome: str | None = None


def platform_fee_of(amount: int, currency: str, terms: dict) -> int:
    """The platform fee, computed here on its own terms (Decimal, half up, capped)."""
    fee = _half_up(Decimal(amount) * Decimal(terms["rate_bps"]) / Decimal(10_000))
    if currency == terms["fixed_currency"]:
        fee += terms["fixed_amount"]
    return min(fee, amount)


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class History:
    platform_fee: dict = field(
        default_factory=lambda: {"rate_bps": 0, "fixed_amount": 0, "fixed_currency": ""}
    )
    paid: list[Paid] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    gross: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refunds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fees: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def lost(self) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for p in self.paid:
            if p.dispute and p.outcome != "won":
                found[p.currency] += p.amount - p.refunded + DISPUTE_FEE
        return found

    def expected(self) -> dict[str, int]:
        lost = self.lost()
        return {
            c: self.gross[c] - self.refunds[c] - self.fees[c] - lost[c]
            for c in set(self.gross) | set(lost)
        }


operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(100, 50_000), st.sampled_from(["gbp", "eur"])),
        st.tuples(st.just("refund"), st.integers(0, 20), st.floats(0.05, 1.0)),
        st.tuples(st.just("dispute"), st.integers(0, 20)),
        st.tuples(
            st.just("respond"),
            st.integers(0, 20),
            st.sampled_from(["winning_evidence", "losing_evidence", "accept"]),
        ),
        st.tuples(st.just("advance"), st.integers(1, 72)),
        st.tuples(st.just("payout"), st.floats(0.1, 1.0), st.sampled_from(["gbp", "eur"])),
        st.tuples(st.just("bank_fails"), st.booleans()),
    ),
    min_size=1,
    max_size=14,
)


def _run(op, *, api, control, account: str, history: History) -> None:
    kind = op[0]
    client = sdk(control.url)
    options = {"stripe_account": account}
    if kind == "pay":
        _, amount, currency = op
        response = api.post(
            "/api/v1/payments",
            {"amount": amount, "currency": currency, "payment_method": "pm_card_visa"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        payment = Payment.objects.get(public_id=response.json()["id"])
        history.paid.append(Paid(payment.public_id, payment.processor_charge_id, amount, currency))
        history.gross[currency] += amount
        history.fees[currency] += card_fee(amount) + platform_fee_of(
            amount, currency, history.platform_fee
        )
    elif kind == "refund" and history.paid:
        p = history.paid[op[1] % len(history.paid)]
        left = p.amount - p.refunded
        if p.dispute is None and left > 0:
            amount = max(1, int(left * op[2]))
            response = api.post(
                f"/api/v1/payments/{p.payment}/refunds", {"amount": amount}, format="json"
            )
            assert response.status_code in (200, 201), response.json()
            p.refunded += amount
            history.refunds[p.currency] += amount
    elif kind == "dispute" and history.paid:
        p = history.paid[op[1] % len(history.paid)]
        if p.dispute is None and p.amount > p.refunded:
            p.dispute = control_action(control, "charges", p.charge, "dispute")["id"]
    elif kind == "respond":
        open_ = [p for p in history.paid if p.dispute and p.outcome is None]
        if open_:
            p = open_[op[1] % len(open_)]
            dispute = client.v1.disputes.retrieve(str(p.dispute), options=options)
            if dispute.status == "needs_response":
                if op[2] == "accept":
                    client.v1.disputes.close(dispute.id, options=options)
                else:
                    client.v1.disputes.update(
                        dispute.id,
                        params={"evidence": {"uncategorized_text": op[2]}, "submit": True},
                        options=options,
                    )
    elif kind == "advance":
        control_clock(control, op[1] * 3600)
    elif kind == "payout":
        found = client.v1.balance.retrieve(options=options)
        for funds in found.available:
            card = funds.source_types.card if funds.source_types else 0
            if funds.currency == op[2] and card > 0:
                client.v1.payouts.create(
                    params={"amount": max(1, int(card * op[1])), "currency": op[2]},
                    options=options,
                )
    elif kind == "bank_fails":
        control_action(
            control,
            "accounts",
            account,
            "payout_failure",
            {"failure_code": "account_closed" if op[1] else None},
        )
    _decided(client, account, history)
    deliver_events(control.url, account=account, seen=history.delivered)


def control_action(control, kind: str, object_id: str, action: str, body=None) -> dict:
    from sandbox.client import SandboxControl as Client

    return Client(control.url).stripe_action(kind, object_id, action, body or {})


def control_clock(control, seconds: int) -> None:
    from sandbox.client import SandboxControl as Client

    Client(control.url).advance_clock(seconds)


def _decided(client, account: str, history: History) -> None:
    for p in history.paid:
        if p.dispute and p.outcome is None:
            status = client.v1.disputes.retrieve(
                p.dispute, options={"stripe_account": account}
            ).status
            if status in ("won", "lost"):
                p.outcome = status


def _ledgerline_totals(merchant) -> dict[str, int]:
    held: dict[str, int] = defaultdict(int)
    for balance in selectors.balance_summary(merchant=merchant):
        held[balance.currency] += balance.available + balance.pending
    standing = Payout.objects.filter(merchant=merchant).exclude(
        status__in=(PayoutStatus.FAILED, PayoutStatus.CANCELED)
    )
    for payout in standing:
        held[payout.currency] += payout.amount
    return {c: v for c, v in held.items() if v or c in held}


def _check(merchant, control, account: str, history: History) -> None:
    deliver_events(control.url, account=account, seen=history.delivered)
    assert failed_events() == []
    merchant_money_reconcile(merchant=merchant)
    expected = history.expected()
    ledgerline = _ledgerline_totals(merchant)
    processor = processor_totals(control.url, account=account)
    for currency in set(expected) | set(ledgerline) | set(processor):
        want = expected.get(currency, 0)
        assert processor.get(currency, 0) == want, ("processor", currency)
        assert ledgerline.get(currency, 0) == want, ("ledgerline", currency)
    for p in history.paid:
        payment = Payment.objects.get(public_id=p.payment)
        platform_fee = platform_fee_of(p.amount, p.currency, history.platform_fee)
        assert payment.platform_fee == platform_fee
        assert payment.fee == card_fee(p.amount) + platform_fee
        assert payment.net == p.amount - payment.fee
    for payout in Payout.objects.filter(merchant=merchant, automatic=True):
        assert payout_contents(payout).net == payout.amount, payout.public_id


@settings(
    max_examples=6,
    deadline=None,
    # Each example drives a processor through weeks of its clock: shrinking a failure would
    # take far longer than finding it, so the example is reported as found.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history_ops=operations,
    platform_fee=st.fixed_dictionaries(
        {
            "rate_bps": st.sampled_from([0, 1, 250, 999, 2_000]),
            "fixed_amount": st.sampled_from([0, 30, 10_000]),
            "fixed_currency": st.sampled_from(["gbp", "eur"]),
        }
    ),
    schedule=st.sampled_from(
        [
            {"interval": "daily", "delay_days": 2},
            {"interval": "manual"},
            {"interval": "weekly", "delay_days": 2, "weekly_anchor": "wednesday"},
        ]
    ),
)
def test_payouts_plus_balance_equal_gross_less_refunds_fees_and_lost_disputes(
    money_control,
    history_ops,
    platform_fee,
    schedule,
):
    """Given any history of payments, refunds, disputes, payouts and bank failures, and any
    platform fee, when Ledgerline has processed the processor's events and reconciled, then
    per currency its payouts plus balance equal gross - refunds - fees (the processor's and
    the platform's) - lost disputes, as at the processor."""
    from compliance.actors import Actor
    from payments.gateways.base import PayoutSchedule
    from payments.services import merchant_connect_account_ensure, platform_fee_set
    from payments.services.payouts import payout_schedule_set

    merchant = MerchantFactory(default_currency="gbp", country="GB")
    api = api_client_for(merchant)
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    payout_schedule_set(
        merchant=merchant,
        schedule=PayoutSchedule(
            interval=schedule["interval"],
            delay_days=schedule.get("delay_days", 0),
            weekly_anchor=schedule.get("weekly_anchor", ""),
        ),
        actor=Actor.system("test"),
        key=f"schedule-{merchant.public_id}",
    )
    assert ProcessorAccount.objects.filter(merchant=merchant).exists()
    if not platform_fee["fixed_amount"]:
        platform_fee = {**platform_fee, "fixed_currency": ""}
    platform_fee_set(merchant=merchant, actor=Actor.system("test"), **platform_fee)
    history = History(platform_fee=platform_fee)
    for op in history_ops:
        _run(op, api=api, control=money_control, account=account, history=history)
    _check(merchant, money_control, account, history)
    for _ in range(8):  # every dispute decided, every payout arrived; events delivered
        control_clock(money_control, 5 * DAY)
        deliver_events(money_control.url, account=account, seen=history.delivered)
    _decided(sdk(money_control.url), account, history)
    assert all(p.outcome for p in history.paid if p.dispute)
    _check(merchant, money_control, account, history)
