"""SQL that makes the audit tables append-only in the database itself, per vendor.

PostgreSQL: row triggers refuse UPDATE and DELETE, a statement trigger refuses TRUNCATE, all
`ENABLE ALWAYS` so they fire even under `session_replication_role = replica`; a BEFORE INSERT
trigger stamps each entry from a sequence after announcing its transaction as an audit writer
(see `compliance.sealer` for why that gives a sound sealing horizon). SQLite: BEFORE UPDATE /
DELETE triggers abort. A table owner or superuser can still disable them: they
stop honest mistakes, and the hash chain with signed checkpoints detects the rest.

The one sanctioned exception is `manage.py flush` (see compliance/management/commands/flush.py),
which empties every table on purpose, test databases included.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper

from config.db_triggers import statements_execute

APPEND_ONLY_TABLES = ("compliance_auditentry", "compliance_auditseal", "compliance_auditcheckpoint")
# Session setting that `flush` turns on around its TRUNCATE on PostgreSQL.
FLUSH_SETTING = "ledgerline.audit_flush"
# Transaction-local flag: this transaction already announced itself as an audit writer.
WRITER_SETTING = "ledgerline.audit_writer"
STAMP_SEQUENCE = "compliance_audit_stamp_seq"
# Advisory lock namespace (the high 32 bits of the lock key) of in-flight audit writers; the
# low 32 bits carry the stamp sequence's value when the writer announced itself.
WRITER_LOCK_CLASS = 0x4C4C41

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
"""

_PG_STAMP = f"""
CREATE SEQUENCE IF NOT EXISTS {STAMP_SEQUENCE} AS bigint;

CREATE OR REPLACE FUNCTION compliance_audit_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    reserved bigint;
BEGIN
    IF coalesce(current_setting('{WRITER_SETTING}', true), '') = '' THEN
        -- Announce first, stamp after: every stamp this transaction takes is above `reserved`,
        -- and a sealer that misses the announcement reads a sequence value below our stamps.
        SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO reserved
            FROM {STAMP_SEQUENCE};
        PERFORM pg_advisory_xact_lock_shared(
            ({WRITER_LOCK_CLASS}::bigint << 32) | (reserved & 4294967295)
        );
        PERFORM set_config('{WRITER_SETTING}', 'on', true);
    END IF;
    NEW.stamp := nextval('{STAMP_SEQUENCE}');
    RETURN NEW;
END
$$;
"""  # noqa: S608 - constant identifiers, no input


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


def install_statements(vendor: str) -> list[str]:
    """The statements that create the guards on `vendor` ('postgresql' or 'sqlite')."""
    if vendor == "postgresql":
        tables = [_pg_table_sql(table) for table in APPEND_ONLY_TABLES]
        return [_PG_FUNCTIONS, *stamp_statements(), *tables]
    if vendor == "sqlite":
        return [sql for table in APPEND_ONLY_TABLES for sql in _sqlite_table_sql(table)]
    # Only databases that can enforce append-only in the engine are supported.
    raise ImproperlyConfigured(f"no append-only guards for database vendor {vendor!r}")


def stamp_statements() -> list[str]:
    """PostgreSQL: the insert stamp (sequence, announcing function, trigger)."""
    trigger = """
CREATE TRIGGER compliance_auditentry_stamp BEFORE INSERT ON compliance_auditentry
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_stamp();
ALTER TABLE compliance_auditentry ENABLE ALWAYS TRIGGER compliance_auditentry_stamp;
"""
    return [_PG_STAMP, trigger]


def remove_statements(vendor: str) -> list[str]:
    """The statements that drop the guards again (migration reversal, SQLite flush)."""
    if vendor == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in APPEND_ONLY_TABLES
            for suffix in ("append_only", "no_truncate")
        ]
        return [
            *drops,
            "DROP TRIGGER IF EXISTS compliance_auditentry_stamp ON compliance_auditentry",
            "DROP FUNCTION IF EXISTS compliance_audit_refuse_change()",
            "DROP FUNCTION IF EXISTS compliance_audit_stamp()",
            f"DROP SEQUENCE IF EXISTS {STAMP_SEQUENCE}",
        ]
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{op}"
            for table in APPEND_ONLY_TABLES
            for op in ("update", "delete")
        ]
    # Only databases that can enforce append-only in the engine are supported.
    raise ImproperlyConfigured(f"no append-only guards for database vendor {vendor!r}")


def install(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, install_statements(connection.vendor))


def remove(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, remove_statements(connection.vendor))
