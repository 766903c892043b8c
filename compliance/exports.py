"""Checkpoint exports outside the database: one signed JSON file per checkpoint, never rewritten.

The files are the trust anchor against someone who rewrites or cuts the database: a checkpoint
the database no longer holds, or holds differently, is still on file. Files go under
`AUDIT_EXPORT_DIR/<log id>/`; point that directory at write-once storage (see docs/audit.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


class AuditExportConflictError(RuntimeError):
    """A file for this checkpoint exists with other content: refuse to overwrite evidence."""


@dataclass(frozen=True)
class ExportedCheckpoint:
    path: Path
    statement: dict[str, Any]
    signature: str


def log_directory(log_id: str) -> Path:
    return Path(settings.AUDIT_EXPORT_DIR) / log_id


def _file_name(number: int) -> str:
    return f"checkpoint-{number:012d}.json"


def export_checkpoint(
    *, statement: dict[str, Any], signature: str, links: dict[str, Any] | None = None
) -> Path:
    """Write the checkpoint file once (atomically); an identical existing file is fine.

    `links` (a signed `signing.links_statement` and its signature) rides along in the same
    file; the verifier reads it only to locate a rewrite (`read_links`).
    """
    directory = log_directory(str(statement["log"]))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _file_name(int(statement["number"]))
    document: dict[str, Any] = {"statement": statement, "signature": signature}
    if links is not None:
        document["links"] = links
    body = json.dumps(document, indent=2, sort_keys=True)
    if path.exists():
        if path.read_text(encoding="utf-8") == body + "\n":
            return path
        raise AuditExportConflictError(f"{path} exists with different content; not overwriting it")
    # Write then link: readers never see a half-written file, and link() refuses to replace.
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, encoding="utf-8") as tmp:
        tmp.write(body + "\n")
        tmp.flush()
        os.fsync(tmp.fileno())
    try:
        os.link(tmp.name, path)
    except FileExistsError as error:
        raise AuditExportConflictError(
            f"{path} appeared while exporting; not overwriting it"
        ) from error
    finally:
        os.unlink(tmp.name)
    return path


def exported(number: int, *, log_id: str) -> bool:
    return (log_directory(log_id) / _file_name(number)).exists()


def read_exports(*, log_id: str) -> list[ExportedCheckpoint]:
    """Every checkpoint file of the log, by number; unreadable files are returned as empty."""
    directory = log_directory(log_id)
    if not directory.is_dir():
        return []
    found: list[ExportedCheckpoint] = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                ExportedCheckpoint(
                    path=path, statement=dict(data["statement"]), signature=str(data["signature"])
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            found.append(ExportedCheckpoint(path=path, statement={}, signature=""))
    return found


def read_links(*, log_id: str, number: int) -> tuple[dict[str, Any], str] | None:
    """The signed link hashes exported with checkpoint `number` (statement, signature), if any."""
    try:
        data = json.loads((log_directory(log_id) / _file_name(number)).read_text(encoding="utf-8"))
        return dict(data["links"]["statement"]), str(data["links"]["signature"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def export_logs() -> list[str]:
    """The log ids with an export directory (normally exactly one per deployment)."""
    root = Path(settings.AUDIT_EXPORT_DIR)
    if not root.is_dir():
        return []
    return sorted(child.name for child in root.iterdir() if child.is_dir())
