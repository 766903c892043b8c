"""`IdempotencyRecord` moves from payments to api without losing a row.

The model's state is created here over the existing table (no SQL), payments drops it from
its own state (payments 0005, no SQL), and only then is the table renamed to this app's name.
Every row, column, the constraint `idempotency_merchant_key` and the index
`idempotency_created` stay as they are (their names were given by hand, not derived from the
table). Names Django derived from the old table (primary key, merchant foreign key and its
index, the identity sequence on PostgreSQL) keep the old prefix: Django finds them by
introspection, never by name. The content type moves with the model, so permissions granted
on it stay granted.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

OLD_TABLE = "payments_idempotencyrecord"


def _move_content_type(apps: StateApps, *, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if content_type.objects.filter(app_label=new, model="idempotencyrecord").exists():
        return
    content_type.objects.filter(app_label=old, model="idempotencyrecord").update(app_label=new)


def content_type_forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _move_content_type(apps, old="payments", new="api")


def content_type_backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _move_content_type(apps, old="api", new="payments")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0003_enrolmentlink"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("payments", "0004_payment_method_type"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        ("request_method", models.CharField(max_length=8)),
                        ("request_path", models.CharField(max_length=500)),
                        ("request_fingerprint", models.CharField(max_length=64)),
                        (
                            "recovery_point",
                            models.CharField(
                                choices=[
                                    ("started", "Started"),
                                    ("object_created", "Object created"),
                                    ("processor_called", "Processor called"),
                                    ("finished", "Finished"),
                                ],
                                default="started",
                                max_length=32,
                            ),
                        ),
                        ("locked_at", models.DateTimeField(blank=True, null=True)),
                        ("target_type", models.CharField(blank=True, max_length=32)),
                        ("target_public_id", models.CharField(blank=True, max_length=32)),
                        (
                            "response_status",
                            models.PositiveSmallIntegerField(blank=True, null=True),
                        ),
                        ("response_body", models.JSONField(blank=True, null=True)),
                        ("created_at", models.DateTimeField()),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="idempotency_records",
                                to="accounts.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": OLD_TABLE,
                        "indexes": [
                            models.Index(fields=["created_at"], name="idempotency_created")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("merchant", "key"), name="idempotency_merchant_key"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_forwards, content_type_backwards),
    ]
