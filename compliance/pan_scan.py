"""PCI DSS 3.3/3.4 check: find card numbers (PANs) stored in the database or written to logs.

A candidate is a run of 13-19 digits, contiguous or in groups separated by spaces or
dashes (as people and forms write card numbers), that passes the Luhn check and starts with a
payment-network major industry identifier (2-6: Mastercard, Visa, Amex, Diners, Discover, JCB,
UnionPay, Maestro). The identifier rule keeps millisecond and nanosecond Unix timestamps (which
start with 1) from being reported: one in ten random digit strings passes Luhn on its own.
For the same reason digit runs inside long hex digests (hashes, fingerprints) are skipped.

Findings name only where (table, column and primary key, or file and line) and how many digits:
never the digits, not even masked, so the scanner's own output can never leak a number.
The database side is generic: every concrete model's char, text and JSON columns, found through
`django.apps`, read with `.iterator()` so memory stays flat whatever the table size. This module
imports no project app (compliance must not depend on payments, accounts or banking).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connections, models

MIN_DIGITS = 13
MAX_DIGITS = 19
# Card-number groups are 4 digits (Amex and Diners use 4-6-5 / 4-6-4); allowing 3-6 per group
# still matches every layout while long space-separated number lists do not chain into PANs.
_MIN_GROUP = 3
_MAX_GROUP = 6
_NETWORK_FIRST_DIGITS = frozenset("23456")
# Maximal runs of digit groups joined by spaces or dashes (up to three: "4242 - 4242").
_RUN_RE = re.compile(r"\d+(?:[ -]{1,3}\d+)*")
_SEPARATOR_RE = re.compile(r"[ -]{1,3}")
_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)
# Hex strings (audit hashes, fingerprints, 16-character request ids on every log line) are 10/16
# digits: they hold 13+ digit runs often enough that a large log would always report something.
# A run inside a hex token at least this long, with letters, is part of that token.
_HEX_TOKEN_MIN = 16
_HEX = frozenset("0123456789abcdefABCDEF")

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


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_pan(digits: str) -> bool:
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS
        and digits[0] in _NETWORK_FIRST_DIGITS
        and luhn_valid(digits)
    )


def _windows(groups: list[str], *, glued_left: bool, glued_right: bool) -> Iterator[str]:
    """Digit strings of 13-19 digits made of whole consecutive groups of one run.

    A group touching a letter at the run's edge is a fragment of some token (as in the
    UUID `cd36b690-0211-4727-87d8-...`), so it never chains with other groups.
    """
    last = len(groups) - 1
    for start in range(len(groups)):
        total = 0
        for end in range(start, len(groups)):
            size = len(groups[end])
            total += size
            if total > MAX_DIGITS:
                break
            if end > start and (
                not (_MIN_GROUP <= len(groups[end - 1]) <= _MAX_GROUP and size <= _MAX_GROUP)
                or (glued_left and start == 0)
                or (glued_right and end == last)
            ):
                # Only card-like groups chain; a long contiguous group stands alone.
                break
            if total >= MIN_DIGITS:
                yield "".join(groups[start : end + 1])


def _inside_hex_token(text: str, start: int, end: int) -> bool:
    if not ((start > 0 and text[start - 1] in _HEX) or (end < len(text) and text[end] in _HEX)):
        return False
    left, right = start, end
    while left > 0 and text[left - 1] in _HEX:
        left -= 1
    while right < len(text) and text[right] in _HEX:
        right += 1
    return right - left >= _HEX_TOKEN_MIN


def pan_lengths(text: str) -> list[int]:
    """The digit counts of the possible PANs in `text` (one per run of digits)."""
    found: list[int] = []
    for match in _RUN_RE.finditer(text):
        run = match.group()
        if len(run) < MIN_DIGITS or _inside_hex_token(text, match.start(), match.end()):
            continue
        start, end = match.start(), match.end()
        groups = _SEPARATOR_RE.split(run)
        glued_left = start > 0 and text[start - 1].isalnum()
        glued_right = end < len(text) and text[end].isalnum()
        for candidate in _windows(groups, glued_left=glued_left, glued_right=glued_right):
            if _is_pan(candidate):
                found.append(len(candidate))
                break
    return found


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # JSON values: numbers and nested strings are scanned in their serialized form.
    return json.dumps(value, ensure_ascii=False, default=str)


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
                for length in pan_lengths(_as_text(value)):
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
        for length in pan_lengths(line):
            report.findings.append(Finding(f"{name}:{number}", length))


def scan_file(report: ScanReport, path: Path) -> None:
    """Scan a log file line by line; OSError (missing, unreadable) propagates to the caller."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        scan_lines(report, name=str(path), lines=handle)
