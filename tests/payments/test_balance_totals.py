"""The balance read from running totals equals the balance summed over every balance
transaction, through every way a balance transaction is written; the rebuild command finds and
repairs totals that were not exact (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Merchant
from compliance.models import AuditEntry
from payments import balance_total_triggers
from payments.balance_selectors import balance_by_processor
from payments.balance_totals import balance_totals_ensure_triggers
from payments.models import BalanceTotal, BalanceTransaction
from payments.selectors import balance_summary
from tests.factories import MerchantFactory
from tests.payments.balance_totals_support import (
    balance_split_from_rows,
    balance_transaction_create,
    totals_from_rows,
    totals_stored,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 30, 12, tzinfo=UTC)

processors = st.sampled_from(["stripe", "braintree"])
currencies = st.sampled_from(["gbp", "eur", "usd"])
# Around now, the exact instant drawn often: `available_on == now` is available.
offsets = st.one_of(
    st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)]),
    st.integers(-10 * 86_400, 10 * 86_400).map(lambda s: timedelta(seconds=s)),
)
nets = st.integers(-5_000, 20_000)
which = st.integers(0, 1_000)  # an existing balance transaction, modulo how many there are

operations = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 1), processors, currencies, nets, offsets),
    st.tuples(st.just("bulk_create"), st.integers(0, 1), currencies, offsets, st.integers(1, 4)),
    st.tuples(st.just("update_net"), which, nets),
    st.tuples(st.just("update_available_on"), which, offsets),
    st.tuples(st.just("update_currency"), which, currencies),
    st.tuples(st.just("update_processor"), which, processors),
    st.tuples(st.just("update_merchant"), which, st.integers(0, 1)),
    st.tuples(st.just("update_description"), which),
    st.tuples(st.just("update_all_currency"), currencies),
    st.tuples(st.just("save_net"), which, nets),
    st.tuples(st.just("raw_net"), which, nets),
    st.tuples(st.just("delete"), which),
    st.tuples(st.just("delete_currency"), currencies),
)


def _apply(step: tuple, merchants: list[Merchant]) -> None:
    name = step[0]
    if name == "create":
        balance_transaction_create(
            merchant=merchants[step[1]],
            processor=step[2],
            currency=step[3],
            net=step[4],
            available_on=NOW + step[5],
        )
        return
    if name == "bulk_create":
        made = [
            balance_transaction_create(
                merchant=merchants[step[1]], currency=step[2], net=100, available_on=NOW + step[3]
            )
            for _ in range(step[4])
        ]
        # Recreated in one statement: a multi-row insert (and a multi-row delete before it).
        BalanceTransaction.objects.filter(pk__in=[row.pk for row in made]).delete()
        for row in made:
            row.pk = None
        BalanceTransaction.objects.bulk_create(made)
        return
    if name == "update_all_currency":
        BalanceTransaction.objects.update(currency=step[1])
        return
    if name == "delete_currency":
        BalanceTransaction.objects.filter(currency=step[1]).delete()
        return
    rows = list(BalanceTransaction.objects.order_by("pk"))
    if not rows:
        return
    row = rows[step[1] % len(rows)]
    one = BalanceTransaction.objects.filter(pk=row.pk)
    if name == "update_net":
        one.update(amount=step[2] + 30, fee=30, net=step[2])
    elif name == "update_available_on":
        one.update(available_on=NOW + step[2])
    elif name == "update_currency":
        one.update(currency=step[2])
    elif name == "update_processor":
        one.update(processor=step[2])
    elif name == "update_merchant":
        one.update(merchant=merchants[step[2]])
    elif name == "update_description":
        one.update(description="Payout item")
    elif name == "save_net":
        row.amount, row.fee, row.net = step[2] + 30, 30, step[2]
        row.save()
    elif name == "raw_net":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payments_balancetransaction SET amount = %s, net = %s WHERE id = %s",
                [step[2] + row.fee, step[2], row.pk],
            )
    elif name == "delete":
        row.delete()


def _summary_from_rows(merchant: Merchant) -> dict[str, tuple[int, int]]:
    summed: dict[str, tuple[int, int]] = {merchant.default_currency: (0, 0)}
    for (_, currency), (available, pending) in balance_split_from_rows(merchant, NOW).items():
        held = summed.get(currency, (0, 0))
        summed[currency] = (held[0] + available, held[1] + pending)
    return summed


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(operations, min_size=1, max_size=12))
def test_balance_equals_the_sum_of_the_rows_after_any_sequence_of_writes(steps):
    """Given two merchants, when balance transactions of two processors in three currencies,
    available in the past, the future or exactly now, are created, bulk created, updated one at
    a time or all at once, saved, rewritten by raw SQL, moved between merchants, processors and
    currencies, or deleted, then after every step the stored totals equal the rows, and each
    merchant's balance per processor and per currency equals the sums over every row."""
    merchants = [MerchantFactory(), MerchantFactory()]
    with transaction.atomic():
        for step in steps:
            _apply(step, merchants)
            assert totals_stored() == totals_from_rows(), step
            for merchant in merchants:
                split = {
                    (b.processor, b.currency): (b.available, b.pending)
                    for b in balance_by_processor(merchant=merchant, using="default", now=NOW)
                }
                assert split == balance_split_from_rows(merchant, NOW), step
                summary = {
                    b.currency: (b.available, b.pending)
                    for b in balance_summary(merchant=merchant, now=NOW)
                }
                assert summary == _summary_from_rows(merchant), step
        transaction.set_rollback(True)


