"""SQL of the database triggers that keep `PaymentDayTotal` exact, per vendor.

Why triggers rather than Python: a row of totals must change with every write that changes
what a payment contributes (its merchant, currency, UTC day of `created_at`, status,
`amount_captured` or `net`), and payments are written by `save()`, queryset `update()` (the
money-out mirror sets `fee` and `net` that way), `bulk_create`, `delete()`, cascades, and
`seed_bulk`'s COPY. A trigger sees all of them, in the writing statement's own transaction,
with the row's true old and new values; no code path can forget it.

Each write adds its change (new contribution minus old) to the totals row of its merchant,
day and currency with `INSERT ... ON CONFLICT DO UPDATE SET x = x + change`. Concurrent
writers of one merchant-day serialize on that row's lock until they commit, and each adds to
the latest committed value, so nothing is lost under READ COMMITTED; writes that change no
contribution (a description, a declined payment) touch no totals row at all. A delete only
subtracts from an existing row: a merchant's deletion removes its totals too, in whichever
order, and must not bring them back.

PostgreSQL: statement-level triggers over the statement's transition tables (one aggregate
per statement, so a 20,000-row COPY batch is one upsert per day), plus TRUNCATE. SQLite: row
triggers. Both in the default enable mode: a logical-replication subscriber receives the
totals with the payments and must not count them twice.

Imported by the migration that installs them, so it imports no models.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper

from config.db_triggers import installed_trigger_names as _installed_on
from config.db_triggers import statements_execute

PAYMENTS_TABLE = "payments_payment"
TOTALS_TABLE = "payments_paymentdaytotal"
# PaymentStatus.SUCCEEDED: a literal, since migrations must not depend on today's enums.
_SUCCEEDED = "succeeded"
_TRIGGERS = ("insert", "update", "delete", "truncate")

# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_changes(table: str, sign: str) -> str:
    """Each succeeded row of transition table `table` as a change of `sign` ('' or '-')."""
    return f"""
        SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date AS day, currency,
               {sign}amount_captured AS gross,
               {sign}coalesce(amount_captured - net, 0) AS kept,
               {sign}1 AS payment_count
        FROM {table} WHERE status = '{_SUCCEEDED}'"""  # noqa: S608 - constant identifiers, no input


_PG_SUMMED = """
        SELECT merchant_id, day, currency,
               sum(gross) AS gross, sum(kept) AS kept, sum(payment_count) AS payment_count
        FROM ({changes}) AS change
        GROUP BY merchant_id, day, currency"""

# Rows in key order: two statements touching the same days lock them in the same order.
_PG_ADD = f"""
        INSERT INTO {TOTALS_TABLE} AS total
            (merchant_id, day, currency, gross, kept, payment_count)
        SELECT * FROM ({{summed}}) AS summed
        WHERE gross <> 0 OR kept <> 0 OR payment_count <> 0
        ORDER BY merchant_id, day, currency
        ON CONFLICT (merchant_id, day, currency) DO UPDATE SET
            gross = total.gross + excluded.gross,
            kept = total.kept + excluded.kept,
            payment_count = total.payment_count + excluded.payment_count;"""  # noqa: S608 - constant identifiers, no input

_PG_SUBTRACT = f"""
        UPDATE {TOTALS_TABLE} AS total SET
            gross = total.gross - summed.gross,
            kept = total.kept - summed.kept,
            payment_count = total.payment_count - summed.payment_count
        FROM ({{summed}}) AS summed
        WHERE total.merchant_id = summed.merchant_id AND total.day = summed.day
            AND total.currency = summed.currency;"""  # noqa: S608 - constant identifiers, no input


def _pg_function() -> str:
    insert = _PG_ADD.format(summed=_PG_SUMMED.format(changes=_pg_changes("new_payments", "")))
    both = f"{_pg_changes('new_payments', '')} UNION ALL {_pg_changes('old_payments', '-')}"
    update = _PG_ADD.format(summed=_PG_SUMMED.format(changes=both))
    delete = _PG_SUBTRACT.format(summed=_PG_SUMMED.format(changes=_pg_changes("old_payments", "")))
    return f"""
