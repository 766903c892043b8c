"""`IdempotencyRecord` moved from payments to api: on a populated database every row, field,
constraint and index survives, and the way back restores the old table (SQLite and PostgreSQL:
the suite runs on whichever `DATABASE_URL` names)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps

from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("payments", "0004_payment_method_type"), ("api", None)]
# What the state of BEFORE is read from: the payments model and the content types.
BEFORE_STATE = [
    ("payments", "0004_payment_method_type"),
    ("contenttypes", "0002_remove_content_type_name"),
]
OLD_TABLE = "payments_idempotencyrecord"
NEW_TABLE = "api_idempotencyrecord"
CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str | None]]) -> StateApps:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    nodes = BEFORE_STATE if targets == BEFORE else targets
    return executor.loader.project_state(nodes).apps


def _latest() -> list[tuple[str, str | None]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before() -> Iterator[StateApps]:
    """The schema as it was before the move; the latest schema again afterwards."""
    apps = _migrate(BEFORE)
    yield apps
    _migrate(_latest())


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _constraint_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


def test_records_keep_every_row_and_field_when_they_move_to_the_api_app(before):
    """Given records of two merchants stored by the payments model, when the migrations run,
    then the api model reads the same rows with the same values from the renamed table, the
    hand-named constraint and index are still there and the unique key still holds."""
    first, second = MerchantFactory(), MerchantFactory()
    old = before.get_model("payments", "IdempotencyRecord")
    assert old._meta.db_table == OLD_TABLE
    finished = old.objects.create(
        merchant_id=first.pk,
        key="key-finished",
        request_method="POST",
        request_path="/api/v1/payments",
        request_fingerprint="a" * 64,
        recovery_point="finished",
        target_type="payment",
        target_public_id="pay_123",
        response_status=201,
        response_body={"id": "pay_123", "amount": 2000, "metadata": {"order": "7"}},
        created_at=CREATED,
    )
    held = old.objects.create(
        merchant_id=second.pk,
        key="form_abc",
        request_method="POST",
        request_path="form:payment.refund:pay_9",
        request_fingerprint="b" * 64,
        recovery_point="object_created",
        locked_at=CREATED,
        created_at=CREATED,
    )
    # The content type of the old model, as a database in service has it.
    content_types = before.get_model("contenttypes", "ContentType")
    content_types.objects.filter(app_label="api", model="idempotencyrecord").delete()
    old_type, _ = content_types.objects.get_or_create(
        app_label="payments", model="idempotencyrecord"
    )

    after = _migrate(_latest())

    assert OLD_TABLE not in _tables()
    assert NEW_TABLE in _tables()
    assert {"idempotency_merchant_key", "idempotency_created"} <= _constraint_names(NEW_TABLE)
    new = after.get_model("api", "IdempotencyRecord")
    assert new._meta.db_table == NEW_TABLE
    rows = {row.key: row for row in new.objects.all()}
    assert set(rows) == {"key-finished", "form_abc"}
    moved = rows["key-finished"]
    assert moved.pk == finished.pk
    assert moved.merchant_id == first.pk
    assert (moved.request_method, moved.request_path) == ("POST", "/api/v1/payments")
    assert moved.request_fingerprint == "a" * 64
    assert (moved.recovery_point, moved.target_type, moved.target_public_id) == (
        "finished",
        "payment",
        "pay_123",
    )
    assert moved.response_status == 201
    assert moved.response_body == {"id": "pay_123", "amount": 2000, "metadata": {"order": "7"}}
    assert moved.created_at == CREATED
    assert moved.locked_at is None
    kept = rows["form_abc"]
    assert (kept.pk, kept.merchant_id, kept.locked_at) == (held.pk, second.pk, CREATED)
    assert kept.recovery_point == "object_created"
    assert kept.response_body is None
    moved_type = after.get_model("contenttypes", "ContentType").objects.get(pk=old_type.pk)
    assert (moved_type.app_label, moved_type.model) == ("api", "idempotencyrecord")
    # New rows get fresh ids after the moved ones, and (merchant, key) stays unique.
    fresh = new.objects.create(
        merchant_id=first.pk,
        key="key-new",
        request_method="POST",
        request_path="/api/v1/customers",
        request_fingerprint="c" * 64,
        created_at=CREATED,
    )
    assert fresh.pk > max(finished.pk, held.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        new.objects.create(
            merchant_id=first.pk,
            key="key-finished",
            request_method="POST",
            request_path="/api/v1/payments",
            request_fingerprint="d" * 64,
            created_at=CREATED,
        )


def test_the_way_back_restores_the_payments_table_with_its_rows(before):
    """Given the move applied to a populated table, when it is unapplied, then payments' model
    reads the rows again from its old table."""
    merchant = MerchantFactory()
    after = _migrate(_latest())
    after.get_model("api", "IdempotencyRecord").objects.create(
        merchant_id=merchant.pk,
        key="key-back",
        request_method="POST",
        request_path="/api/v1/payments",
        request_fingerprint="e" * 64,
        response_status=402,
        response_body={"error": {"code": "card_declined"}},
        created_at=CREATED,
    )

    back = _migrate(BEFORE)

    assert NEW_TABLE not in _tables()
    assert {"idempotency_merchant_key", "idempotency_created"} <= _constraint_names(OLD_TABLE)
    row = back.get_model("payments", "IdempotencyRecord").objects.get(key="key-back")
    assert (row.merchant_id, row.response_status) == (merchant.pk, 402)
    assert row.response_body == {"error": {"code": "card_declined"}}
