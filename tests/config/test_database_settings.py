"""The database connection: the same in every environment, prepared statements on PostgreSQL.

Given a PostgreSQL URL, parameters are bound by the server and repeated statements prepared
(after 5 runs on a connection, or as DATABASE_PREPARE_THRESHOLD says; "off" for a pooler in
transaction mode); SQLite gets no such options but WAL, immediate write transactions and a
busy timeout, so concurrent writers wait their turn. Connections are kept and health-checked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

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


def test_sqlite_uses_wal_immediate_transactions_and_a_busy_timeout(tmp_path):
    config = database_config(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] >= 20
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


@pytest.fixture
def sqlite_file_alias(tmp_path, django_db_blocker) -> Iterator[str]:
    """A second database alias on a SQLite file, configured as the embedded default's."""
    alias = "sqlite_concurrency"
    configured = connections.configure_settings(
        {DEFAULT_DB_ALIAS: database_config(f"sqlite:///{tmp_path / 'db.sqlite3'}")}
    )
    connections.settings[alias] = configured[DEFAULT_DB_ALIAS]
    with django_db_blocker.unblock():
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
            cursor.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
        connections[alias].close()
        try:
            yield alias
        finally:
            del connections.settings[alias]


def test_two_sqlite_transactions_that_read_then_write_both_commit(sqlite_file_alias):
    """Given two requests that each read and then write in one transaction at the same time,
    when both write, then both commit, one after the other: the second waits for the lock at
    BEGIN instead of failing with "database is locked" (a deferred transaction that read
    cannot wait for the writer: SQLite refuses its upgrade at once)."""
    both_read = threading.Barrier(2, timeout=1)
    errors: list[BaseException] = []

    def read_then_write() -> None:
        try:
            with (
                transaction.atomic(using=sqlite_file_alias),
                connections[sqlite_file_alias].cursor() as cursor,
            ):
                cursor.execute("SELECT value FROM counter WHERE id = 1")
                (value,) = cursor.fetchone()
                # With IMMEDIATE the other is still waiting at BEGIN: the barrier breaks.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait()
                cursor.execute("UPDATE counter SET value = %s WHERE id = 1", [value + 1])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections[sqlite_file_alias].close()

    threads = [threading.Thread(target=read_then_write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with connections[sqlite_file_alias].cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE id = 1")
        assert cursor.fetchone() == (2,)
    connections[sqlite_file_alias].close()
