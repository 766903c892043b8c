"""`IdempotencyRecord` now belongs to the `api` app: drop it from payments' state only.

The table and its rows stay; `api` 0001 took the model over the same table before this runs,
and `api` 0002 renames the table afterwards.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("payments", "0004_payment_method_type"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotencyRecord")],
            database_operations=[],
        ),
    ]
