"""The payout detail page: the same few queries at any size, each item's source named.

The page loads only what an item row shows (`balance_views.ITEM_FIELDS`); a field it shows but
does not load would cost a query per row, which the query counts here catch.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Dispute,
    DisputeStatus,
    Payment,
    Payout,
    PayoutStatus,
    Refund,
)
from tests.factories import MerchantFactory, member, verified_client

pytestmark = pytest.mark.django_db


def _payment(merchant, index: int) -> Payment:
    return Payment.objects.create(
        merchant=merchant,
        status="succeeded",
        amount=1_000 + index,
        amount_captured=1_000 + index,
        currency="gbp",
        processor_payment_method_id=f"pm_page_{index}",
        processor_charge_id=f"ch_page_{index}",
    )


def _payout_of(merchant, charges: int) -> tuple[Payout, list[Payment], Refund, Dispute]:
    """A paid payout sweeping `charges` charges, a refund of the first and a dispute of the
    second (its withdrawal), with its own debit listed under it."""
    now = timezone.now()
    payout = Payout.objects.create(
        merchant=merchant,
        processor_payout_id=f"po_page_{charges}",
        amount=0,
        currency="gbp",
        status=PayoutStatus.PAID,
        arrival_date=now,
        processor_created_at=now,
    )
    payments = [_payment(merchant, charges * 1_000 + i) for i in range(charges)]
    refund = Refund.objects.create(
        merchant=merchant, payment=payments[0], amount=100, currency="gbp", status="succeeded"
    )
    dispute = Dispute.objects.create(
        merchant=merchant,
        payment=payments[1],
        amount=payments[1].amount,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        processor_dispute_id=f"du_page_{charges}",
    )
    rows = [
        (BalanceTransactionType.CHARGE, p.amount, p.amount * 3 // 100, {"payment": p})
        for p in payments
    ]
    rows.append((BalanceTransactionType.REFUND, -100, 0, {"refund": refund}))
    rows.append(
        (
            BalanceTransactionType.DISPUTE,
            -dispute.amount,
            1_500,
            {"dispute": dispute, "payment": payments[1]},
        )
    )
    for index, (kind, amount, fee, source) in enumerate(rows):
        BalanceTransaction.objects.create(
            merchant=merchant,
            processor_transaction_id=f"txn_page_{charges}_{index}",
            type=kind,
            amount=amount,
            fee=fee,
            net=amount - fee,
            currency="gbp",
            payout=payout,
            available_on=now,
            # Newest last, so the refund and the dispute are on the first page.
            processor_created_at=now - timedelta(minutes=len(rows) - index),
            **source,
        )
    payout.amount = sum(amount - fee for _, amount, fee, _ in rows)
    payout.save(update_fields=["amount"])
    BalanceTransaction.objects.create(
        merchant=merchant,
        processor_transaction_id=f"txn_page_{charges}_debit",
        type=BalanceTransactionType.PAYOUT,
        amount=-payout.amount,
        net=-payout.amount,
        currency="gbp",
        processor_source_id=payout.processor_payout_id,
        payout=payout,
        available_on=now,
        processor_created_at=now,
    )
    return payout, payments, refund, dispute


def _get(client, payout: Payout) -> tuple[str, int]:
    cache.clear()  # the contents of a finished payout are cached: count them computed
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("payout-detail", args=[payout.public_id]))
    assert response.status_code == 200
    return response.content.decode(), len(captured.captured_queries)


def test_the_detail_page_names_every_items_source_in_the_same_queries_at_any_size():
    """Given a payout of 3 charges and one of 70 (two pages), when each detail page is opened,
    then the rows name their payment, refund and dispute, the totals balance, and the bigger
    payout costs no more queries than the small one (nothing is loaded row by row)."""
    merchant = MerchantFactory(default_currency="gbp")
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    small, small_payments, small_refund, small_dispute = _payout_of(merchant, 3)
    big, big_payments, big_refund, big_dispute = _payout_of(merchant, 70)
    owner.get(reverse("payout-detail", args=[small.public_id]))  # session and caches warm

    small_page, small_queries = _get(owner, small)
    big_page, big_queries = _get(owner, big)

    assert big_queries == small_queries
    for payment in small_payments:
        assert payment.public_id in small_page
    for source in (small_refund, small_dispute, big_refund, big_dispute):
        page = small_page if source in (small_refund, small_dispute) else big_page
        assert source.public_id in page
    assert "The items' net adds up to the payout's amount." in small_page
    assert "The items' net adds up to the payout's amount." in big_page
    # The first page holds the 50 newest items (the refund and dispute among them), with a
    # link to the next; the oldest charge is on the next page.
    assert big_payments[-1].public_id in big_page
    assert big_payments[0].public_id not in big_page
    assert "starting_after=txn_" in big_page
