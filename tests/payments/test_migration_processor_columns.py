"""Migration 0007 renames the Stripe-named columns and adds `processor` without losing a row.

Run on a populated database: migrate payments back to 0006, insert rows through the historical
models (old column names), migrate forward, and read every value back under the new names.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MerchantFactory

BEFORE = [("payments", "0006_merge_api_inbound_moves")]
AFTER = [("payments", "0007_processor_neutral_columns")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def before_rename() -> Iterator[MigrationExecutor]:
    """Payments' tables as they were before the rename; the latest schema again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_rename_keeps_every_row_and_value_and_marks_them_stripe(before_rename):
    """Given accounts, customers, payments, refunds and disputes written under the old names,
    when 0007 runs, every row is there with its ids under the new names and processor stripe."""
    merchant = MerchantFactory()
    other = MerchantFactory()
    old = before_rename.loader.project_state(BEFORE).apps
    old.get_model("payments", "ProcessorAccount").objects.create(
        merchant_id=merchant.pk, stripe_account_id="acct_one"
    )
    old.get_model("payments", "ProcessorAccount").objects.create(
        merchant_id=other.pk, stripe_account_id="acct_two"
    )
    customer = old.get_model("payments", "Customer").objects.create(
        merchant_id=merchant.pk, public_id="cus_mig", stripe_customer_id="cus_stripe_1"
    )
    old.get_model("payments", "Customer").objects.create(
        merchant_id=merchant.pk, public_id="cus_local", stripe_customer_id=""
    )
    payment = old.get_model("payments", "Payment").objects.create(
        merchant_id=merchant.pk,
        customer_id=customer.pk,
        public_id="pay_mig",
        status="succeeded",
        amount=1500,
        amount_captured=1500,
        currency="gbp",
        stripe_payment_method_id="pm_card_visa",
        stripe_payment_intent_id="pi_mig",
        stripe_charge_id="ch_mig",
    )
    old.get_model("payments", "Payment").objects.create(
        merchant_id=merchant.pk,
        public_id="pay_unsent",
        amount=900,
        currency="gbp",
        stripe_payment_method_id="pm_card_visa",
    )
    old.get_model("payments", "Refund").objects.create(
        merchant_id=merchant.pk,
        payment_id=payment.pk,
        public_id="re_mig",
        amount=500,
        currency="gbp",
        status="succeeded",
        stripe_refund_id="re_stripe_1",
    )
    old.get_model("payments", "Dispute").objects.create(
        merchant_id=merchant.pk,
        payment_id=payment.pk,
        public_id="dp_mig",
        amount=1500,
        currency="gbp",
        status="needs_response",
        stripe_dispute_id="dp_stripe_1",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps

    accounts = new.get_model("payments", "ProcessorAccount").objects.order_by(
        "processor_account_id"
    )
    assert [(a.merchant_id, a.processor, a.processor_account_id) for a in accounts] == [
        (merchant.pk, "stripe", "acct_one"),
        (other.pk, "stripe", "acct_two"),
    ]
    customers = new.get_model("payments", "Customer").objects.order_by("public_id")
    assert [(c.public_id, c.processor, c.processor_customer_id) for c in customers] == [
        ("cus_local", "stripe", ""),
        ("cus_mig", "stripe", "cus_stripe_1"),
    ]
    payments = new.get_model("payments", "Payment").objects.order_by("public_id")
    assert [
        (
            p.public_id,
            p.processor,
            p.processor_payment_id,
            p.processor_charge_id,
            p.processor_payment_method_id,
            p.amount,
            p.status,
            p.customer_id,
        )
        for p in payments
    ] == [
        ("pay_mig", "stripe", "pi_mig", "ch_mig", "pm_card_visa", 1500, "succeeded", customer.pk),
        ("pay_unsent", "stripe", "", "", "pm_card_visa", 900, "requires_confirmation", None),
    ]
    refund = new.get_model("payments", "Refund").objects.get()
    assert (refund.public_id, refund.processor_refund_id, refund.payment_id) == (
        "re_mig",
        "re_stripe_1",
        payment.pk,
    )
    dispute = new.get_model("payments", "Dispute").objects.get()
    assert (dispute.public_id, dispute.processor_dispute_id) == ("dp_mig", "dp_stripe_1")


def test_uniqueness_holds_per_processor_after_the_rename(before_rename):
    """After 0007 a second payment with the same processor id of the same processor is refused,
    as a second row with the same PaymentIntent id was before; unsent payments (no id) are not,
    and a processor Ledgerline has no gateway for is refused by the database."""
    merchant = MerchantFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    payment_model = executor.loader.project_state(AFTER).apps.get_model("payments", "Payment")
    common = {"merchant_id": merchant.pk, "amount": 100, "currency": "gbp"}
    payment_model.objects.create(public_id="pay_a", processor_payment_id="pi_same", **common)
    payment_model.objects.create(public_id="pay_b", processor_payment_id="", **common)
    payment_model.objects.create(public_id="pay_c", processor_payment_id="", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        payment_model.objects.create(public_id="pay_d", processor_payment_id="pi_same", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        payment_model.objects.create(
            public_id="pay_e", processor_payment_id="pi_other", processor="braintree", **common
        )
