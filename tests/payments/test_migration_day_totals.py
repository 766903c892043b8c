"""Migrations 0015 and 0016 fill the per-day payment totals and new-customer counts from the
rows already there, and from then on their triggers keep them; reversing them drops the
triggers (else writing a payment or customer at 0014, whose schema has neither table, would
fail)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MerchantFactory
from tests.payments.day_totals_support import (
    customer_counts_from_rows,
    customer_counts_stored,
    totals_from_payments,
    totals_stored,
)
from tests.payments.factories import PaymentFactory

BEFORE = [("payments", "0014_merge_processor_routing")]
AFTER = [("payments", "0016_customer_day_counts")]

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
    """Given payments of two merchants over two days, and customers, written before 0015, when
    0015 and 0016 run, their day totals and counts equal their sums; a payment written
    afterwards is counted at once."""
    first, second = MerchantFactory(), MerchantFactory()
    old_apps = before_totals.loader.project_state(BEFORE).apps
    old = old_apps.get_model("payments", "Payment")
    day = datetime(2026, 3, 30, 23, 59, tzinfo=UTC)
    old_customer = old_apps.get_model("payments", "Customer")
    for number in range(3):
        old_customer.objects.create(merchant_id=first.pk, public_id=f"cus_before_{number}")
    old_customer.objects.filter(public_id="cus_before_0").update(created_at=day)
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

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    # The latest schema (other apps' later migrations too), for the factory's write below, and
    # what `migrate` does at its end: on SQLite, 0016_platform_fee copied the payments table
    # into a new one without the triggers, and post_migrate puts them back.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    assert totals_stored() == totals_from_payments()
    assert totals_stored()[(first.pk, "gbp", day.date())] == (1000, 30, 1)
    assert customer_counts_stored() == customer_counts_from_rows()
    assert customer_counts_stored()[(first.pk, day.date())] == 1
    PaymentFactory(merchant=second, created_at=day, amount=500)
    assert totals_stored()[(second.pk, "gbp", day.date())] == (1500, 0, 2)
