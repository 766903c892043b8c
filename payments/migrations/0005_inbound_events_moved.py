# The inbound-event models moved to the inbound app (inbound/migrations/0001_initial.py):
# payments stops owning them in Django's state only; the tables and rows stay as they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_payment_method_type"),
        ("inbound", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="outboxentry",
                    name="event",
                ),
                migrations.DeleteModel(
                    name="InboundEvent",
                ),
                migrations.DeleteModel(
                    name="OutboxEntry",
                ),
            ],
        ),
    ]
