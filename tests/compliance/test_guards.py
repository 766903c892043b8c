"""The database itself refuses UPDATE, DELETE and TRUNCATE on the audit tables."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal
from compliance.services import audit_seal

pytestmark = pytest.mark.django_db

TABLES = ("compliance_auditentry", "compliance_auditseal", "compliance_auditcheckpoint")


@pytest.fixture
def sealed_log(record_entries):
    record_entries(3)
    audit_seal()
    assert AuditSeal.objects.count() == 3
    assert AuditCheckpoint.objects.count() == 1


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    return str(caught.value)


@pytest.mark.usefixtures("sealed_log")
@pytest.mark.parametrize("table", TABLES)
def test_raw_update_and_delete_are_refused(table):
    assert "append-only" in _refused(f"UPDATE {table} SET {_column(table)} = {_column(table)}")
    assert "append-only" in _refused(f"DELETE FROM {table}")


@pytest.mark.usefixtures("sealed_log")
def test_orm_updates_and_deletes_are_refused_and_change_nothing():
    entry = AuditEntry.objects.order_by("id").first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="payment.hidden")
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditSeal.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == entry.action
    assert AuditSeal.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed_log")
@pytest.mark.parametrize("table", TABLES)
def test_truncate_is_refused_on_postgresql(table):
    assert "append-only" in _refused(f"TRUNCATE {table} CASCADE")


@pytest.mark.postgres
@pytest.mark.usefixtures("sealed_log")
@pytest.mark.parametrize("table", TABLES)
def test_guards_fire_under_replica_replication_role(table):
    """`ENABLE ALWAYS`: the role logical replication uses to skip triggers does not skip these."""

    def as_replica(sql: str) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql)

    def attempt(sql: str) -> str:
        with pytest.raises(DatabaseError) as caught:
            as_replica(sql)
        return str(caught.value)

    assert "append-only" in attempt(f"DELETE FROM {table}")
    assert "append-only" in attempt(f"TRUNCATE {table} CASCADE")
    assert "append-only" in attempt(f"UPDATE {table} SET {_column(table)} = {_column(table)}")


@pytest.mark.postgres
def test_the_sealing_stamp_is_set_by_the_database_not_the_caller(record_entries):
    first = record_entries(1)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditentry (created_at, stamp, actor_kind, actor_id,"
            " merchant_public_id, action, target_type, target_id, outcome, ip, user_agent,"
            " request_id, payload) VALUES (now(), -5, 'system', 's', '', 'a.b', '', '',"
            " 'success', '', '', '', '{}') RETURNING stamp"
        )
        forged = cursor.fetchone()[0]
    assert forged == AuditEntry.objects.get(pk=first.pk).stamp + 1


def _column(table: str) -> str:
    return {
        "compliance_auditentry": "action",
        "compliance_auditseal": "entry_hash",
        "compliance_auditcheckpoint": "signature",
    }[table]
