"""A connection to the server's `postgres` database, for benchmarks that create their own."""

from __future__ import annotations

from typing import Any

import psycopg


def admin_connection(settings_dict: dict[str, Any]) -> psycopg.Connection[Any]:
    """Autocommit connection with Django's credentials (CREATE/DROP DATABASE need it)."""
    return psycopg.connect(
        dbname="postgres",
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        autocommit=True,
    )
