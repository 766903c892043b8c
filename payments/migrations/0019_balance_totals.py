"""Running balance totals per merchant, processor and currency, kept by database triggers on
the balance transactions table (payments.balance_total_triggers) and filled from the balance
transactions already there.

On PostgreSQL, creating the triggers locks the balance transactions table against writes until
this migration commits, so no balance transaction written meanwhile is missed or counted twice.
"""

import django.db.models.deletion
from django.db import migrations, models

from payments import balance_total_triggers


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in balance_total_triggers.install_statements(connection.vendor):
            cursor.execute(statement)
        cursor.execute(balance_total_triggers.backfill_statement())


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in balance_total_triggers.remove_statements(connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_enrolmentlink'),
        ('payments', '0018_merge_day_totals'),
    ]

    operations = [
        migrations.CreateModel(
            name='BalanceTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('processor', models.CharField(max_length=16)),
                ('currency', models.CharField(max_length=3)),
                ('net', models.BigIntegerField(default=0)),
                ('transaction_count', models.BigIntegerField(default=0)),
                ('merchant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.merchant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('merchant', 'processor', 'currency'), name='balance_total_unique')],
            },
        ),
        migrations.RunPython(install, remove),
    ]
