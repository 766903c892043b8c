"""Migration 0019 fills the balance totals from the balance transactions already there, and
from then on its triggers keep them; reversing it drops the triggers (else writing a balance
transaction at 0018, whose schema has no totals table, would fail)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MerchantFactory
from tests.payments.balance_totals_support import (
    balance_transaction_create,
    totals_from_rows,
    totals_stored,
)

BEFORE = [("payments", "0018_merge_day_totals")]
AFTER = [("payments", "0019_balance_totals")]
NOW = datetime(2026, 3, 30, 12, tzinfo=UTC)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def before_totals() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_balance_transactions_are_summed_and_later_writes_counted(before_totals):
    """Given balance transactions of two merchants, processors and currencies written before
    0019, when it runs, the totals equal their sums; one written afterwards counts at once.
    Migrated back to 0018, a balance transaction can still be written."""
    first, second = MerchantFactory(), MerchantFactory()
    old = before_totals.loader.project_state(BEFORE).apps.get_model(
        "payments", "BalanceTransaction"
    )
    for number, (merchant, processor, currency, net) in enumerate(
        [
            (first, "stripe", "gbp", 970),
            (first, "stripe", "gbp", -200),
            (first, "braintree", "gbp", 500),
            (first, "stripe", "eur", 100),
            (second, "stripe", "gbp", 40),
        ]
    ):
        old.objects.create(
            merchant_id=merchant.pk,
            processor=processor,
            processor_transaction_id=f"txn_before_{number}",
            public_id=f"txn_before_{number}",
            type="charge" if net > 0 else "refund",
            amount=net,
            fee=0,
            net=net,
            currency=currency,
            available_on=NOW + timedelta(days=number - 2),
            processor_created_at=NOW,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    assert totals_stored() == totals_from_rows()
    assert totals_stored()[(first.pk, "stripe", "gbp")] == (770, 2)
    balance_transaction_create(merchant=second, net=60, available_on=NOW)
    assert totals_stored()[(second.pk, "stripe", "gbp")] == (100, 2)

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old.objects.create(
        merchant_id=second.pk,
        processor="stripe",
        processor_transaction_id="txn_after_reverse",
        public_id="txn_after_reverse",
        type="charge",
        amount=5,
        fee=0,
        net=5,
        currency="gbp",
        available_on=NOW,
        processor_created_at=NOW,
    )
