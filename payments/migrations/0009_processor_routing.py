"""Several processors per merchant, with a routing rank, and operators' outage marks.

`ProcessorAccount.merchant` becomes a foreign key (one account per processor per merchant);
every account that exists is its merchant's only one and becomes its primary.
"""

import django.db.models.deletion
from django.db import migrations, models


def _existing_accounts_primary(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("payments", "ProcessorAccount").objects.update(routing_rank=1)
    # One outage row per processor, so staff toggle it in the admin rather than create it.
    outage = apps.get_model("payments", "ProcessorOutage")
    for processor in ("stripe", "braintree"):
        outage.objects.get_or_create(processor=processor)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_enrolmentlink"),
        ("payments", "0008_braintree_processor_credentials"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProcessorOutage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "processor",
                    models.CharField(
                        choices=[("stripe", "Stripe"), ("braintree", "Braintree")],
                        max_length=16,
                        unique=True,
                    ),
                ),
                ("marked_down", models.BooleanField(default=False)),
                ("note", models.CharField(blank=True, max_length=200)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name="processoraccount",
            name="routing_rank",
            field=models.PositiveSmallIntegerField(
                blank=True, choices=[(1, "Primary"), (2, "Secondary")], null=True
            ),
        ),
        migrations.AlterField(
            model_name="processoraccount",
            name="merchant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="processor_accounts",
                to="accounts.merchant",
            ),
        ),
        migrations.AddConstraint(
            model_name="processoraccount",
            constraint=models.UniqueConstraint(
                fields=("merchant", "processor"), name="processor_account_one_per_processor"
            ),
        ),
        migrations.AddConstraint(
            model_name="processoraccount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("routing_rank__isnull", False)),
                fields=("merchant", "routing_rank"),
                name="processor_account_one_per_rank",
            ),
        ),
        migrations.AddConstraint(
            model_name="processoraccount",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("routing_rank__isnull", True), ("routing_rank__in", [1, 2]), _connector="OR"
                ),
                name="processor_account_rank_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="processoroutage",
            constraint=models.CheckConstraint(
                condition=models.Q(("processor__in", ["stripe", "braintree"])),
                name="processor_outage_processor",
            ),
        ),
        migrations.RunPython(_existing_accounts_primary, migrations.RunPython.noop),
    ]
