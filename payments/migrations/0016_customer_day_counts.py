"""New customers per day for the overview, kept by database triggers on the customers table
(payments.day_total_triggers) and filled from the customers already there; as in 0015, the
triggers' creation locks the customers table against writes until this migration commits."""

import django.db.models.deletion
from django.db import migrations, models

from payments import day_total_triggers


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in day_total_triggers.customer_install_statements(connection.vendor):
            cursor.execute(statement)
        cursor.execute(day_total_triggers.customer_backfill_statement(connection.vendor))


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in day_total_triggers.customer_remove_statements(connection.vendor):
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_enrolmentlink'),
        ('payments', '0015_payment_day_totals'),
    ]

    operations = [
        migrations.CreateModel(
            name='CustomerDayCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('customer_count', models.BigIntegerField(default=0)),
                ('merchant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.merchant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('merchant', 'day'), name='customer_day_count_unique')],
            },
        ),
        migrations.RunPython(install, remove),
    ]
