"""Real concurrent transactions on PostgreSQL: balance transaction writers of one merchant,
processor and currency, and a rebuild running among them, leave the balance totals exactly
equal to the rows."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F

from accounts.models import Merchant
from payments.balance_selectors import balance_by_processor
from payments.balance_totals import balance_totals_rebuild
from payments.models import BalanceTotal, BalanceTransaction
from tests.factories import MerchantFactory
from tests.payments.balance_totals_support import (
    balance_split_from_rows,
    balance_transaction_create,
    totals_from_rows,
    totals_stored,
)
from tests.payments.totals_concurrency_support import in_thread, write_while_rebuilding

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 6
TRANSACTIONS_PER_WRITER = 30


def _writer(merchant: Merchant, seed: int, start: threading.Barrier, now: datetime) -> None:
    """Transactions that insert (mostly), change or delete balance transactions of the same
    merchant, holding the totals row's lock a moment, so that writers queue on it."""
    rng = random.Random(seed)
    mine: list[int] = []
    start.wait(timeout=30)
    for _ in range(TRANSACTIONS_PER_WRITER):
        with transaction.atomic():
            roll = rng.random()
            if roll < 0.6 or not mine:
                # Several currencies in one transaction, in currency order as
                # `balance_entries_apply` writes them: the totals rows lock in one order.
                chosen = sorted(rng.choice(["gbp", "gbp", "eur"]) for _ in range(rng.randint(1, 3)))
                for currency in chosen:
                    row = balance_transaction_create(
                        merchant=merchant,
                        net=rng.randint(-2_000, 9_999),
                        currency=currency,
                        available_on=now + timedelta(hours=rng.randint(-72, 72)),
                    )
                    mine.append(row.pk)
            elif roll < 0.75:
                net = rng.randint(-2_000, 9_999)
                BalanceTransaction.objects.filter(pk=rng.choice(mine)).update(
                    amount=net + 30, net=net
                )
            elif roll < 0.85:
                # One statement over both currencies: its totals rows are locked in key order.
                BalanceTransaction.objects.filter(pk__in=mine).update(
                    amount=F("amount") + 1, net=F("net") + 1
                )
            else:
                victim = mine.pop(rng.randrange(len(mine)))
                BalanceTransaction.objects.filter(pk=victim).delete()
            time.sleep(rng.random() / 500)


def test_concurrent_writers_and_a_rebuild_keep_the_balance_totals_exact():
    """Given six writers inserting, changing and deleting balance transactions of one merchant
    at once, and a rebuild repairing in a loop among them, then no write is lost: the totals
    equal the rows and the balance equals the sums over every row. Given a total wrong when
    they start, the first rebuild corrects exactly it and later ones find nothing."""
    merchant = MerchantFactory()
    now = datetime.now(UTC)
    balance_transaction_create(merchant=merchant, net=900, available_on=now)
    BalanceTotal.objects.filter(merchant=merchant).update(net=F("net") + 7)
    start = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []
    corrections = write_while_rebuilding(
        [lambda seed=seed: _writer(merchant, seed, start, now) for seed in range(WRITERS)],
        start,
        lambda: len(balance_totals_rebuild(merchants=[merchant]).differences),
        errors,
    )
    assert not errors
    assert BalanceTransaction.objects.filter(merchant=merchant).count() > WRITERS * 10
    assert totals_stored() == totals_from_rows()
    split = {
        (b.processor, b.currency): (b.available, b.pending)
        for b in balance_by_processor(merchant=merchant, using="default", now=now)
    }
    assert split == balance_split_from_rows(merchant, now)
    assert corrections[0] == 1
    assert set(corrections[1:]) <= {0}


def test_a_writer_waits_for_another_on_the_same_total_and_both_count():
    """Two open transactions add a balance transaction to the same total: the second waits on
    the totals row until the first commits, then adds to what the first left."""
    merchant = MerchantFactory()
    now = datetime.now(UTC)
    first_written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with transaction.atomic():
            balance_transaction_create(merchant=merchant, net=1000, available_on=now)
            first_written.set()
            assert release.wait(timeout=20)

    def second() -> None:
        assert first_written.wait(timeout=20)
        with transaction.atomic():
            balance_transaction_create(merchant=merchant, net=500, available_on=now)

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
    assert totals_stored() == {(merchant.pk, "stripe", "gbp"): (1500, 2)}
