"""Transactional tests reset the database with `flush`; the audit guards must let it through."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from compliance.actors import Actor
from compliance.models import AuditEntry
from compliance.services import audit_record


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_log_and_the_guards_stay_in_place():
    entry = audit_record(action="payment.created", actor=Actor.system("t"))
    call_command("flush", verbosity=0, interactive=False)
    assert not AuditEntry.objects.exists()
    kept = audit_record(action="payment.created", actor=Actor.system("t"))
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=kept.pk).delete()
    assert entry.pk is not None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('ledgerline.audit_flush', true)")
            assert cursor.fetchone()[0] in ("", None)
