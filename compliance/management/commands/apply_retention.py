"""`manage.py apply_retention [--dry-run]`: apply the retention policies now, counts per policy."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from compliance.progress import progress_bar
from compliance.retention import retention_apply, retention_policies


class Command(BaseCommand):
    help = "Applies the retention policies (RETENTION_POLICIES) now; --dry-run only counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        try:
            with progress_bar(
                total=len(retention_policies()), unit="policy", desc="retention"
            ) as advance:
                runs = retention_apply(dry_run=dry_run, progress=lambda _name, _n: advance(1))
        except ImproperlyConfigured as error:
            raise CommandError(f"retention not applied: {error}") from error
        except DatabaseError as error:
            raise CommandError(f"retention not applied: database error ({error})") from error
        verb = "would change" if dry_run else "changed"
        for run in runs:
            count = run.matched if dry_run else run.applied
            self.stdout.write(f"{run.policy} (older than {run.days} days): {verb} {count}")
        if not runs:
            self.stdout.write("no retention policies configured")
