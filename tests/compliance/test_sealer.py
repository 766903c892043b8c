"""The sealer: gap-free positions over committed entries, checkpoints on cadence, exports."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from compliance import exports
from compliance.actors import Actor
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal
from compliance.sealer import seal_pending
from compliance.services import audit_record, audit_seal
from compliance.signing import public_key_text, signature_valid
from compliance.verifier import verify_log

pytestmark = pytest.mark.django_db(transaction=True)


def test_seals_every_committed_entry_once_in_order(record_entries):
    entries = record_entries(12)
    first = audit_seal()
    again = audit_seal()
    assert (first.sealed, first.head) == (12, 12)
    assert (again.sealed, again.checkpoints) == (0, ())
    positions = list(AuditSeal.objects.order_by("position").values_list("position", "entry_id"))
    assert positions == [(i + 1, entry.pk) for i, entry in enumerate(entries)]
    assert verify_log().ok


def test_rolled_back_entries_are_never_sealed(record_entries):
    record_entries(2)

    def failing_transaction() -> None:
        with transaction.atomic():
            audit_record(action="payment.refund.created", actor=Actor.system("t"))
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError, match="rollback"):
        failing_transaction()
    record_entries(2)
    assert audit_seal().sealed == 4
    assert AuditSeal.objects.count() == AuditEntry.objects.count() == 4


def test_checkpoint_every_max_entries_and_exported(settings, record_entries, audit_export_dir):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 5
    record_entries(12)
    result = seal_pending(force_checkpoint=False, wait_for_lock=True)
    # 5 and 10 by count; the last two wait (the first checkpoint is young).
    assert list(AuditCheckpoint.objects.values_list("size", flat=True)) == [5, 10]
    assert result.checkpoints == (1, 2)
    files = sorted(audit_export_dir.rglob("checkpoint-*.json"))
    assert [f.name for f in files] == [
        "checkpoint-000000000001.json",
        "checkpoint-000000000002.json",
    ]
    exported = json.loads(files[1].read_text())
    assert exported["statement"]["size"] == 10
    assert signature_valid(exported["statement"], exported["signature"], public_key_text())


def test_checkpoint_when_the_last_is_older_than_max_age(settings, record_entries):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 1000
    record_entries(1)
    seal_pending(force_checkpoint=False, wait_for_lock=True)
    record_entries(1)
    seal_pending(force_checkpoint=False, wait_for_lock=True)
    assert AuditCheckpoint.objects.count() == 1
    later = timezone.now() + settings.AUDIT_CHECKPOINT_MAX_AGE + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        record_entries(1)
        seal_pending(force_checkpoint=False, wait_for_lock=True)
    assert list(AuditCheckpoint.objects.values_list("size", flat=True)) == [1, 3]


def test_inline_sealing_after_commit(settings, record_entries):
    settings.AUDIT_SEAL_INLINE = True
    with transaction.atomic():
        record_entries(3)
        assert not AuditSeal.objects.exists()
    assert AuditSeal.objects.count() == 3
    assert AuditCheckpoint.objects.count() == 1


def test_missing_export_is_written_by_the_next_run(record_entries, audit_export_dir):
    record_entries(2)
    audit_seal()
    (path,) = audit_export_dir.rglob("checkpoint-*.json")
    path.unlink()
    audit_seal()
    assert path.exists()


def test_an_export_file_is_never_overwritten(record_entries, audit_export_dir):
    record_entries(2)
    audit_seal()
    checkpoint = AuditCheckpoint.objects.get()
    (path,) = audit_export_dir.rglob("checkpoint-*.json")
    path.write_text("{}")
    with pytest.raises(exports.AuditExportConflictError, match="not overwriting"):
        exports.export_checkpoint(statement=checkpoint.statement(), signature=checkpoint.signature)
    assert path.read_text() == "{}"


def test_pages_of_keys_skip_gaps_wider_than_a_page(record_entries, monkeypatch):
    """A run pages by key ranges; rolled-back writers leave gaps several pages wide."""
    monkeypatch.setattr("compliance.sealer.BATCH_SIZE", 3)
    kept = record_entries(4)

    def rolled_back() -> None:
        with transaction.atomic():
            record_entries(10)
            raise RuntimeError("rolled back: ten keys never committed")

    with pytest.raises(RuntimeError):
        rolled_back()
    kept += record_entries(5)
    result = seal_pending(force_checkpoint=True, wait_for_lock=True)
    assert (result.sealed, result.head) == (9, 9)
    sealed = list(AuditSeal.objects.order_by("position").values_list("entry_id", flat=True))
    assert sealed == [entry.pk for entry in kept]
    assert verify_log().ok


def test_inline_sealing_is_quiet_and_an_explicit_seal_is_logged(record_entries, caplog):
    """The embedded default seals after every audited commit: that chatter stays at DEBUG."""
    import logging

    from compliance.sealer import seal_pending

    caplog.set_level(logging.DEBUG, logger="compliance.sealer")
    record_entries(2)
    seal_pending(force_checkpoint=False, wait_for_lock=True)
    record_entries(1)
    audit_seal()
    levels = [(r.levelno, r.getMessage()) for r in caplog.records if "sealed" in r.getMessage()]
    assert levels == [
        (logging.DEBUG, "audit: sealed 2 entries up to position 2"),
        (logging.INFO, "audit: sealed 1 entries up to position 3"),
    ]
