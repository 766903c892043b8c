"""SQL of the database triggers that keep `BalanceTotal` exact, per vendor: the scheme of
`payments.day_total_triggers` (read its docstring for why triggers, and how concurrent writers
stay exact), applied to the balance transactions table.

Each write adds its change (new `net` and count minus old) to the totals row of its merchant,
processor and currency. A write that changes none of those four columns (the money-out mirror
attaching rows to their payout) touches no totals row, so it neither waits for nor holds up
the merchant's other writers. A delete only subtracts from an existing row: a merchant's
deletion removes its totals too, in whichever order, and must not bring them back.

Imported by the migration that installs them, so it imports no models.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper

from config.db_triggers import installed_trigger_names as _installed_on
from config.db_triggers import statements_execute

BALANCE_TRANSACTIONS_TABLE = "payments_balancetransaction"
BALANCE_TOTALS_TABLE = "payments_balancetotal"
_TRIGGERS = ("insert", "update", "delete", "truncate")
_PREFIX = "payments_balance_totals"

# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_changes(table: str, sign: str) -> str:
    """Each row of transition table `table` as a change of `sign` ('' or '-')."""
    return f"""
        SELECT merchant_id, processor, currency, {sign}net AS net, {sign}1 AS transaction_count
        FROM {table}"""  # noqa: S608 - constant identifiers, no input


_PG_SUMMED = """
        SELECT merchant_id, processor, currency,
               sum(net) AS net, sum(transaction_count) AS transaction_count
        FROM ({changes}) AS change
        GROUP BY merchant_id, processor, currency"""

# Rows in key order: two statements touching the same totals lock them in the same order.
_PG_ADD = f"""
        INSERT INTO {BALANCE_TOTALS_TABLE} AS total
            (merchant_id, processor, currency, net, transaction_count)
        SELECT * FROM ({{summed}}) AS summed
        WHERE net <> 0 OR transaction_count <> 0
        ORDER BY merchant_id, processor, currency
        ON CONFLICT (merchant_id, processor, currency) DO UPDATE SET
            net = total.net + excluded.net,
            transaction_count = total.transaction_count + excluded.transaction_count;"""  # noqa: S608 - constant identifiers, no input

_PG_SUBTRACT = f"""
        UPDATE {BALANCE_TOTALS_TABLE} AS total SET
            net = total.net - summed.net,
            transaction_count = total.transaction_count - summed.transaction_count
        FROM ({{summed}}) AS summed
        WHERE total.merchant_id = summed.merchant_id AND total.processor = summed.processor
            AND total.currency = summed.currency;"""  # noqa: S608 - constant identifiers, no input


def _pg_function() -> str:
    insert = _PG_ADD.format(summed=_PG_SUMMED.format(changes=_pg_changes("new_rows", "")))
    both = f"{_pg_changes('new_rows', '')} UNION ALL {_pg_changes('old_rows', '-')}"
    update = _PG_ADD.format(summed=_PG_SUMMED.format(changes=both))
    delete = _PG_SUBTRACT.format(summed=_PG_SUMMED.format(changes=_pg_changes("old_rows", "")))
    return f"""
CREATE OR REPLACE FUNCTION {_PREFIX}_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {insert}
    ELSIF TG_OP = 'UPDATE' THEN {update}
    ELSIF TG_OP = 'DELETE' THEN {delete}
    ELSE
        DELETE FROM {BALANCE_TOTALS_TABLE};
    END IF;
    RETURN NULL;
