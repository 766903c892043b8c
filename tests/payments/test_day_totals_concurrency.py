"""Real concurrent transactions on PostgreSQL: payment and customer writers on the same
merchant-day, and a rebuild running among them, leave the day totals exactly equal to the rows."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F

from accounts.models import Merchant
from payments.day_totals import day_totals_rebuild
from payments.models import Customer, Payment, PaymentDayTotal
from payments.state import PaymentStatus
from tests.factories import MerchantFactory
from tests.payments.day_totals_support import (
    customer_counts_from_rows,
    customer_counts_stored,
    totals_from_payments,
    totals_stored,
)
from tests.payments.factories import CustomerFactory, PaymentFactory
from tests.payments.totals_concurrency_support import in_thread, write_while_rebuilding

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 6
TRANSACTIONS_PER_WRITER = 30
S = PaymentStatus


def _writer(merchant: Merchant, seed: int, start: threading.Barrier, day: datetime) -> None:
    """Transactions on one day each (or one statement over both days), holding the lock a
    moment, so that writers queue on the same totals rows."""
    rng = random.Random(seed)
    mine: list[int] = []
    start.wait(timeout=30)
    for _ in range(TRANSACTIONS_PER_WRITER):
        moment = day + timedelta(days=rng.randint(0, 1), seconds=rng.randint(0, 86_399))
        with transaction.atomic():
            roll = rng.random()
            if roll < 0.15:
                customer = CustomerFactory(merchant=merchant)
                Customer.objects.filter(pk=customer.pk).update(created_at=moment)
            elif roll < 0.4 or not mine:
                payment = PaymentFactory(
                    merchant=merchant, created_at=moment, amount=rng.randint(100, 9_999)
                )
                mine.append(payment.pk)
            elif roll < 0.55:
                payment = Payment.objects.select_for_update().get(pk=rng.choice(mine))
                payment.status = rng.choice([S.SUCCEEDED, S.CANCELED])
                payment.save()
            elif roll < 0.7:
                Payment.objects.filter(pk=rng.choice(mine)).update(
                    fee=40, net=F("amount_captured") - 40
                )
            elif roll < 0.8:
                # One statement over both days: its totals rows are locked in key order.
                Payment.objects.filter(pk__in=mine).update(
                    status=rng.choice([S.SUCCEEDED, S.CANCELED])
                )
            elif roll < 0.9:
                Payment.objects.filter(pk=rng.choice(mine)).update(amount_captured=F("amount") / 2)
            else:
                victim = mine.pop(rng.randrange(len(mine)))
                Payment.objects.filter(pk=victim).delete()
            time.sleep(rng.random() / 500)


def test_concurrent_writers_and_a_rebuild_keep_the_totals_exact():
    """Given six writers creating, saving, updating and deleting payments of one merchant on
    the same two days at once, and a rebuild repairing in a loop among them, then no write is
    lost: the totals equal the payments. Given totals wrong when they start, the first rebuild
    corrects exactly those two days and later ones find nothing: a comparison never mistakes a
    write in flight for an error, and a correction never drops one."""
    merchant = MerchantFactory()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Totals already wrong when the writers start: the first rebuild corrects them among them.
    PaymentFactory(merchant=merchant, created_at=day, amount=900)
    PaymentFactory(merchant=merchant, created_at=day + timedelta(days=1), amount=800)
    PaymentDayTotal.objects.filter(merchant=merchant, day=day.date()).update(gross=F("gross") + 7)
    PaymentDayTotal.objects.filter(merchant=merchant, day=(day + timedelta(days=1)).date()).delete()
    start = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []
    corrections = write_while_rebuilding(
        [lambda seed=seed: _writer(merchant, seed, start, day) for seed in range(WRITERS)],
        start,
        lambda: len(day_totals_rebuild(merchants=[merchant]).differences),
        errors,
    )
    assert not errors
    assert Payment.objects.filter(merchant=merchant).count() > WRITERS * 5
    assert totals_stored() == totals_from_payments()
    assert customer_counts_stored() == customer_counts_from_rows()
    assert Customer.objects.filter(merchant=merchant).exists()
    assert corrections[0] == 2
    assert set(corrections[1:]) <= {0}


def test_a_writer_waits_for_another_on_the_same_day_and_both_count():
    """Two open transactions add a payment to the same day: the second waits on the totals
    row until the first commits, then adds to what the first left."""
    merchant = MerchantFactory()
    moment = datetime(2026, 3, 30, 12, tzinfo=UTC)
    first_written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with transaction.atomic():
            PaymentFactory(merchant=merchant, created_at=moment, amount=1000)
            first_written.set()
            assert release.wait(timeout=20)

    def second() -> None:
        assert first_written.wait(timeout=20)
        with transaction.atomic():
            PaymentFactory(merchant=merchant, created_at=moment, amount=500)

    threads = [in_thread(first, errors), in_thread(second, errors)]
    assert first_written.wait(timeout=20)
    time.sleep(0.3)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        (waiting,) = cursor.fetchone()
    release.set()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    assert waiting == 1
    assert totals_stored() == {(merchant.pk, "gbp", moment.date()): (1500, 0, 2)}
