"""Database triggers the project installs itself (the audit log's append-only guards, the
payments' running totals): running their SQL and seeing which are in place.

Django has no notion of triggers, and no maintained library covers both PostgreSQL and SQLite,
so each owner module writes its own SQL and shares these few helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def statements_execute(connection: BaseDatabaseWrapper, statements: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def installed_trigger_names(connection: BaseDatabaseWrapper, tables: Iterable[str]) -> set[str]:
    """The names of the user-defined triggers the database holds on `tables` now."""
    tables = list(tables)
    marks = ", ".join(["%s"] * len(tables))
    # Only placeholders are formatted in; the table names are bound parameters.
    if connection.vendor == "postgresql":
        regclasses = ", ".join(["%s::regclass"] * len(tables))
        where = f"NOT tgisinternal AND tgrelid IN ({regclasses})"
        query = f"SELECT tgname FROM pg_trigger WHERE {where}"  # noqa: S608
    else:
        where = f"type = 'trigger' AND tbl_name IN ({marks})"
        query = f"SELECT name FROM sqlite_master WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, tables)
        return {row[0] for row in cursor.fetchall()}


def triggers_restore(
    using: str,
    *,
    tables: Iterable[str],
    expected: Callable[[str], set[str]],
    installed: Callable[[BaseDatabaseWrapper], set[str]],
    reinstall: Callable[[str], list[str]],
    recount: Callable[[], object],
) -> bool:
    """Put back triggers a migration dropped, then `recount` what they keep; True when it had
    to. SQLite alters a table by copying it into a new one, without the old one's triggers.

    `tables` must all exist (before they do, there is nothing to guard); `expected(vendor)` and
    `installed(connection)` name the owner's triggers, `reinstall(vendor)` gives the SQL that
    drops what is left of them and creates them again.
    """
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    if not set(tables) <= set(connection.introspection.table_names()):
        return False  # migrated back before the guarded tables existed
    if installed(connection) == expected(connection.vendor):
        return False
    with transaction.atomic(using=using):
        statements_execute(connection, reinstall(connection.vendor))
        recount()
    return True
