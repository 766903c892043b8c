"""Database routing: every write and migration on `default`; reports may read a replica.

Reports (payments/reports.py) read explicitly through `settings.REPORTS_DB_ALIAS`: `reports`, a
read replica, when `REPORTS_DATABASE_URL` is set, else `default` itself. Without a replica the
reports share default's connection instead of opening a second one to the same database: a
second connection sees neither the request's uncommitted writes nor a test's transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, models

REPORTS_ALIAS = "reports"


class PrimaryReplicaRouter:
    """Writes and migrations go to `default`, whatever alias an object was read from.

    Without this, Django saves an object to the database it was read from: a payment read for a
    report on the replica would be written back to the (read-only) replica.
    """

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return None  # default, or the alias of the object a relation is followed from

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        # Both aliases hold the same rows: a customer read on the replica may be linked to a
        # payment written on default.
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPORTS_ALIAS}

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # The replica follows default's schema through replication, never its own migrations.
        return db == DEFAULT_DB_ALIAS
