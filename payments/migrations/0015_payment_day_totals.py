"""Per-day payment totals for the overview, kept by database triggers on the payments table
(payments.day_totals) and filled from the payments already there.

On PostgreSQL, creating the triggers locks the payments table against writes until this
migration commits, so no payment written meanwhile is missed or counted twice.
"""

import django.db.models.deletion
from django.db import migrations, models

from payments import day_total_triggers as day_totals


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in day_totals.install_statements(connection.vendor):
            cursor.execute(statement)
        cursor.execute(day_totals.backfill_statement(connection.vendor))


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in day_totals.remove_statements(connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_enrolmentlink'),
        ('payments', '0014_merge_processor_routing'),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentDayTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3)),
                ('day', models.DateField()),
                ('gross', models.BigIntegerField(default=0)),
                ('kept', models.BigIntegerField(default=0)),
                ('payment_count', models.BigIntegerField(default=0)),
                ('merchant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.merchant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('merchant', 'day', 'currency'), name='payment_day_total_unique')],
            },
        ),
        migrations.RunPython(install, remove),
    ]
