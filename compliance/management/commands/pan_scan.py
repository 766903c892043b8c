"""`manage.py pan_scan [LOG ...]`: look for card numbers in the database and in log files.

Exit 0 with what was scanned when nothing is found; exit 1 listing each finding's location
(table, column and primary key, or file and line) and digit count, never the digits; exit 2
with a one-line reason when the scan cannot run (database unreachable, file unreadable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from compliance.pan_scan import ScanReport, count_rows, scan_database, scan_file
from compliance.progress import interactive, progress_bar

# 1 is reserved for "found card numbers", so a broken scan is never mistaken for a finding.
FAILURE_EXIT = 2


class Command(BaseCommand):
    help = (
        "Scans every text, char and JSON column of the database, and the log files given, for "
        "Luhn-valid 13-19 digit card numbers (PCI DSS 3.3/3.4); exit 1 when any is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("logs", nargs="*", help="log files to scan too")
        parser.add_argument(
            "--no-database", action="store_true", help="scan only the given log files"
        )
        parser.add_argument("--chunk-size", type=int, default=2000, help="rows per fetch")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("pan_scan: --chunk-size must be at least 1", returncode=FAILURE_EXIT)
        report = ScanReport()
        try:
            if not options["no_database"]:
                total = count_rows() if interactive() else None
                with progress_bar(total=total, unit="row", desc="scanning database") as tick:
                    scan_database(report, chunk_size=options["chunk_size"], progress=tick)
            for name in options["logs"]:
                scan_file(report, Path(name))
        except DatabaseError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CommandError(
                f"pan_scan: database scan failed: {reason}", returncode=FAILURE_EXIT
            ) from error
        except OSError as error:
            raise CommandError(
                f"pan_scan: cannot read {error.filename}: {error.strerror or error}",
                returncode=FAILURE_EXIT,
            ) from error
        if not options["no_database"] and report.tables == 0:
            # Nothing scanned is not "nothing found": an unmigrated or wrong database must fail.
            raise CommandError(
                "pan_scan: the database has no application tables (is it migrated?)",
                returncode=FAILURE_EXIT,
            )
        scanned = (
            f"{report.values_scanned} values in {report.tables} tables and "
            f"{report.lines_scanned} lines in {report.files} files"
        )
        if report.findings:
            for finding in report.findings:
                self.stdout.write(f"FOUND {finding}")
            raise CommandError(
                f"pan_scan: {len(report.findings)} possible card numbers found (scanned {scanned})",
                returncode=1,
            )
        self.stdout.write(f"OK: no card numbers found; scanned {scanned}")
