"""Per-day payment totals and new-customer counts stay equal to the rows through every way a
payment or customer is written, and the rebuild command finds and repairs totals that were not
(on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.models import AuditEntry
from payments import day_total_triggers
from payments.day_totals import day_totals_ensure_triggers
from payments.models import Customer, CustomerDayCount, Payment, PaymentDayTotal
from payments.state import PaymentStatus
from tests.factories import MerchantFactory
from tests.payments.day_totals_support import (
    customer_counts_from_rows,
    customer_counts_stored,
    totals_from_payments,
    totals_stored,
)
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = pytest.mark.django_db

S = PaymentStatus
MIDNIGHT = datetime(2026, 3, 30, tzinfo=UTC)
LAST_MICROSECOND = 86_400_000_000 - 1

statuses = st.sampled_from([S.SUCCEEDED, S.SUCCEEDED, S.REQUIRES_CAPTURE, S.CANCELED])
currencies = st.sampled_from(["gbp", "eur"])
# Times of day in microseconds, the edges of the UTC day drawn often.
moments = st.one_of(
    st.sampled_from([0, 1, LAST_MICROSECOND]), st.integers(0, LAST_MICROSECOND)
).map(lambda micros: timedelta(microseconds=micros))
days = st.integers(0, 2).map(lambda n: timedelta(days=n))
which = st.integers(0, 1_000)  # an existing payment, modulo how many there are

operations = st.one_of(
    st.tuples(
        st.just("create"), st.integers(0, 1), days, moments, statuses, currencies,
        st.integers(1, 10_000),
    ),
    st.tuples(st.just("save_status"), which, statuses, st.booleans()),
    st.tuples(st.just("save_currency"), which, currencies),
    st.tuples(st.just("update_captured"), which, st.integers(0, 100)),
    st.tuples(st.just("update_net"), which, st.one_of(st.none(), st.integers(0, 500))),
    st.tuples(st.just("update_created"), which, st.integers(-30, 30)),
    st.tuples(st.just("update_all_status"), st.integers(0, 1), statuses),
    st.tuples(st.just("delete"), which),
    st.tuples(st.just("delete_status"), st.integers(0, 1), statuses),
    st.tuples(
        st.just("bulk_create"), st.integers(0, 1), days, moments, statuses, st.integers(1, 4)
    ),
    st.tuples(st.just("bulk_update"), which, statuses, st.integers(0, 100)),
    st.tuples(st.just("raw_capture_all"), st.integers(0, 1)),
    st.tuples(st.just("customer_create"), st.integers(0, 1), days, moments),
    st.tuples(st.just("customer_bulk_create"), st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("customer_move"), which, st.integers(-30, 30)),
    st.tuples(st.just("customer_switch_merchant"), which),
    st.tuples(st.just("customer_delete"), which),
)  # fmt: skip


def _nth(index: int) -> Payment | None:
    payments = list(Payment.objects.order_by("pk"))
    return payments[index % len(payments)] if payments else None


def _apply_to_customers(name: str, args: list, merchants: list) -> None:
    if name == "customer_create":
        merchant, day, moment = args
        customer = CustomerFactory(merchant=merchants[merchant])
        # created_at is set on insert (auto_now_add): history is written by an update.
        Customer.objects.filter(pk=customer.pk).update(created_at=MIDNIGHT + day + moment)
        return
    if name == "customer_bulk_create":
        merchant, count = args
        Customer.objects.bulk_create(
            CustomerFactory.build(merchant=merchants[merchant]) for _ in range(count)
        )
        return
    customers = list(Customer.objects.order_by("pk"))
    if not customers:
        return
    customer = customers[args[0] % len(customers)]
    one = Customer.objects.filter(pk=customer.pk)
    if name == "customer_move":
        one.update(created_at=F("created_at") + timedelta(hours=args[1]))
    elif name == "customer_switch_merchant":
        others = [m for m in merchants if m.pk != customer.merchant_id]
        customer.merchant = others[0]
        customer.save()
    elif name == "customer_delete":
        customer.delete()


def _apply(operation: tuple, merchants: list) -> None:
    name, *args = operation
    if name.startswith("customer_"):
        _apply_to_customers(name, args, merchants)
        return
    if name == "create":
        merchant, day, moment, status, currency, amount = args
        PaymentFactory(
            merchant=merchants[merchant],
            created_at=MIDNIGHT + day + moment,
            status=status,
            currency=currency,
            amount=amount,
        )
        return
    if name == "bulk_create":
        merchant, day, moment, status, count = args
        Payment.objects.bulk_create(
            PaymentFactory.build(
                merchant=merchants[merchant],
                created_at=MIDNIGHT + day + moment,
                status=status,
                amount=100 * (n + 1),
            )
            for n in range(count)
        )
        return
    if name == "update_all_status":
        merchant, status = args
        Payment.objects.filter(merchant=merchants[merchant]).update(status=status)
        return
    if name == "delete_status":
        merchant, status = args
        Payment.objects.filter(merchant=merchants[merchant], status=status).delete()
        return
    if name == "raw_capture_all":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payments_payment SET amount_captured = amount WHERE merchant_id = %s",
                [merchants[args[0]].pk],
            )
        return
    payment = _nth(args[0])
    if payment is None:
        return
    one = Payment.objects.filter(pk=payment.pk)
    if name == "save_status":
        payment.status = args[1]
        payment.save(update_fields=["status"] if args[2] else None)
    elif name == "save_currency":
        payment.currency = args[1]
        payment.save()
    elif name == "update_captured":
        one.update(amount_captured=payment.amount * args[1] // 100, amount_refunded=0)
    elif name == "update_net":
        fee = args[1]
        one.update(fee=fee, net=None if fee is None else F("amount_captured") - fee)
    elif name == "update_created":
        one.update(created_at=F("created_at") + timedelta(hours=args[1]))
    elif name == "delete":
        payment.delete()
    elif name == "bulk_update":
        payments = list(Payment.objects.order_by("pk")[: 1 + args[0] % 4])
        for row in payments:
            row.status = args[1]
            row.amount_captured = row.amount * args[2] // 100
            row.amount_refunded = 0
        Payment.objects.bulk_update(payments, ["status", "amount_captured", "amount_refunded"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(operations, min_size=1, max_size=12))
def test_totals_equal_the_payments_after_any_sequence_of_writes(steps):
    """Given two merchants, when payments are created, saved, updated in bulk or one at a time,
    moved across midnight, given a net, deleted or rewritten by raw SQL, and customers are
    created, moved, switched between merchants or deleted, then after every step the stored
    day totals equal the sums of the succeeded payments and the new-customer counts equal the
    customers."""
    merchants = [MerchantFactory(), MerchantFactory()]
    with transaction.atomic():
        for step in steps:
            _apply(step, merchants)
            assert totals_stored() == totals_from_payments(), step
            assert customer_counts_stored() == customer_counts_from_rows(), step
        transaction.set_rollback(True)


def test_a_merchant_deleted_with_its_payments_leaves_no_totals():
    """Deleting a merchant deletes its payments and its totals, in either order, and the
    deletion of the payments does not bring the totals back."""
    kept, gone = MerchantFactory(), MerchantFactory()
    PaymentFactory(merchant=kept, created_at=MIDNIGHT)
    PaymentFactory(
        merchant=gone, created_at=MIDNIGHT, net=1400, customer=CustomerFactory(merchant=gone)
    )
    gone.delete()
    connection.check_constraints()
    assert set(PaymentDayTotal.objects.values_list("merchant_id", flat=True)) == {kept.pk}
    assert not CustomerDayCount.objects.filter(merchant_id=gone.pk).exists()
    assert totals_stored() == totals_from_payments()
    assert customer_counts_stored() == customer_counts_from_rows()


def test_writes_that_change_no_contribution_touch_no_totals():
    """A declined payment and a description edit write no totals row."""
    merchant = MerchantFactory()
    declined = PaymentFactory(merchant=merchant, status=S.REQUIRES_PAYMENT_METHOD)
    Payment.objects.filter(pk=declined.pk).update(description="Order 7")
    assert not PaymentDayTotal.objects.exists()


def test_triggers_a_migration_dropped_are_put_back_and_what_they_missed_recounted():
    """SQLite drops a table's triggers when a migration remakes it: after `migrate`, the
    missing triggers are installed again and the totals rebuilt; when all are there, nothing
    is done."""
    merchant = MerchantFactory()
    PaymentFactory(merchant=merchant, created_at=MIDNIGHT)
    assert day_totals_ensure_triggers() is False
    day_total_triggers.remove(connection)
    PaymentFactory(merchant=merchant, created_at=MIDNIGHT, amount=700)
    CustomerFactory(merchant=merchant)
    assert totals_stored() != totals_from_payments()

    assert day_totals_ensure_triggers() is True

    assert totals_stored() == totals_from_payments()
    assert customer_counts_stored() == customer_counts_from_rows()
    PaymentFactory(merchant=merchant, created_at=MIDNIGHT, amount=300)
    assert totals_stored()[(merchant.pk, "gbp", MIDNIGHT.date())] == (2500, 0, 3)
    assert day_totals_ensure_triggers() is False


# --- the rebuild command --------------------------------------------------------------------


def test_check_reports_wrong_days_and_rebuild_repairs_them_with_an_audit_entry():
    """Given totals broken behind the triggers' back (a wrong row, a missing one, a stray
    one), `--check` exits 1 naming each day and writes nothing; the rebuild corrects them,
    records an audit entry, and a second check passes."""
    merchant = MerchantFactory()
    PaymentFactory(merchant=merchant, amount=1000, created_at=MIDNIGHT, net=970)
    PaymentFactory(merchant=merchant, amount=500, created_at=MIDNIGHT + timedelta(days=1))
    expected = totals_from_payments()
    PaymentDayTotal.objects.filter(day=MIDNIGHT.date()).update(gross=1)
    PaymentDayTotal.objects.filter(day=(MIDNIGHT + timedelta(days=1)).date()).delete()
    PaymentDayTotal.objects.create(
        merchant=merchant, currency="usd", day=MIDNIGHT.date(), gross=5, payment_count=1
    )
    customer = CustomerFactory(merchant=merchant)
    Customer.objects.filter(pk=customer.pk).update(created_at=MIDNIGHT)
    CustomerDayCount.objects.filter(day=MIDNIGHT.date()).update(customer_count=7)
    out = StringIO()
    with pytest.raises(CommandError, match="4 day totals differ"):
        call_command("rebuild_payment_day_totals", "--check", stdout=out)
    shown = out.getvalue()
    assert f"{merchant.public_id} gbp 2026-03-30: stored gross/kept/count 1/30/1" in shown
    assert "payments say 1000/30/1" in shown
    assert f"{merchant.public_id} gbp 2026-03-31: stored gross/kept/count 0/0/0" in shown
    assert f"{merchant.public_id} usd 2026-03-30: stored gross/kept/count 5/0/1" in shown
    assert f"{merchant.public_id} new customers 2026-03-30: stored 7, customers say 1" in shown
    assert totals_stored() != expected

    out = StringIO()
    call_command("rebuild_payment_day_totals", "--merchant", merchant.slug, stdout=out)
    assert "4 day totals corrected" in out.getvalue()
    assert totals_stored() == expected
    assert customer_counts_stored() == {(merchant.pk, MIDNIGHT.date()): 1}
    assert not PaymentDayTotal.objects.filter(currency="usd").exists()
    entry = AuditEntry.objects.get(action="payments.day_totals_rebuilt")
    assert entry.target_id == merchant.public_id
    assert entry.payload == {
        "days_corrected": 3,
        "days": 2,
        "customer_days_corrected": 1,
        "customer_days": 1,
    }
    call_command("rebuild_payment_day_totals", "--check", stdout=StringIO())


def test_rebuild_of_exact_totals_changes_nothing_and_audits_nothing():
    PaymentFactory(created_at=MIDNIGHT)
    out = StringIO()
    call_command("rebuild_payment_day_totals", stdout=out)
    assert out.getvalue().endswith(
        "1 days with payments, 0 with new customers: 0 day totals corrected\n"
    )
    assert not AuditEntry.objects.filter(action="payments.day_totals_rebuilt").exists()


def test_rebuild_of_an_unknown_merchant_fails_with_a_reason():
    with pytest.raises(CommandError, match="unknown merchant 'nobody'"):
        call_command("rebuild_payment_day_totals", "--merchant", "nobody")
