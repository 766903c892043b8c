"""Rename `payments_idempotencyrecord` to this app's table, once payments let go of the model."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("payments", "0005_idempotencyrecord_moved_to_api"),
    ]

    operations = [
        migrations.AlterModelTable(name="idempotencyrecord", table=None),
    ]
