"""PostgreSQL: entries are stamped from a sequence by an announcing trigger, not by txid.

A transaction id is assigned when a transaction first writes anything, possibly long before it
records an audit entry, so it cannot order entries against a sealer's horizon; see
compliance.sealer for the protocol that replaces it.
"""

from django.db import migrations, models

from compliance import db_guards


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS compliance_auditentry_txid ON compliance_auditentry")
        cursor.execute("DROP FUNCTION IF EXISTS compliance_audit_stamp_txid()")
        for statement in db_guards.stamp_statements():
            cursor.execute(statement)
        # Existing rows carry transaction ids: continue above them and every sealed horizon.
        cursor.execute(
            f"SELECT setval('{db_guards.STAMP_SEQUENCE}', GREATEST(1,"  # noqa: S608 - constants
            " (SELECT max(stamp) FROM compliance_auditentry),"
            " (SELECT max(horizon) FROM compliance_auditseal)))"
        )


def remove(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS compliance_auditentry_stamp ON compliance_auditentry"
        )
        cursor.execute("DROP FUNCTION IF EXISTS compliance_audit_stamp()")
        cursor.execute(f"DROP SEQUENCE IF EXISTS {db_guards.STAMP_SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_append_only_triggers")]

    operations = [
        migrations.RemoveIndex(model_name="auditentry", name="audit_txid"),
        migrations.RenameField(model_name="auditentry", old_name="txid", new_name="stamp"),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["stamp"], name="audit_stamp"),
        ),
        migrations.RunPython(install, remove),
    ]
