"""Moving the inbound-event models from payments to inbound loses no row, field or permission.

Runs the real migrations on a populated database (SQLite here, PostgreSQL with DATABASE_URL):
back to the state before the move, rows written through the historical models, forward again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from inbound.models import InboundEvent, OutboxEntry
from inbound.services import inbound_event_ingest
from tests.factories import MerchantFactory, UserFactory

BEFORE = ("payments", "0004_payment_method_type")
BEFORE_MOVE = [BEFORE, ("inbound", None)]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    """Migrate to `targets`; the models as they were at payments' `BEFORE`."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    ContentType.objects.clear_cache()
    return executor.loader.project_state(BEFORE).apps


@pytest.fixture
def latest() -> Iterator[list[tuple[str, str | None]]]:
    """The leaf migrations; the database is left migrated to them whatever the test did."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield leaves
    _migrate(leaves)


def _populate(old_apps: Any, merchant_id: int) -> None:
    """Events of every status and both providers, with and without a merchant, and outbox rows."""
    event = old_apps.get_model("payments", "InboundEvent")
    outbox = old_apps.get_model("payments", "OutboxEntry")
    rows = [
        event(
            public_id="evt_moved_1",
            provider="stripe",
            event_id="evt_stripe_1",
            type="payment_intent.succeeded",
            account="acct_moved",
            merchant_id=merchant_id,
            payload={"id": "evt_stripe_1", "data": {"object": {"id": "pi_1", "amount": 1250}}},
            body_sha256="a" * 64,
            status="succeeded",
            attempts=1,
            received_at=T0,
            processed_at=T0 + timedelta(seconds=2),
            processor_created=T0 - timedelta(seconds=1),
        ),
        event(
            public_id="evt_moved_2",
            provider="stripe",
            event_id="evt_stripe_2",
            type="charge.refunded",
            account="",
            merchant_id=None,
            payload={"nested": [1, {"deep": ["x", None, True]}], "text": "caf\u00e9"},
            status="failed",
            attempts=3,
            last_error="ValueError: boom",
            received_at=T0,
            next_attempt_at=T0 + timedelta(minutes=4),
        ),
        event(
            public_id="evt_moved_3",
            provider="plaid",
            event_id="b" * 64,
            type="ITEM:ERROR",
            account="item_1",
            merchant_id=merchant_id,
            payload={"webhook_type": "ITEM", "webhook_code": "ERROR"},
            status="received",
            received_at=T0,
            next_attempt_at=T0 + timedelta(minutes=2),
        ),
        event(
            public_id="evt_moved_4",
            provider="stripe",
            event_id="evt_stripe_4",
            type="customer.created",
            payload={},
            status="dead",
            attempts=8,
            last_error="gave up",
            received_at=T0,
        ),
        event(
            public_id="evt_moved_5",
            provider="stripe",
            event_id="evt_stripe_5",
            type="customer.updated",
            payload={"id": "evt_stripe_5"},
            status="ignored",
            attempts=1,
            last_error="unhandled event type",
            received_at=T0,
        ),
    ]
    for row in rows:
        row.save()
    first, second = rows[0], rows[1]
    outbox.objects.create(event=first, created_at=T0, dispatched_at=T0 + timedelta(seconds=1))
    outbox.objects.create(event=second, created_at=T0)
    outbox.objects.create(event=second, created_at=T0 + timedelta(minutes=5))


@pytest.mark.django_db(transaction=True)
def test_every_event_outbox_row_and_replay_grant_survives_the_move(
    latest: list[tuple[str, str | None]],
) -> None:
    merchant = MerchantFactory()
    old_apps = _migrate(BEFORE_MOVE)
    _populate(old_apps, merchant.pk)
    old_event, old_entry = (
        old_apps.get_model("payments", m) for m in ("InboundEvent", "OutboxEntry")
    )
    old_events = list(old_event.objects.order_by("pk").values())
    old_outbox = list(old_entry.objects.order_by("pk").values())
    # A staff group granted the replay permission before the move keeps it after.
    replayers = Group.objects.create(name="Replayers")
    replayers.permissions.add(
        Permission.objects.get(codename="replay_inboundevent", content_type__app_label="payments")
    )
    staff = UserFactory(is_staff=True)
    staff.groups.add(replayers)

    _migrate(latest)

    assert list(InboundEvent.objects.order_by("pk").values()) == old_events
    assert list(OutboxEntry.objects.order_by("pk").values()) == old_outbox
    assert len(old_events) == 5
    assert len(old_outbox) == 3
    assert not ContentType.objects.filter(app_label="payments", model="inboundevent").exists()
    staff = type(staff).objects.get(pk=staff.pk)  # a fresh permission cache
    assert staff.has_perm("inbound.replay_inboundevent")
    assert staff.has_perm("inbound.view_inboundevent") is False


@pytest.mark.django_db(transaction=True)
def test_after_the_move_the_unique_constraint_and_the_id_sequence_still_hold(
    latest: list[tuple[str, str | None]],
) -> None:
    old_apps = _migrate(BEFORE_MOVE)
    _populate(old_apps, MerchantFactory().pk)
    highest = old_apps.get_model("payments", "InboundEvent").objects.order_by("-pk").first().pk
    _migrate(latest)

    again = inbound_event_ingest(
        provider="stripe",
        event_id="evt_stripe_1",
        event_type="payment_intent.succeeded",
        account="acct_moved",
        payload={"id": "evt_stripe_1"},
    )
    new = inbound_event_ingest(
        provider="stripe",
        event_id="evt_after_move",
        event_type="customer.created",
        account="",
        payload={"id": "evt_after_move"},
    )

    assert again.created is False
    assert new.created is True
    assert new.event_pk is not None
    assert new.event_pk > highest
    assert OutboxEntry.objects.filter(event_id=new.event_pk).count() == 1
    assert InboundEvent.objects.count() == 6
