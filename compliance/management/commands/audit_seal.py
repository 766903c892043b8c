"""`manage.py audit_seal`: seal every committed audit entry and sign a checkpoint now."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from compliance.exports import AuditExportConflictError
from compliance.progress import progress_bar
from compliance.selectors import audit_unsealed_count
from compliance.services import audit_seal


class Command(BaseCommand):
    help = "Seals pending audit entries onto the hash chain and writes a signed checkpoint now."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with progress_bar(total=audit_unsealed_count(), unit="entry", desc="sealing") as tick:
                result = audit_seal(force_checkpoint=True, progress=tick)
        except (ImproperlyConfigured, DatabaseError, AuditExportConflictError, OSError) as error:
            raise CommandError(f"audit_seal failed: {error}".splitlines()[0]) from error
        checkpoints = (
            f"checkpoint {result.checkpoints[-1]} written"
            if result.checkpoints
            else "no new checkpoint needed"
        )
        self.stdout.write(
            f"sealed {result.sealed} entries; chain size {result.head}; {checkpoints}"
        )
