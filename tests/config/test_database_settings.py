"""The database connection: the same in every environment, prepared statements on PostgreSQL.

Given a PostgreSQL URL, parameters are bound by the server and repeated statements prepared
(after 5 runs on a connection, or as DATABASE_PREPARE_THRESHOLD says; "off" for a pooler in
transaction mode); SQLite gets no such options. Connections are kept and health-checked.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.base import database_config


def test_postgresql_binds_on_the_server_and_prepares_repeated_statements():
    config = database_config("postgres://postgres@127.0.0.1:5432/ledgerline")
    assert config["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["ATOMIC_REQUESTS"] is False


@pytest.mark.parametrize(("value", "threshold"), [("0", 0), ("20", 20), ("off", None)])
def test_the_prepare_threshold_comes_from_the_environment(monkeypatch, value, threshold):
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", value)
    config = database_config("postgres://postgres@127.0.0.1:5432/ledgerline")
    assert config["OPTIONS"]["prepare_threshold"] == threshold


def test_an_empty_url_is_refused_with_its_name():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_config("")


def test_sqlite_gets_no_postgresql_options(tmp_path):
    config = database_config(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert "server_side_binding" not in config.get("OPTIONS", {})


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_test_database_connection_prepares_statements():
    from django.db import connection

    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 5
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
