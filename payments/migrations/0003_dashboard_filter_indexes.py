"""Indexes for the dashboard's last-4 and amount filters.

On PostgreSQL they are built CONCURRENTLY: the payments table is large and must keep taking
writes while the index builds. Other databases build them normally.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("payments", "0002_inbound_events"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="payment",
            index=models.Index(
                fields=["merchant", "card_last4", "-created_at", "-id"],
                name="payment_last4_keyset",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="payment",
            index=models.Index(fields=["merchant", "currency", "amount"], name="payment_amount"),
        ),
    ]
