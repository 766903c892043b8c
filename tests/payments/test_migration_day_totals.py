"""Migration 0015 fills the per-day totals from the payments already there, and from then on
its triggers keep them; reversing it drops the triggers (else writing a payment at 0014, whose
schema has no totals table, would fail)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MerchantFactory
from tests.payments.day_totals_support import totals_from_payments, totals_stored
from tests.payments.factories import PaymentFactory

BEFORE = [("payments", "0014_merge_processor_routing")]
AFTER = [("payments", "0015_payment_day_totals")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def before_totals() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_payments_are_summed_and_later_writes_counted(before_totals):
    """Given payments of two merchants over two days written before 0015, when it runs, their
    day totals equal their sums; a payment written afterwards is counted at once."""
    first, second = MerchantFactory(), MerchantFactory()
    old = before_totals.loader.project_state(BEFORE).apps.get_model("payments", "Payment")
    day = datetime(2026, 3, 30, 23, 59, tzinfo=UTC)
    for number, (merchant, status, created, net) in enumerate(
        [
            (first, "succeeded", day, 970),
            (first, "succeeded", day + timedelta(minutes=2), None),
            (first, "canceled", day, None),
            (second, "succeeded", day, None),
        ]
    ):
        old.objects.create(
            merchant_id=merchant.pk,
            public_id=f"pay_before_{number}",
            amount=1000,
            amount_captured=1000 if status == "succeeded" else 0,
            currency="gbp",
            status=status,
            created_at=created,
            net=net,
            processor_payment_method_id="pm_card_visa",
        )

    MigrationExecutor(connection).migrate(AFTER)

    assert totals_stored() == totals_from_payments()
    assert totals_stored()[(first.pk, "gbp", day.date())] == (1000, 30, 1)
    PaymentFactory(merchant=second, created_at=day, amount=500)
    assert totals_stored()[(second.pk, "gbp", day.date())] == (1500, 0, 2)
