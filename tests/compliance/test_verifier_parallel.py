"""Parallel `audit_verify`: segments cut at signed checkpoints, the same report as one pass.

The tamper suite compares both verifiers over 1,000 mutations; these tests pin down how the
chain is cut, when the verifier stays in one process, `--since`, and the command's output.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from compliance import verifier
from compliance.sealer import seal_pending
from compliance.verifier import GENESIS_HASH, verify_log

pytestmark = pytest.mark.django_db(transaction=True)


def _checkpoint(size: int) -> verifier._Checkpoint:
    return verifier._Checkpoint(number=size // 10, size=size, head=f"head{size}", created_at=None)


def test_segments_are_cut_at_signed_heads_and_the_tail_is_its_own():
    heads = {size: _checkpoint(size) for size in range(10, 101, 10)}
    segments = verifier._plan_segments(None, heads, 3)
    assert [(s.start, s.end) for s in segments] == [(0, 40), (40, 70), (70, 100), (100, None)]
    # Each segment trusts exactly the signed head its predecessor must end in.
    assert segments[0].head == GENESIS_HASH
    assert [s.head for s in segments[1:]] == ["head40", "head70", "head100"]
    assert [s.checkpoint_before for s in segments[1:]] == [heads[40], heads[70], heads[100]]


def test_segments_start_at_the_since_checkpoint_and_never_repeat_a_cut():
    heads = {size: _checkpoint(size) for size in (10, 20, 90)}
    segments = verifier._plan_segments(heads[10], heads, 8)
    assert [(s.start, s.end) for s in segments] == [(10, 20), (20, 90), (90, None)]
    assert segments[0].head == "head10"


def test_without_a_checkpoint_after_the_start_the_whole_log_is_one_segment():
    segments = verifier._plan_segments(None, {}, 4)
    assert [(s.start, s.end, s.head) for s in segments] == [(0, None, GENESIS_HASH)]


@pytest.fixture
def sealed(settings, record_entries):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 10
    record_entries(95)
    seal_pending(force_checkpoint=True, wait_for_lock=True)


@pytest.mark.usefixtures("sealed")
def test_a_small_log_is_verified_in_this_process():
    report = verify_log(workers=4)
    assert report.ok
    assert (report.verified, report.segments) == (95, 1)


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed")
def test_an_intact_log_verified_in_processes_gives_the_sequential_report(monkeypatch):
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    sequential = verify_log(workers=1, chunk_size=4)
    parallel = verify_log(workers=3, chunk_size=4)
    assert parallel.ok
    assert parallel.segments == 4
    assert (parallel.verified, parallel.first_position, parallel.last_position) == (95, 1, 95)
    assert (parallel.checkpoints, parallel.pending, parallel.warnings) == (
        sequential.checkpoints,
        sequential.pending,
        sequential.warnings,
    )


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed")
def test_since_is_honoured_in_parallel(monkeypatch):
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    report = verify_log(since_position=45, workers=2)
    # From checkpoint 4 (position 40), whose signed head is trusted.
    assert (report.verified, report.first_position, report.last_position) == (55, 41, 95)
    assert report.segments == 3


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed")
def test_progress_counts_every_entry_once_in_parallel(monkeypatch):
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    ticks: list[int] = []
    verify_log(workers=2, chunk_size=4, progress=ticks.append)
    assert sum(ticks) == 95


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed")
def test_inside_a_transaction_the_verifier_stays_in_this_process(monkeypatch):
    """Workers could not see uncommitted rows, and forking would end the transaction."""
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    with transaction.atomic():
        report = verify_log(workers=2)
    assert (report.ok, report.segments) == (True, 1)


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed")
def test_the_command_prints_the_same_line_with_any_number_of_workers(monkeypatch, capsys):
    monkeypatch.setattr(verifier, "PARALLEL_MIN_ENTRIES", 0)
    call_command("audit_verify", workers=1)
    sequential = capsys.readouterr().out
    call_command("audit_verify", workers=2)
    assert capsys.readouterr().out == sequential
    assert "OK: verified 95 entries (positions 1-95), 10 signed checkpoints" in sequential


def test_workers_must_be_positive():
    with pytest.raises(CommandError, match="--workers must be at least 1"):
        call_command("audit_verify", workers=0)
