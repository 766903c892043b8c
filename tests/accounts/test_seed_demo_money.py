"""`seed_demo`'s money: the demo merchant has a balance, past payouts and disputes to look at.

Made on the sandbox through the real services and its control API, mirrored through the event
handlers' reads (payments/demo_money.py); the sandbox clock is never moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import Merchant, User
from compliance.models import AuditEntry
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Dispute,
    DisputeStatus,
    Payment,
    Payout,
    PayoutStatus,
)
from payments.payout_reports import failure_advice, payout_contents
from payments.selectors import balance_summary
from tests.factories import verified_client

pytestmark = pytest.mark.django_db
OWNER = "owner@demo.ledgerline.test"


@pytest.fixture(autouse=True)
def processor(settings) -> Iterator[str]:
    """A sandbox of this module's own on a free port, as `make run` starts one (its URL)."""
    from payments.gateways import braintree
    from sandbox.server import start_in_thread

    with start_in_thread(port=0) as handle:
        settings.STRIPE_API_BASE = handle.url
        settings.BRAINTREE_API_BASE = handle.url
        braintree.clear_client_cache()
        braintree.breaker_reset()
        yield handle.url
        braintree.clear_client_cache()
        braintree.breaker_reset()


def _run() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_demo_has_a_paid_a_failed_and_an_in_transit_payout_each_balancing_to_the_cent(
    processor,
):
    """Given a fresh database and the sandbox, when seed_demo runs, then demo holds three
    payouts mirrored from the processor, each carrying balance transactions whose net sums
    exactly to its amount; the failed one keeps the bank's reason and its advice."""
    from sandbox.client import SandboxControl

    clock = SandboxControl(processor).advance_clock(0)
    output = _run()

    demo = Merchant.objects.get(slug="demo")
    payouts = {p.status: p for p in Payout.objects.filter(merchant=demo)}
    assert set(payouts) == {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.IN_TRANSIT}
    for payout in payouts.values():
        contents = payout_contents(payout)
        assert contents.count > 0
        assert contents.net == payout.amount > 0
        assert payout.automatic
    failed = payouts[PayoutStatus.FAILED]
    assert failed.failure_code == "could_not_process"
    assert failed.failure_message
    assert "retried with the next payout" in failure_advice(failed.failure_code)
    # The failed payout's money came back and the next payout carries it.
    carried = payout_contents(payouts[PayoutStatus.IN_TRANSIT])
    assert {line.type for line in carried.lines} >= {
        BalanceTransactionType.CHARGE,
        BalanceTransactionType.PAYOUT_FAILURE,
        BalanceTransactionType.DISPUTE,
        BalanceTransactionType.DISPUTE_REVERSAL,
    }
    paid = payout_contents(payouts[PayoutStatus.PAID])
    assert {line.type for line in paid.lines} >= {
        BalanceTransactionType.CHARGE,
        BalanceTransactionType.REFUND,
    }
    assert payouts[PayoutStatus.PAID].arrival_date <= timezone.now()
    assert payouts[PayoutStatus.IN_TRANSIT].arrival_date > timezone.now()
    transitions = AuditEntry.objects.filter(action="payout.status_change")
    assert transitions.count() >= 3
    assert "demo: 3 payouts (paid, failed, in transit), 2 disputes" in output
    # The sandbox clock stayed on real time (it stamps Plaid's webhooks under `make run`).
    assert SandboxControl(processor).advance_clock(0) - clock < 120


def test_demo_has_an_available_and_a_pending_balance_and_fees_on_its_payments():
    _run()
    demo = Merchant.objects.get(slug="demo")
    (gbp,) = balance_summary(merchant=demo)
    assert gbp.currency == "gbp"
    assert gbp.available > 0
    assert gbp.pending > 0
    charged = Payment.objects.filter(merchant=demo, status="succeeded")
    assert charged.count() >= 10
    for payment in charged:
        assert payment.fee is not None
        assert payment.fee > 0
        assert payment.net == payment.amount - payment.fee
    # Conservation at the mirror: what was paid out (not failed) plus the balance equals the
    # net of every balance transaction that is not a payout's own movement.
    movements = BalanceTransaction.objects.filter(merchant=demo).exclude(
        type__in=(BalanceTransactionType.PAYOUT, BalanceTransactionType.PAYOUT_FAILURE)
    )
    standing = Payout.objects.filter(merchant=demo).exclude(status=PayoutStatus.FAILED)
    assert sum(p.amount for p in standing) + gbp.available + gbp.pending == sum(
        t.net for t in movements
    )