CREATE OR REPLACE FUNCTION payments_day_totals_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {insert}
    ELSIF TG_OP = 'UPDATE' THEN {update}
    ELSIF TG_OP = 'DELETE' THEN {delete}
    ELSE
        DELETE FROM {TOTALS_TABLE};
    END IF;
    RETURN NULL;
END
$$;
"""  # noqa: S608 - constant identifiers, no input


def _pg_statements() -> list[str]:
    run = "FOR EACH STATEMENT EXECUTE FUNCTION payments_day_totals_apply()"
    return [
        _pg_function(),
        f"""CREATE TRIGGER payments_day_totals_insert AFTER INSERT ON {PAYMENTS_TABLE}
            REFERENCING NEW TABLE AS new_payments {run}""",
        f"""CREATE TRIGGER payments_day_totals_update AFTER UPDATE ON {PAYMENTS_TABLE}
            REFERENCING OLD TABLE AS old_payments NEW TABLE AS new_payments {run}""",
        f"""CREATE TRIGGER payments_day_totals_delete AFTER DELETE ON {PAYMENTS_TABLE}
            REFERENCING OLD TABLE AS old_payments {run}""",
        f"CREATE TRIGGER payments_day_totals_truncate AFTER TRUNCATE ON {PAYMENTS_TABLE} {run}",
    ]


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_key(row: str) -> str:
    return f"{row}.merchant_id, date({row}.created_at), {row}.currency"


_SQLITE_ADD = f"""
    INSERT INTO {TOTALS_TABLE} (merchant_id, day, currency, gross, kept, payment_count)
    SELECT {_sqlite_key("NEW")}, NEW.amount_captured,
        coalesce(NEW.amount_captured - NEW.net, 0), 1
    WHERE NEW.status = '{_SUCCEEDED}'
    ON CONFLICT (merchant_id, day, currency) DO UPDATE SET
        gross = gross + excluded.gross,
        kept = kept + excluded.kept,
        payment_count = payment_count + excluded.payment_count;"""

_SQLITE_SUBTRACT = f"""
    UPDATE {TOTALS_TABLE} SET
        gross = gross - OLD.amount_captured,
        kept = kept - coalesce(OLD.amount_captured - OLD.net, 0),
        payment_count = payment_count - 1
    WHERE OLD.status = '{_SUCCEEDED}' AND merchant_id = OLD.merchant_id
        AND day = date(OLD.created_at) AND currency = OLD.currency;"""  # noqa: S608 - constant identifiers, no input


def _sqlite_statements() -> list[str]:
    counted = "merchant_id, created_at, currency, status, amount_captured, net"
    return [
        f"""CREATE TRIGGER payments_day_totals_insert AFTER INSERT ON {PAYMENTS_TABLE}
            WHEN NEW.status = '{_SUCCEEDED}' BEGIN {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER payments_day_totals_update
            AFTER UPDATE OF {counted} ON {PAYMENTS_TABLE}
            WHEN OLD.status = '{_SUCCEEDED}' OR NEW.status = '{_SUCCEEDED}'
            BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER payments_day_totals_delete AFTER DELETE ON {PAYMENTS_TABLE}
            WHEN OLD.status = '{_SUCCEEDED}' BEGIN {_SQLITE_SUBTRACT} END""",
    ]


# --- installing -----------------------------------------------------------------------------


def install_statements(vendor: str) -> list[str]:
    """The statements that create the triggers on `vendor` ('postgresql' or 'sqlite')."""
    if vendor == "postgresql":
        return _pg_statements()
    if vendor == "sqlite":
        return _sqlite_statements()
    raise ImproperlyConfigured(f"no payment day-total triggers for database vendor {vendor!r}")


def remove_statements(vendor: str) -> list[str]:
    """The statements that drop the triggers again (migration reversal)."""
    if vendor == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS payments_day_totals_{op} ON {PAYMENTS_TABLE}"
            for op in _TRIGGERS
        ]
        return [*drops, "DROP FUNCTION IF EXISTS payments_day_totals_apply()"]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS payments_day_totals_{op}" for op in _TRIGGERS[:3]]
    raise ImproperlyConfigured(f"no payment day-total triggers for database vendor {vendor!r}")


def backfill_statement(vendor: str) -> str:
    """Fills an empty totals table from the payments (the migration that adds the triggers)."""
    day = "(created_at AT TIME ZONE 'UTC')::date" if vendor == "postgresql" else "date(created_at)"
    return f"""
        INSERT INTO {TOTALS_TABLE} (merchant_id, day, currency, gross, kept, payment_count)
        SELECT merchant_id, {day}, currency, sum(amount_captured),
            coalesce(sum(amount_captured - net), 0), count(*)
        FROM {PAYMENTS_TABLE} WHERE status = '{_SUCCEEDED}'
        GROUP BY merchant_id, {day}, currency"""  # noqa: S608 - constant identifiers, no input


def install(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, install_statements(connection.vendor))


def remove(connection: BaseDatabaseWrapper) -> None:
    statements_execute(connection, remove_statements(connection.vendor))


# --- new customers per day ------------------------------------------------------------------
# The same scheme for `CustomerDayCount`: every customer counts on the UTC day it was created.

CUSTOMERS_TABLE = "payments_customer"
CUSTOMER_COUNTS_TABLE = "payments_customerdaycount"


def _pg_customer_changes(table: str, sign: str) -> str:
    return f"""
        SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date AS day, {sign}1 AS n
        FROM {table}"""  # noqa: S608 - constant identifiers, no input


_PG_CUSTOMERS_SUMMED = """
        SELECT merchant_id, day, sum(n) AS n FROM ({changes}) AS change
        GROUP BY merchant_id, day"""

_PG_CUSTOMERS_ADD = f"""
        INSERT INTO {CUSTOMER_COUNTS_TABLE} AS total (merchant_id, day, customer_count)
        SELECT * FROM ({{summed}}) AS summed WHERE n <> 0
        ORDER BY merchant_id, day
        ON CONFLICT (merchant_id, day) DO UPDATE SET
            customer_count = total.customer_count + excluded.customer_count;"""  # noqa: S608 - constant identifiers, no input

_PG_CUSTOMERS_SUBTRACT = f"""
        UPDATE {CUSTOMER_COUNTS_TABLE} AS total SET customer_count = total.customer_count - summed.n
        FROM ({{summed}}) AS summed
        WHERE total.merchant_id = summed.merchant_id AND total.day = summed.day;"""  # noqa: S608 - constant identifiers, no input


def _pg_customer_function() -> str:
    new = _pg_customer_changes("new_customers", "")
    insert = _PG_CUSTOMERS_ADD.format(summed=_PG_CUSTOMERS_SUMMED.format(changes=new))
    both = f"{new} UNION ALL {_pg_customer_changes('old_customers', '-')}"
    update = _PG_CUSTOMERS_ADD.format(summed=_PG_CUSTOMERS_SUMMED.format(changes=both))
    old = _pg_customer_changes("old_customers", "")
    delete = _PG_CUSTOMERS_SUBTRACT.format(summed=_PG_CUSTOMERS_SUMMED.format(changes=old))
    return f"""
CREATE OR REPLACE FUNCTION payments_customer_day_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {insert}
    ELSIF TG_OP = 'UPDATE' THEN {update}
    ELSIF TG_OP = 'DELETE' THEN {delete}
    ELSE
        DELETE FROM {CUSTOMER_COUNTS_TABLE};
    END IF;
    RETURN NULL;
END
$$;
"""  # noqa: S608 - constant identifiers, no input


def _pg_customer_statements() -> list[str]:
    run = "FOR EACH STATEMENT EXECUTE FUNCTION payments_customer_day_counts_apply()"
    table = CUSTOMERS_TABLE
    return [
        _pg_customer_function(),
        f"""CREATE TRIGGER payments_customer_day_counts_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS new_customers {run}""",
        f"""CREATE TRIGGER payments_customer_day_counts_update AFTER UPDATE ON {table}
            REFERENCING OLD TABLE AS old_customers NEW TABLE AS new_customers {run}""",
        f"""CREATE TRIGGER payments_customer_day_counts_delete AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS old_customers {run}""",
        f"CREATE TRIGGER payments_customer_day_counts_truncate AFTER TRUNCATE ON {table} {run}",
    ]


_SQLITE_CUSTOMER_ADD = f"""
    INSERT INTO {CUSTOMER_COUNTS_TABLE} (merchant_id, day, customer_count)
    VALUES (NEW.merchant_id, date(NEW.created_at), 1)
    ON CONFLICT (merchant_id, day) DO UPDATE SET customer_count = customer_count + 1;"""  # noqa: S608 - constant identifiers, no input

_SQLITE_CUSTOMER_SUBTRACT = f"""
    UPDATE {CUSTOMER_COUNTS_TABLE} SET customer_count = customer_count - 1
    WHERE merchant_id = OLD.merchant_id AND day = date(OLD.created_at);"""  # noqa: S608 - constant identifiers, no input


def _sqlite_customer_statements() -> list[str]:
    table = CUSTOMERS_TABLE
    return [
        f"""CREATE TRIGGER payments_customer_day_counts_insert AFTER INSERT ON {table}
            BEGIN {_SQLITE_CUSTOMER_ADD} END""",
        f"""CREATE TRIGGER payments_customer_day_counts_update
            AFTER UPDATE OF merchant_id, created_at ON {table}
            BEGIN {_SQLITE_CUSTOMER_SUBTRACT} {_SQLITE_CUSTOMER_ADD} END""",
        f"""CREATE TRIGGER payments_customer_day_counts_delete AFTER DELETE ON {table}
            BEGIN {_SQLITE_CUSTOMER_SUBTRACT} END""",
    ]


def customer_install_statements(vendor: str) -> list[str]:
    """The statements that create the new-customer triggers on `vendor`."""
    if vendor == "postgresql":
        return _pg_customer_statements()
    if vendor == "sqlite":
        return _sqlite_customer_statements()
    raise ImproperlyConfigured(f"no customer day-count triggers for database vendor {vendor!r}")


def customer_remove_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS payments_customer_day_counts_{op} ON {CUSTOMERS_TABLE}"
            for op in _TRIGGERS
        ]
        return [*drops, "DROP FUNCTION IF EXISTS payments_customer_day_counts_apply()"]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS payments_customer_day_counts_{op}" for op in _TRIGGERS[:3]]
    raise ImproperlyConfigured(f"no customer day-count triggers for database vendor {vendor!r}")


def customer_backfill_statement(vendor: str) -> str:
    """Fills an empty counts table from the customers (the migration that adds the triggers)."""
    day = "(created_at AT TIME ZONE 'UTC')::date" if vendor == "postgresql" else "date(created_at)"
    return f"""
        INSERT INTO {CUSTOMER_COUNTS_TABLE} (merchant_id, day, customer_count)
        SELECT merchant_id, {day}, count(*) FROM {CUSTOMERS_TABLE}
        GROUP BY merchant_id, {day}"""  # noqa: S608 - constant identifiers, no input


# --- checking ---------------------------------------------------------------------------------


def expected_trigger_names(vendor: str) -> set[str]:
    """Every trigger this module installs on `vendor`."""
    operations = _TRIGGERS if vendor == "postgresql" else _TRIGGERS[:3]
    return {
        f"payments_{family}_{op}"
        for family in ("day_totals", "customer_day_counts")
        for op in operations
    }


def installed_trigger_names(connection: BaseDatabaseWrapper) -> set[str]:
    """The triggers of this module that the database holds now."""
    found = _installed_on(connection, [PAYMENTS_TABLE, CUSTOMERS_TABLE])
    return found & expected_trigger_names(connection.vendor)
