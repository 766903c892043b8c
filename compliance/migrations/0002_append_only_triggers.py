"""Append-only guards on the audit tables (PostgreSQL triggers, SQLite equivalents).

The SQL is frozen here as it first shipped; 0003 replaces the PostgreSQL insert stamp.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import migrations

APPEND_ONLY_TABLES = ("compliance_auditentry", "compliance_auditseal", "compliance_auditcheckpoint")
# Session setting that `flush` turns on around its TRUNCATE on PostgreSQL.
FLUSH_SETTING = "ledgerline.audit_flush"

_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION compliance_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('{FLUSH_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION compliance_audit_stamp_txid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.txid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;
"""


def _pg_table_sql(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_audit_refuse_change();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only;
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate;
"""


def _sqlite_table_sql(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {op} refused'); END"""
        for op in ("UPDATE", "DELETE")
    ]


def _install_statements(vendor: str) -> list[str]:
    """The statements that create the guards on `vendor` ('postgresql' or 'sqlite')."""
    if vendor == "postgresql":
        stamp = """
CREATE TRIGGER compliance_auditentry_txid BEFORE INSERT ON compliance_auditentry
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_stamp_txid();
ALTER TABLE compliance_auditentry ENABLE ALWAYS TRIGGER compliance_auditentry_txid;
"""
        return [_PG_FUNCTIONS, stamp, *(_pg_table_sql(table) for table in APPEND_ONLY_TABLES)]
    if vendor == "sqlite":
        return [sql for table in APPEND_ONLY_TABLES for sql in _sqlite_table_sql(table)]
    # Only databases that can enforce append-only in the engine are supported.
    raise ImproperlyConfigured(f"no append-only guards for database vendor {vendor!r}")


def _remove_statements(vendor: str) -> list[str]:
    """The statements that drop the guards again (migration reversal, SQLite flush)."""
    if vendor == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in APPEND_ONLY_TABLES
            for suffix in ("append_only", "no_truncate")
        ]
        return [
            *drops,
            "DROP TRIGGER IF EXISTS compliance_auditentry_txid ON compliance_auditentry",
            "DROP FUNCTION IF EXISTS compliance_audit_refuse_change()",
            "DROP FUNCTION IF EXISTS compliance_audit_stamp_txid()",
        ]
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{op}"
            for table in APPEND_ONLY_TABLES
            for op in ("update", "delete")
        ]
    # Only databases that can enforce append-only in the engine are supported.
    raise ImproperlyConfigured(f"no append-only guards for database vendor {vendor!r}")


def install(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in _install_statements(schema_editor.connection.vendor):
            cursor.execute(statement)


def remove(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in _remove_statements(schema_editor.connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