def test_demo_has_a_dispute_needing_a_response_within_days_and_one_won_with_evidence():
    _run()
    demo = Merchant.objects.get(slug="demo")
    disputes = {d.status: d for d in Dispute.objects.filter(merchant=demo)}
    assert set(disputes) == {DisputeStatus.NEEDS_RESPONSE, DisputeStatus.WON}
    due = disputes[DisputeStatus.NEEDS_RESPONSE].evidence_due_by
    assert due is not None
    assert timezone.now() < due < timezone.now() + timedelta(days=8)
    won = disputes[DisputeStatus.WON]
    assert won.evidence_submitted_at is not None
    assert AuditEntry.objects.filter(
        action="dispute.evidence_submit", target_id=won.public_id
    ).exists()
    kinds = set(BalanceTransaction.objects.filter(dispute=won).values_list("type", flat=True))
    assert kinds == {BalanceTransactionType.DISPUTE, BalanceTransactionType.DISPUTE_REVERSAL}


def test_seed_demo_money_is_idempotent():
    _run()
    counts = (
        Payout.objects.count(),
        Dispute.objects.count(),
        Payment.objects.count(),
        BalanceTransaction.objects.count(),
    )
    again = _run()
    assert "demo: payouts already present" in again
    assert (
        Payout.objects.count(),
        Dispute.objects.count(),
        Payment.objects.count(),
        BalanceTransaction.objects.count(),
    ) == counts


def test_the_owner_sees_the_money_on_the_balance_payout_and_dispute_pages():
    _run()
    demo = Merchant.objects.get(slug="demo")
    owner = User.objects.get(email=OWNER)
    assert owner.check_password(DEMO_PASSWORD)
    client = verified_client(owner, merchant=demo)
    balance = client.get(reverse("balance")).content.decode()
    failed = Payout.objects.get(merchant=demo, status=PayoutStatus.FAILED)
    assert failed.public_id in balance
    assert failure_advice(failed.failure_code) in balance
    for payout in Payout.objects.filter(merchant=demo):
        page = client.get(reverse("payout-detail", args=[payout.public_id])).content.decode()
        assert "The items' net adds up to the payout's amount." in page
    disputes = client.get("/disputes/").content.decode()
    for dispute in Dispute.objects.filter(merchant=demo):
        assert dispute.public_id in disputes


def test_without_the_sandbox_seed_demo_says_there_is_no_payout_history(settings, monkeypatch):
    """The control API is the sandbox's: against a processor without it (its health check
    fails) seed_demo still seeds everything else and says why the history is missing."""
    from payments import demo_money

    monkeypatch.setattr(demo_money._SandboxControl, "answers", lambda self: False)
    output = _run()
    assert "demo: no payout history: it is made on the processor sandbox" in output
    assert not Payout.objects.exists()
    assert Payment.objects.filter(merchant__slug="demo").exists()


def test_a_sandbox_that_stops_answering_mid_history_is_a_one_line_failure(monkeypatch):
    """seed_demo exits with a one-line reason (CommandError), never a traceback, when the
    sandbox stops answering between two steps; a rerun with it back completes the history."""
    import urllib.error
    import urllib.request

    from django.core.management.base import CommandError

    real = urllib.request.OpenerDirector.open

    def unreachable(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        if url.endswith("/payout_run"):
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        return real(self, request, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", unreachable)
    with pytest.raises(CommandError, match="the sandbox did not answer POST stripe/accounts/"):
        _run()
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", real)
    _run()
    demo = Merchant.objects.get(slug="demo")
    for payout in Payout.objects.filter(merchant=demo):
        assert payout_contents(payout).net == payout.amount
    assert Payout.objects.filter(merchant=demo).count() == 3