END
$$;
"""  # noqa: S608 - constant identifiers, no input


def _pg_statements() -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION {_PREFIX}_apply()"
    table = BALANCE_TRANSACTIONS_TABLE
    return [
        _pg_function(),
        f"""CREATE TRIGGER {_PREFIX}_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS new_rows {run}""",
        f"""CREATE TRIGGER {_PREFIX}_update AFTER UPDATE ON {table}
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {run}""",
        f"""CREATE TRIGGER {_PREFIX}_delete AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS old_rows {run}""",
        f"CREATE TRIGGER {_PREFIX}_truncate AFTER TRUNCATE ON {table} {run}",
    ]


# --- SQLite ---------------------------------------------------------------------------------

_SQLITE_ADD = f"""
    INSERT INTO {BALANCE_TOTALS_TABLE}
        (merchant_id, processor, currency, net, transaction_count)
    VALUES (NEW.merchant_id, NEW.processor, NEW.currency, NEW.net, 1)
    ON CONFLICT (merchant_id, processor, currency) DO UPDATE SET
        net = net + excluded.net,
        transaction_count = transaction_count + excluded.transaction_count;"""  # noqa: S608 - constant identifiers, no input

_SQLITE_SUBTRACT = f"""
    UPDATE {BALANCE_TOTALS_TABLE} SET
        net = net - OLD.net,
        transaction_count = transaction_count - 1
    WHERE merchant_id = OLD.merchant_id AND processor = OLD.processor
        AND currency = OLD.currency;"""  # noqa: S608 - constant identifiers, no input


def _sqlite_statements() -> list[str]:
    table = BALANCE_TRANSACTIONS_TABLE
    return [
        f"""CREATE TRIGGER {_PREFIX}_insert AFTER INSERT ON {table}
            BEGIN {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER {_PREFIX}_update
            AFTER UPDATE OF merchant_id, processor, currency, net ON {table}
            BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER {_PREFIX}_delete AFTER DELETE ON {table}
            BEGIN {_SQLITE_SUBTRACT} END""",
    ]


# --- installing -----------------------------------------------------------------------------


def install_statements(vendor: str) -> list[str]:
    """The statements that create the triggers on `vendor` ('postgresql' or 'sqlite')."""
    if vendor == "postgresql":
        return _pg_statements()
    if vendor == "sqlite":
        return _sqlite_statements()
    raise ImproperlyConfigured(f"no balance-total triggers for database vendor {vendor!r}")


def remove_statements(vendor: str) -> list[str]:
    """The statements that drop the triggers again (migration reversal)."""
    table = BALANCE_TRANSACTIONS_TABLE
    if vendor == "postgresql":
        drops = [f"DROP TRIGGER IF EXISTS {_PREFIX}_{op} ON {table}" for op in _TRIGGERS]
        return [*drops, f"DROP FUNCTION IF EXISTS {_PREFIX}_apply()"]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {_PREFIX}_{op}" for op in _TRIGGERS[:3]]
    raise ImproperlyConfigured(f"no balance-total triggers for database vendor {vendor!r}")


def backfill_statement() -> str:
    """Fills an empty totals table from the balance transactions (the migration that adds the
    triggers); the same SQL on both vendors."""
    return f"""
        INSERT INTO {BALANCE_TOTALS_TABLE}
            (merchant_id, processor, currency, net, transaction_count)
        SELECT merchant_id, processor, currency, sum(net), count(*)
        FROM {BALANCE_TRANSACTIONS_TABLE}
        GROUP BY merchant_id, processor, currency"""  # noqa: S608 - constant identifiers, no input


def install(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, install_statements(connection.vendor))


def remove(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, remove_statements(connection.vendor))


# --- checking ---------------------------------------------------------------------------------


def expected_trigger_names(vendor: str) -> set[str]:
    """Every trigger this module installs on `vendor`."""
    operations = _TRIGGERS if vendor == "postgresql" else _TRIGGERS[:3]
    return {f"{_PREFIX}_{op}" for op in operations}


def installed_trigger_names(connection: BaseDatabaseWrapper) -> set[str]:
    """The triggers of this module that the database holds now."""
    found = _installed_on(connection, [BALANCE_TRANSACTIONS_TABLE])
    return found & expected_trigger_names(connection.vendor)
