"""Django's `flush`, allowed to empty the append-only audit tables too.

`flush` removes all data on purpose (and is how Django resets databases between transactional
tests), so it is the one operation the audit guards let through: on PostgreSQL it sets the
session flag the TRUNCATE trigger honours; on SQLite it drops the row triggers for the
duration and restores them in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from compliance import db_guards


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', false)", [db_guards.FLUSH_SETTING])
            try:
                super().handle(**options)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config(%s, '', false)", [db_guards.FLUSH_SETTING])
            return
        if connection.vendor == "sqlite":
            with transaction.atomic(using=connection.alias):
                db_guards.remove(connection)
                try:
                    super().handle(**options)
                finally:
                    db_guards.install(connection)
            return
        super().handle(**options)
