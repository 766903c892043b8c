"""PCI DSS 3.3/3.4 check: find card numbers (PANs) stored in the database or written to logs.

What counts as a card number is decided in one place, `config.card_numbers` (Luhn-valid 13-19
digit runs, spaced or dashed, with the first-digit and hex-word rules that keep timestamps and
digests out); the input validators, the log filter and the masking of processor echoes use the
same detector, so what this scan reports is exactly what they refuse or mask.

Findings name only where (table, column and primary key, or file and line) and how many digits:
never the digits, not even masked, so the scanner's own output can never leak a number.
The database side is generic: every concrete model's char, text and JSON columns, found through
`django.apps`, read with `.iterator()` so memory stays flat whatever the table size. This module
imports no project app (compliance must not depend on payments, accounts or banking).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.db import connections, models

from config.card_numbers import card_number_lengths_in

_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)
Progress = Callable[[int], None]
# Rows per progress-bar update: a callback per row would cost more than the scan itself.
_PROGRESS_STEP = 500


@dataclass(frozen=True)
class Finding:
    """Where a possible PAN is; `digits` is its length only."""

    location: str
    digits: int

    def __str__(self) -> str:
        return f"{self.location}: Luhn-valid {self.digits}-digit number"


@dataclass
class ScanReport:
    values_scanned: int = 0
    tables: int = 0
    lines_scanned: int = 0
    files: int = 0
    findings: list[Finding] = field(default_factory=list)


def scannable_models() -> Iterator[tuple[type[models.Model], list[str]]]:
    """Every concrete model with a table in the database and its char/text/JSON columns."""
    existing = set(connections["default"].introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.db_table not in existing:
            continue
        names = [f.attname for f in meta.concrete_fields if isinstance(f, _TEXT_FIELDS)]
        if names:
            yield model, names


def count_rows() -> int:
    """Rows to scan, for the progress bar's total (only worth it on a terminal)."""
    return sum(model._base_manager.count() for model, _ in scannable_models())


def scan_database(
    report: ScanReport, *, chunk_size: int = 2000, progress: Progress | None = None
) -> None:
    for model, names in scannable_models():
        report.tables += 1
        columns = {f.attname: f.column for f in model._meta.concrete_fields if f.attname in names}
        # The base manager: a default manager may hide rows (soft deletes) that still hold data.
        rows = model._base_manager.values_list("pk", *names).order_by().iterator(chunk_size)
        pending = 0
        for pk, *values in rows:
            for name, value in zip(names, values, strict=True):
                report.values_scanned += 1
                for length in card_number_lengths_in(value):
                    report.findings.append(
                        Finding(f"{model._meta.db_table}.{columns[name]} pk={pk}", length)
                    )
            pending += 1
            if progress is not None and pending == _PROGRESS_STEP:
                progress(pending)
                pending = 0
        if progress is not None and pending:
            progress(pending)


def scan_lines(report: ScanReport, *, name: str, lines: Iterable[str]) -> None:
    report.files += 1
    for number, line in enumerate(lines, start=1):
        report.lines_scanned += 1
        for length in card_number_lengths_in(line):
            report.findings.append(Finding(f"{name}:{number}", length))


def scan_file(report: ScanReport, path: Path) -> None:
    """Scan a log file line by line; OSError (missing, unreadable) propagates to the caller."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        scan_lines(report, name=str(path), lines=handle)
