# The inbound-event models moved here from payments (their tables, rows, indexes and
# constraints unchanged): only Django's record of who owns them moves (state), with the
# content types, so permissions granted on them (replay_inboundevent) and admin history follow.

import django.db.models.deletion
import django.utils.timezone
import inbound.models
from django.db import migrations, models


def _content_types_move(apps, schema_editor, *, source, target):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    content_types = ContentType.objects.using(schema_editor.connection.alias)
    for model in ('inboundevent', 'outboxentry'):
        if not content_types.filter(app_label=target, model=model).exists():
            content_types.filter(app_label=source, model=model).update(app_label=target)


def content_types_to_inbound(apps, schema_editor):
    _content_types_move(apps, schema_editor, source='payments', target='inbound')


def content_types_to_payments(apps, schema_editor):
    _content_types_move(apps, schema_editor, source='inbound', target='payments')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0003_enrolmentlink'),
        ('contenttypes', '0002_remove_content_type_name'),
        # The tables were created by payments' 0002_inbound_events.
        ('payments', '0004_payment_method_type'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='InboundEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.CharField(default=inbound.models._event_id, editable=False, max_length=32, unique=True)),
                    ('provider', models.CharField(choices=[('stripe', 'Stripe'), ('plaid', 'Plaid')], max_length=16)),
                    ('event_id', models.CharField(max_length=255)),
                    ('type', models.CharField(max_length=128)),
                    ('account', models.CharField(blank=True, default='', max_length=64)),
                    ('payload', models.JSONField()),
                    ('body_sha256', models.CharField(blank=True, default='', max_length=64)),
                    ('status', models.CharField(choices=[('received', 'Received'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('ignored', 'Ignored'), ('dead', 'Dead-lettered')], default='received', max_length=16)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('last_error', models.CharField(blank=True, default='', max_length=500)),
                    ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('processed_at', models.DateTimeField(blank=True, null=True)),
                    ('processor_created', models.DateTimeField(blank=True, null=True)),
                    ('merchant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='inbound_events', to='accounts.merchant')),
                ],
                options={
                    'db_table': 'payments_inboundevent',
                    'permissions': [('replay_inboundevent', 'Can replay failed or dead inbound events')],
                },
            ),
            migrations.CreateModel(
                name='OutboxEntry',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('dispatched_at', models.DateTimeField(blank=True, null=True)),
                    ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='outbox', to='inbound.inboundevent')),
                ],
                options={
                    'db_table': 'payments_outboxentry',
                },
            ),
            migrations.AddIndex(
                model_name='inboundevent',
                index=models.Index(fields=['merchant', '-received_at', '-id'], name='inbound_event_merchant_keyset'),
            ),
            migrations.AddIndex(
                model_name='inboundevent',
                index=models.Index(fields=['status', 'next_attempt_at'], name='inbound_event_due'),
            ),
            migrations.AddConstraint(
                model_name='inboundevent',
                constraint=models.UniqueConstraint(fields=('provider', 'event_id'), name='inbound_event_unique'),
            ),
            migrations.AddConstraint(
                model_name='inboundevent',
                constraint=models.CheckConstraint(condition=models.Q(('status__in', ['received', 'succeeded', 'failed', 'ignored', 'dead'])), name='inbound_event_status_valid'),
            ),
            migrations.AddIndex(
                model_name='outboxentry',
                index=models.Index(condition=models.Q(('dispatched_at__isnull', True)), fields=['created_at'], name='outbox_undispatched'),
            ),
            ],
        ),
        migrations.RunPython(content_types_to_inbound, content_types_to_payments),
    ]
