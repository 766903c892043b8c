"""Tamper suite: every mutation a superuser could make to a sealed log is detected.

A populated, checkpointed and exported log gets 1,000 random mutations, each applied with
the append-only guards switched off (as a superuser or the table owner can) inside a
savepoint, verified, and rolled back. Each must be reported, with a kind that describes it.
The same mutations, committed this time, must get the very same report from the parallel
verifier (segments between checkpoints in worker processes) as from the sequential one.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from compliance import verifier
from compliance.models import AuditCheckpoint
from compliance.sealer import seal_pending
from compliance.verifier import VerifyReport, verify_log
from tests.compliance import tamper

# Committed for real: on PostgreSQL the sealer's horizon needs the recording transactions done.
pytestmark = pytest.mark.django_db(transaction=True)

MUTATIONS = 1000


class _UndoError(Exception):
    """Raised to roll the savepoint (and the mutation) back."""


@pytest.fixture
def sealed_log(settings, record_entries):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 15
    record_entries(60)
    seal_pending(force_checkpoint=True, wait_for_lock=True)
    report = verify_log()
    assert report.ok, report.finding
    assert (report.verified, report.checkpoints) == (60, 4)


def _verify_mutated(mutation, rng):
    outcome = {}
    try:
        with transaction.atomic():
            tamper.bypass_guards()
            outcome["expected"] = mutation(rng)
            outcome["report"] = verify_log(chunk_size=7)
            raise _UndoError
    except _UndoError:
        pass
    return outcome["expected"], outcome["report"]


def _draw(rng):
    """The next mutation of a seeded sequence: None for an exported file, else a database one."""
    if rng.random() < 0.05:
        return None
    return rng.choice(tamper.DATABASE_MUTATIONS)


def _summary(report: VerifyReport):
    """Everything `audit_verify` prints or records; `segments` is how, not what."""
    return (
        report.verified,
        report.first_position,
        report.last_position,
        report.checkpoints,
        report.pending,
        report.finding,
        report.warnings,
    )


@pytest.mark.usefixtures("sealed_log")
def test_every_one_of_a_thousand_random_mutations_is_detected(audit_export_dir):
    rng = random.Random(20240611)
    missed, wrong_kind, seen = [], [], Counter()
    for number in range(MUTATIONS):
        mutation = _draw(rng)
        if mutation is None:
            path, original, expected = tamper.forge_export_file(rng, audit_export_dir)
            try:
                report = verify_log()
            finally:
                path.write_text(original)
            name = "forge_export_file"
        else:
            expected, report = _verify_mutated(mutation, rng)
            name = mutation.__name__
        seen[name] += 1
        if report.ok:
            missed.append((number, name))
        elif report.finding.kind not in expected:
            wrong_kind.append((number, name, str(report.finding)))
    assert not missed, f"undetected mutations: {missed[:10]}"
    assert not wrong_kind, f"misdescribed mutations: {wrong_kind[:10]}"
    assert sum(seen.values()) == MUTATIONS
    assert len(seen) == len(tamper.DATABASE_MUTATIONS) + 1
    # Every mutation was undone: the log verifies again.
    assert verify_log().ok


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed_log")
def test_the_parallel_verifier_reports_exactly_what_the_sequential_one_does(
    audit_export_dir, monkeypatch
):
    """Worker processes see only committed rows: each mutation is committed, verified both
    ways, and the tables are put back from a snapshot."""
    # 60 entries are far below the threshold that keeps small logs in one process.
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    saved = tamper.snapshot()
    rng = random.Random(20240611)
    differing, missed, segments, seen = [], [], Counter(), Counter()
    for number in range(MUTATIONS):
        mutation = _draw(rng)
        if mutation is None:
            path, original, expected = tamper.forge_export_file(rng, audit_export_dir)
            name = "forge_export_file"
        else:
            with transaction.atomic():
                tamper.bypass_guards()
                expected = mutation(rng)
            name = mutation.__name__
        try:
            sequential = verify_log(chunk_size=7, workers=1)
            parallel = verify_log(chunk_size=7, workers=2)
        finally:
            if mutation is None:
                path.write_text(original)
            else:
                tamper.restore(saved)
        seen[name] += 1
        segments[parallel.segments] += 1
        if sequential.ok or sequential.finding.kind not in expected:
            missed.append((number, name, str(sequential.finding)))
        if _summary(parallel) != _summary(sequential):
            differing.append((number, name, str(sequential.finding), str(parallel.finding)))
    assert not differing, f"parallel and sequential reports differ: {differing[:5]}"
    assert not missed, f"undetected or misdescribed: {missed[:5]}"
    assert len(seen) == len(tamper.DATABASE_MUTATIONS) + 1
    # Every run really was split (checkpoints at 15, 30, 45, 60: 0-30, 30-60 and the tail).
    assert segments[1] == 0, segments
    assert segments[3] > MUTATIONS // 2, segments
    # Every mutation was undone: the log verifies again, both ways.
    assert _summary(verify_log(workers=2)) == _summary(verify_log(workers=1))
    assert verify_log(workers=2).ok


@pytest.mark.usefixtures("sealed_log")
@pytest.mark.parametrize(
    ("mutation", "kind"),
    [
        (tamper.delete_entry, "missing"),
        (tamper.insert_entry, "extra"),
        (tamper.truncate_tail, "truncated"),
        (tamper.truncate_tail_and_checkpoints, "truncated"),
        (tamper.rewrite_chain, "edited"),
        (tamper.forge_checkpoint, "bad signature"),
    ],
)
def test_each_kind_of_break_is_named(mutation, kind):
    _, report = _verify_mutated(mutation, random.Random(7))
    assert report.finding is not None
    assert report.finding.kind == kind


@pytest.mark.usefixtures("sealed_log")
def test_swapped_links_are_reported_as_reordered_at_the_first_position():
    rng = random.Random(1)

    def swap_whole_links(_rng):
        from compliance.models import AuditSeal

        columns = ["entry_id", "entry_hash", "link_hash", "horizon"]
        a = AuditSeal.objects.filter(position=10).values_list(*columns).get()
        b = AuditSeal.objects.filter(position=20).values_list(*columns).get()
        tamper._sql("UPDATE compliance_auditseal SET entry_id = -1 WHERE position = 10")
        sets = ", ".join(f"{c} = %s" for c in columns)
        tamper._sql(f"UPDATE compliance_auditseal SET {sets} WHERE position = 20", [*a])
        tamper._sql(f"UPDATE compliance_auditseal SET {sets} WHERE position = 10", [*b])
        return {"reordered"}

    _, report = _verify_mutated(swap_whole_links, rng)
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == ("reordered", 10)


# --- Checkpoints that must exist, and where a rewrite is reported ------------------------------


def _guards_off_then(mutate):
    with transaction.atomic():
        tamper.bypass_guards()
        mutate()
        tamper.restore_guards()


def test_a_rewritten_log_with_every_checkpoint_and_export_removed_fails(
    record_entries, audit_export_dir
):
    """The sealer signs a checkpoint in its very first run: a sealed log without one was cut."""
    record_entries(12)
    seal_pending(force_checkpoint=True, wait_for_lock=True)

    def strip_and_rewrite():
        tamper.remove_checkpoints(audit_export_dir)
        tamper.rewrite_chain_at(5)

    _guards_off_then(strip_and_rewrite)
    assert not list(audit_export_dir.rglob("checkpoint-*.json"))
    report = verify_log()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == ("missing", 1)
    assert "no signed checkpoint" in report.finding.message


def test_the_command_exits_1_for_a_log_stripped_of_its_checkpoints(
    record_entries, audit_export_dir
):
    from django.core.management import CommandError, call_command

    record_entries(3)
    seal_pending(force_checkpoint=True, wait_for_lock=True)
    _guards_off_then(lambda: tamper.remove_checkpoints(audit_export_dir))
    with pytest.raises(CommandError, match="position 1: missing: no signed checkpoint") as exited:
        call_command("audit_verify")
    assert exited.value.returncode == 1


def test_an_unsigned_tail_older_than_the_checkpoint_interval_fails(
    settings, record_entries, audit_export_dir
):
    """Entries sealed more than AUDIT_CHECKPOINT_MAX_AGE after the last checkpoint were signed
    by a later one: that checkpoint (row and file) was removed."""
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        record_entries(10)
        seal_pending(force_checkpoint=True, wait_for_lock=True)
        clock.shift(settings.AUDIT_CHECKPOINT_MAX_AGE + timedelta(seconds=30))
        record_entries(5)
        seal_pending(force_checkpoint=False, wait_for_lock=True)
        assert AuditCheckpoint.objects.count() == 2
        assert verify_log().ok
        _guards_off_then(lambda: tamper.remove_checkpoints(audit_export_dir, above_size=10))
        report = verify_log()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == ("missing", 11)


def test_an_unsigned_tail_longer_than_the_checkpoint_size_fails(
    settings, record_entries, audit_export_dir
):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 5
    record_entries(12)
    seal_pending(force_checkpoint=True, wait_for_lock=True)
    assert verify_log().ok
    _guards_off_then(lambda: tamper.remove_checkpoints(audit_export_dir, above_size=5))
    report = verify_log()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == ("missing", 6)


def test_a_young_unsigned_tail_is_the_documented_window_not_a_break(settings, record_entries):
    """Sealed inline within the interval after a checkpoint: unsigned yet, and honest."""
    record_entries(4)
    seal_pending(force_checkpoint=True, wait_for_lock=True)
    record_entries(3)
    seal_pending(force_checkpoint=False, wait_for_lock=True)
    assert AuditCheckpoint.objects.count() == 1
    report = verify_log()
    assert report.ok, report.finding
    assert report.verified == 7


@pytest.mark.usefixtures("sealed_log")
@pytest.mark.parametrize("edited", [16, 23, 30, 31, 44])
def test_a_rewrite_between_checkpoints_is_reported_at_the_edited_entry(edited):
    """Checkpoints at 15, 30, 45, 60: the exported file's signed links pinpoint the edit."""
    _, report = _verify_mutated(lambda _rng: tamper.rewrite_chain_at(edited), random.Random(1))
    assert report.finding is not None
    assert (report.finding.kind, report.finding.position) == ("edited", edited)
    assert f"position {edited}" in str(report.finding)


def test_a_forged_only_checkpoint_is_named_a_bad_signature_not_a_missing_one(
    record_entries, audit_export_dir
):
    record_entries(4)
    seal_pending(force_checkpoint=True, wait_for_lock=True)
    for path in audit_export_dir.rglob("checkpoint-*.json"):
        path.unlink()
    _guards_off_then(
        lambda: tamper._sql("UPDATE compliance_auditcheckpoint SET signature = 'AAAA'")
    )
    report = verify_log()
    assert report.finding is not None
    assert report.finding.kind == "bad signature"
