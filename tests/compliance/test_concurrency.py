"""Real concurrent transactions on PostgreSQL: no writer waits on another, nothing is skipped."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from compliance.actors import Actor
from compliance.models import AuditEntry, AuditSeal
from compliance.sealer import seal_pending
from compliance.services import audit_record, audit_seal
from compliance.verifier import verify_log

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class _RollbackError(Exception):
    pass


def _in_thread(target: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _record(target_id: str) -> AuditEntry:
    return audit_record(
        action="payment.created",
        actor=Actor.system("test"),
        merchant_id="mer_c",
        target_id=target_id,
    )


def test_an_open_transaction_that_recorded_never_blocks_another():
    recorded, release, errors = threading.Event(), threading.Event(), []

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                _record("pay_slow")
                recorded.set()
                assert release.wait(timeout=20)
        except Exception as error:  # noqa: BLE001 - surfaced to the main thread below
            errors.append(error)

    slow = _in_thread(long_transaction)
    assert recorded.wait(timeout=10)
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A block would show as a lock timeout instead of a hung test.
            cursor.execute("SET LOCAL lock_timeout = '2s'")
        fast = _record("pay_fast")
    elapsed = time.monotonic() - started
    # The sealer does not wait on the open transaction either, and seals nothing of it yet.
    early = seal_pending(force_checkpoint=True, wait_for_lock=True)
    release.set()
    slow.join(timeout=20)
    assert not errors
    assert elapsed < 1.0
    assert AuditEntry.objects.filter(pk=fast.pk).exists()
    assert early.sealed == 0
    late = audit_seal()
    assert late.sealed == 2
    assert sorted(AuditSeal.objects.values_list("position", flat=True)) == [1, 2]
    assert verify_log().ok


def test_an_entry_committing_after_higher_ids_is_sealed_later_not_skipped():
    recorded, release = threading.Event(), threading.Event()
    _record("pay_before")

    def late_committer() -> None:
        with transaction.atomic():
            _record("pay_late")
            recorded.set()
            release.wait(timeout=20)

    thread = _in_thread(late_committer)
    assert recorded.wait(timeout=10)
    _record("pay_after")
    first = audit_seal()
    release.set()
    thread.join(timeout=20)
    second = audit_seal()
    sealed = list(AuditSeal.objects.order_by("position").values_list("entry__target_id", flat=True))
    assert first.sealed == 1
    assert second.sealed == 2
    # pay_late has the lower id of the two but committed last; both are on the chain.
    assert sealed == ["pay_before", "pay_late", "pay_after"]
    assert verify_log().ok


def test_many_concurrent_writers_with_rollbacks_leave_a_complete_gap_free_chain(settings):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 25
    committed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        for txn in range(25):
            ids = [f"pay_w{worker}t{txn}e{n}" for n in range(rng.randint(1, 3))]
            try:
                with transaction.atomic():
                    for target in ids:
                        _record(target)
                    time.sleep(rng.random() / 200)
                    if rng.random() < 0.25:
                        raise _RollbackError
            except _RollbackError:
                continue
            except Exception as error:  # noqa: BLE001 - surfaced to the main thread below
                errors.append(error)
                return
            with lock:
                committed.extend(ids)

    def sealer() -> None:
        while not stop.is_set():
            try:
                seal_pending(force_checkpoint=False, wait_for_lock=False)
            except Exception as error:  # noqa: BLE001 - surfaced to the main thread below
                errors.append(error)
                return

    sealing = _in_thread(sealer)
    writers = [_in_thread(lambda w=w: writer(w)) for w in range(8)]
    for thread in writers:
        thread.join(timeout=60)
    stop.set()
    sealing.join(timeout=60)
    audit_seal()

    assert not errors
    sealed = list(
        AuditSeal.objects.order_by("position").values_list("position", "entry__target_id")
    )
    assert [position for position, _ in sealed] == list(range(1, len(sealed) + 1))
    assert sorted(target for _, target in sealed) == sorted(committed)
    assert AuditEntry.objects.count() == len(committed)
    report = verify_log()
    assert report.ok, report.finding
    assert report.verified == len(committed)
