"""Append-only guards on the audit tables (PostgreSQL triggers, SQLite equivalents)."""

from django.db import migrations

from compliance import db_guards


def install(apps, schema_editor):
    db_guards.install(schema_editor.connection)


def remove(apps, schema_editor):
    db_guards.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
