"""`audit_seal` and `audit_verify`: output, exit codes, --since, and the recorded status."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from compliance import db_guards
from compliance.models import AuditVerification
from compliance.selectors import audit_chain_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_seal_then_verify_reports_counts_and_records_the_run(record_entries, capsys, settings):
    settings.AUDIT_CHECKPOINT_MAX_ENTRIES = 10
    record_entries(25)
    call_command("audit_seal")
    assert "sealed 25 entries; chain size 25; checkpoint 3 written" in capsys.readouterr().out
    call_command("audit_verify")
    assert "OK: verified 25 entries (positions 1-25), 3 signed checkpoints, 0 pending" in (
        capsys.readouterr().out
    )
    call_command("audit_verify", since="15")
    # From the last checkpoint before position 15, whose signed head (position 10) is trusted.
    assert "verified 15 entries (positions 11-25)" in capsys.readouterr().out
    status = audit_chain_status()
    assert (status.size, status.last_checkpoint.number) == (25, 3)
    assert status.last_verification.result == "intact"


def test_a_broken_log_exits_1_naming_the_position_and_kind(record_entries):
    entries = record_entries(5)
    call_command("audit_seal")
    with connection.cursor() as cursor:
        db_guards.remove(connection)
        try:
            cursor.execute(
                "UPDATE compliance_auditentry SET action = 'payment.hidden' WHERE id = %s",
                [entries[2].pk],
            )
        finally:
            db_guards.install(connection)
    with pytest.raises(CommandError, match="position 3: edited") as caught:
        call_command("audit_verify")
    assert caught.value.returncode == 1
    last = AuditVerification.objects.latest("finished_at")
    assert (last.result, last.first_bad_position, last.problem) == ("broken", 3, "edited")


@pytest.mark.parametrize("since", ["yesterday", "2024-13-01"])
def test_bad_since_is_a_one_line_error(since):
    with pytest.raises(CommandError, match="--since"):
        call_command("audit_verify", since=since)


def test_missing_signing_key_is_a_one_line_error(settings, record_entries):
    record_entries(1)
    settings.AUDIT_SIGNING_KEY = ""
    with pytest.raises(CommandError, match="audit_seal failed: AUDIT_SIGNING_KEY is not set"):
        call_command("audit_seal")
    with pytest.raises(CommandError, match="audit_verify could not run: AUDIT_SIGNING_KEY"):
        call_command("audit_verify")
