"""`manage.py audit_verify`: recompute the audit chain and check every checkpoint signature.

Exit 0 with the count verified, or 1 naming the first bad position and what is wrong with it.
Large logs on PostgreSQL are verified in parallel segments (`--workers`); the report is the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from compliance.models import AuditSeal
from compliance.progress import interactive, progress_bar
from compliance.services import audit_verification_record
from compliance.verifier import verify_log


def _since(value: str) -> tuple[int | None, datetime | None]:
    if value.isdigit():
        return int(value), None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--since {value!r}: give a position or an ISO 8601 date") from error
    return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Verifies the audit log's hash chain and signed checkpoints; exit 1 on the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            default="",
            help="start at the last checkpoint before this position or ISO 8601 date",
        )
        parser.add_argument("--chunk-size", type=int, default=10_000, help="rows per fetch")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help=(
                "processes verifying segments between signed checkpoints at once (default: the "
                "CPU count, at most 8; logs under 50,000 entries and SQLite stay sequential); "
                "1 verifies sequentially"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since_position, since_time = _since(options["since"]) if options["since"] else (None, None)
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        started = timezone.now()
        try:
            total = AuditSeal.objects.count() if interactive() else None
            with progress_bar(total=total, unit="entry", desc="verifying") as tick:
                report = verify_log(
                    since_position=since_position,
                    since_time=since_time,
                    chunk_size=options["chunk_size"],
                    progress=tick,
                    workers=options["workers"],
                )
        except (ImproperlyConfigured, DatabaseError, OSError) as error:
            raise CommandError(f"audit_verify could not run: {error}".splitlines()[0]) from error
        finding = report.finding
        audit_verification_record(
            started_at=started,
            ok=finding is None,
            verified=report.verified,
            first_bad_position=finding.position if finding else None,
            problem=finding.kind if finding else "",
            message=str(finding) if finding else "",
        )
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if finding is not None:
            raise CommandError(f"audit log broken at {finding}", returncode=1)
        self.stdout.write(
            f"OK: verified {report.verified} entries (positions {report.first_position}"
            f"-{report.last_position}), {report.checkpoints} signed checkpoints, "
            f"{report.pending} pending"
        )