def test_a_currency_whose_rows_net_to_zero_still_shows_and_one_with_no_rows_does_not():
    """A charge and its full refund leave the currency on the balance at zero, as summing the
    rows did; once both rows are gone, the currency's empty totals row shows nothing."""
    merchant = MerchantFactory()
    charge = balance_transaction_create(
        merchant=merchant, currency="eur", net=500, available_on=NOW
    )
    refund = balance_transaction_create(
        merchant=merchant, currency="eur", net=-500, available_on=NOW + timedelta(days=1)
    )
    assert [
        (b.currency, b.available, b.pending) for b in balance_summary(merchant=merchant, now=NOW)
    ] == [("gbp", 0, 0), ("eur", 500, -500)]
    charge.delete()
    refund.delete()
    assert BalanceTotal.objects.filter(merchant=merchant, net=0, transaction_count=0).exists()
    assert balance_by_processor(merchant=merchant, using="default", now=NOW) == []


def test_a_merchant_deleted_with_its_balance_transactions_leaves_no_totals():
    kept, gone = MerchantFactory(), MerchantFactory()
    balance_transaction_create(merchant=kept, net=100, available_on=NOW)
    balance_transaction_create(merchant=gone, net=200, available_on=NOW)
    gone.delete()
    connection.check_constraints()
    assert set(BalanceTotal.objects.values_list("merchant_id", flat=True)) == {kept.pk}
    assert totals_stored() == totals_from_rows()


def test_attaching_rows_to_a_payout_touches_no_totals_row():
    """The money-out mirror sets `payout` on many rows at once: no change to any total, so the
    totals row is not written (and so not locked)."""
    merchant = MerchantFactory()
    balance_transaction_create(merchant=merchant, net=100, available_on=NOW)
    BalanceTotal.objects.filter(merchant=merchant).update(net=F("net") + 1)
    BalanceTransaction.objects.filter(merchant=merchant).update(description="Swept")
    assert BalanceTotal.objects.get(merchant=merchant).net == 101


def test_triggers_a_migration_dropped_are_put_back_and_what_they_missed_recounted():
    """SQLite drops a table's triggers when a migration remakes it: after `migrate`, the
    missing balance triggers are installed again and the totals rebuilt."""
    merchant = MerchantFactory()
    balance_transaction_create(merchant=merchant, net=100, available_on=NOW)
    assert balance_totals_ensure_triggers() is False
    balance_total_triggers.remove(connection)
    balance_transaction_create(merchant=merchant, net=700, available_on=NOW)
    assert totals_stored() != totals_from_rows()

    assert balance_totals_ensure_triggers() is True

    assert totals_stored() == totals_from_rows()
    balance_transaction_create(merchant=merchant, net=300, available_on=NOW)
    assert totals_stored() == {(merchant.pk, "stripe", "gbp"): (1100, 3)}
    assert balance_totals_ensure_triggers() is False


# --- the rebuild command --------------------------------------------------------------------


def test_check_reports_wrong_balance_totals_and_rebuild_repairs_them_with_an_audit_entry():
    """Given totals broken behind the triggers' back (a wrong row, a missing one, a stray
    one), `--check` exits 1 naming each and writes nothing; the rebuild corrects them, records
    an audit entry, and a second check passes."""
    merchant = MerchantFactory()
    balance_transaction_create(merchant=merchant, net=1000, available_on=NOW)
    balance_transaction_create(merchant=merchant, net=400, available_on=NOW, currency="eur")
    expected = totals_from_rows()
    BalanceTotal.objects.filter(currency="gbp").update(net=1)
    BalanceTotal.objects.filter(currency="eur").delete()
    BalanceTotal.objects.create(
        merchant=merchant, processor="braintree", currency="usd", net=5, transaction_count=1
    )
    out = StringIO()
    with pytest.raises(CommandError, match="0 day totals differ; 3 balance totals differ"):
        call_command("rebuild_payment_day_totals", "--check", stdout=out)
    shown = out.getvalue()
    prefix = f"{merchant.public_id} balance"
    assert f"{prefix} stripe gbp: stored net/count 1/1, balance transactions say 1000/1" in shown
    assert f"{prefix} stripe eur: stored net/count 0/0, balance transactions say 400/1" in shown
    assert f"{prefix} braintree usd: stored net/count 5/1, balance transactions say 0/0" in shown
    assert totals_stored() != expected

    out = StringIO()
    call_command("rebuild_payment_day_totals", "--merchant", merchant.slug, stdout=out)
    assert "2 balance totals (processor, currency): 3 corrected" in out.getvalue()
    assert totals_stored() == expected
    assert not BalanceTotal.objects.filter(currency="usd").exists()
    entry = AuditEntry.objects.get(action="payments.balance_totals_rebuilt")
    assert entry.target_id == merchant.public_id
    assert entry.payload == {"totals_corrected": 3, "totals": 2}
    call_command("rebuild_payment_day_totals", "--check", stdout=StringIO())


def test_rebuild_of_exact_balance_totals_changes_nothing_and_audits_nothing():
    balance_transaction_create(merchant=MerchantFactory(), net=100, available_on=NOW)
    out = StringIO()
    call_command("rebuild_payment_day_totals", stdout=out)
    assert "1 balance totals (processor, currency): 0 corrected" in out.getvalue()
    assert not AuditEntry.objects.filter(action="payments.balance_totals_rebuilt").exists()
