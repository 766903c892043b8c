"""Joins the two moves out of payments: idempotency records to `api`, inbound events to `inbound`."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0005_idempotencyrecord_moved_to_api"),
        ("payments", "0005_inbound_events_moved"),
    ]

    operations: list[migrations.operations.base.Operation] = []
