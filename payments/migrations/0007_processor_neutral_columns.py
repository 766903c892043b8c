"""Processor-neutral column names and a `processor` column, with no row lost.

`stripe_*` ids become `processor_*` by RenameField (the data stays in place); `processor` is
added with the default "stripe", which every existing row is. Uniqueness that held per id now
holds per (processor, id) where the row names its processor; refunds and disputes follow their
payment's processor and keep their own unique id.
"""

from django.db import migrations, models

PROCESSOR_CHOICES = [("stripe", "Stripe")]


def _processor_field() -> models.CharField:
    return models.CharField(choices=PROCESSOR_CHOICES, default="stripe", max_length=16)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_merge_api_inbound_moves"),
    ]

    operations = [
        # Constraints name the old columns in their fields and conditions: drop them first.
        migrations.RemoveConstraint(
            model_name="customer", name="customer_one_per_processor_customer"
        ),
        migrations.RemoveConstraint(model_name="payment", name="payment_one_per_intent"),
        migrations.RemoveConstraint(model_name="refund", name="refund_one_per_processor_refund"),
        migrations.RenameField(
            model_name="processoraccount",
            old_name="stripe_account_id",
            new_name="processor_account_id",
        ),
        migrations.RenameField(
            model_name="customer", old_name="stripe_customer_id", new_name="processor_customer_id"
        ),
        migrations.RenameField(
            model_name="payment",
            old_name="stripe_payment_intent_id",
            new_name="processor_payment_id",
        ),
        migrations.RenameField(
            model_name="payment", old_name="stripe_charge_id", new_name="processor_charge_id"
        ),
        migrations.RenameField(
            model_name="payment",
            old_name="stripe_payment_method_id",
            new_name="processor_payment_method_id",
        ),
        migrations.RenameField(
            model_name="refund", old_name="stripe_refund_id", new_name="processor_refund_id"
        ),
        migrations.RenameField(
            model_name="dispute", old_name="stripe_dispute_id", new_name="processor_dispute_id"
        ),
        migrations.AddField(
            model_name="processoraccount", name="processor", field=_processor_field()
        ),
        migrations.AddField(model_name="customer", name="processor", field=_processor_field()),
        migrations.AddField(model_name="payment", name="processor", field=_processor_field()),
        migrations.AlterField(
            model_name="processoraccount",
            name="processor_account_id",
            field=models.CharField(max_length=64),
        ),
        migrations.AddConstraint(
            model_name="processoraccount",
            constraint=models.UniqueConstraint(
                fields=("processor", "processor_account_id"), name="processor_account_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="processoraccount",
            constraint=models.CheckConstraint(
                condition=models.Q(("processor__in", ["stripe"])),
                name="processor_account_processor",
            ),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("processor_customer_id", ""), _negated=True),
                fields=("processor", "processor_customer_id"),
                name="customer_one_per_processor_customer",
            ),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.CheckConstraint(
                condition=models.Q(("processor__in", ["stripe"])), name="customer_processor_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("processor_payment_id", ""), _negated=True),
                fields=("processor", "processor_payment_id"),
                name="payment_one_per_processor_payment",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("processor__in", ["stripe"])), name="payment_processor_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.UniqueConstraint(
                condition=models.Q(("processor_refund_id", ""), _negated=True),
                fields=("processor_refund_id",),
                name="refund_one_per_processor_refund",
            ),
        ),
    ]
