"""`audit_verify`'s engine: recompute the chain, check every signature, find the first break.

It streams the seal table joined to the entries (a server-side cursor on PostgreSQL), keeping
only the previous link in memory, and trusts nothing in the database that is not signed by
the configured key: the checkpoint rows are checked against their signatures and against the
exported files, which also reveal a database cut back together with its checkpoints.

Kinds of break (the first by position is reported): `edited` (an entry or link changed, or
the chain rewritten consistently up to a checkpoint), `missing` (a position or its entry is
gone), `reordered` (an entry or link sits at another position than it was sealed at), `extra`
(an entry inserted behind the sealer's back), `truncated` (the log ends before a checkpoint),
`bad signature` (a checkpoint row or file that the key did not sign).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Max, Q

from compliance import exports, signing
from compliance.canonical import (
    ENTRY_COLUMNS,
    GENESIS_HASH,
    entry_hash_from_row,
    format_time,
    link_hash,
)
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal

EDITED = "edited"
MISSING = "missing"
REORDERED = "reordered"
EXTRA = "extra"
TRUNCATED = "truncated"
BAD_SIGNATURE = "bad signature"

# How far past a mismatch the verifier looks to tell a moved entry from an edited one.
CLASSIFY_WINDOW = 10_000
_CREATED_AT = ENTRY_COLUMNS.index("created_at")
_PAYLOAD = ENTRY_COLUMNS.index("payload")
# PostgreSQL spells the timestamp exactly as `canonical.format_time` does, in C.
_PG_TIME = """to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _chain_query(vendor: str) -> str:
    """Seals from a position on, each with its entry's columns (NULLs when the entry is gone)."""
    columns = [
        _PG_TIME if column == "created_at" and vendor == "postgresql" else f"e.{column}"
        for column in ENTRY_COLUMNS
    ]
    # Column names are constants; the position is a parameter.
    return (
        "SELECT s.position, s.entry_hash, s.link_hash, s.horizon, "  # noqa: S608
        + ", ".join(columns)
        + " FROM compliance_auditseal s LEFT JOIN compliance_auditentry e ON e.id = s.entry_id"
        " WHERE s.position > %s ORDER BY s.position"
    )


def _sqlite_time(value: datetime | str) -> str:
    # Django's SQLite converters hand back naive UTC datetimes (text if read raw).
    if isinstance(value, datetime):
        return format_time(value.replace(tzinfo=UTC))
    date_time = value.replace(" ", "T")
    return f"{date_time if '.' in date_time else date_time + '.000000'}Z"


def _prefetched(cursor: Any, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of `cursor`, the next one fetched in a thread while this one is hashed.

    The driver releases the GIL while it waits on the server, so fetching and hashing overlap;
    the queue holds at most two chunks, which keeps memory flat.
    """
    chunks: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cursor.fetchmany(chunk_size)
                chunks.put(rows or None)
                if not rows:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread
            chunks.put(error)

    fetcher = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    fetcher.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while fetcher.is_alive():
            # Unblock a fetcher waiting to put a chunk nobody will read.
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.05)
        fetcher.join()


def _stream(start: int, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """The chain from `start` on, through a server-side cursor (PostgreSQL): flat memory."""
    postgres = connection.vendor == "postgresql"
    with connection.chunked_cursor() as cursor:
        cursor.execute(_chain_query(connection.vendor), [start])
        for rows in _prefetched(cursor, chunk_size):
            for row in rows:
                position, entry_hash, link, horizon, *entry = row
                if entry[_CREATED_AT] is not None:
                    if not postgres:
                        entry[_CREATED_AT] = _sqlite_time(entry[_CREATED_AT])
                    if isinstance(entry[_PAYLOAD], str):
                        entry[_PAYLOAD] = json.loads(entry[_PAYLOAD])
                yield (position, entry_hash, link, horizon, *entry)


@dataclass(frozen=True)
class Finding:
    kind: str
    position: int | None
    message: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "no position"
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    verified: int = 0
    first_position: int = 1
    last_position: int = 0
    checkpoints: int = 0
    pending: int = 0
    finding: Finding | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class _Checkpoint:
    number: int
    size: int
    head: str
    created_at: datetime | None


def _earliest(*findings: Finding | None) -> Finding | None:
    present = [finding for finding in findings if finding is not None]
    if not present:
        return None
    return min(present, key=lambda f: (f.position is None, f.position or 0))


def _check_checkpoints(public_key: str) -> tuple[list[_Checkpoint], str, Finding | None]:
    """Signed checkpoint rows in order, the log id, and the first problem among them."""
    trusted: list[_Checkpoint] = []
    log_id = ""
    for row in AuditCheckpoint.objects.order_by("number"):
        number, size, key, signature = row.number, row.size, row.public_key, row.signature
        document = row.statement()
        previous_size = trusted[-1].size if trusted else 0
        if key != public_key or not signing.signature_valid(document, signature, public_key):
            message = f"checkpoint {number} is not signed by the configured AUDIT_SIGNING_KEY"
            return trusted, log_id, Finding(BAD_SIGNATURE, size, message)
        if log_id and row.log_id != log_id:
            return (
                trusted,
                log_id,
                Finding(BAD_SIGNATURE, size, f"checkpoint {number} is of another log"),
            )
        if number != len(trusted) + 1:
            message = f"checkpoint {len(trusted) + 1} is missing (the next is {number})"
            return trusted, log_id, Finding(MISSING, previous_size + 1, message)
        if size <= previous_size:
            message = f"checkpoint {number} covers {size} entries, fewer than the one before"
            return trusted, log_id, Finding(REORDERED, size, message)
        log_id = row.log_id
        trusted.append(
            _Checkpoint(number=number, size=size, head=row.head_hash, created_at=row.created_at)
        )
    return trusted, log_id, None


def _check_exports(
    *, log_id: str, public_key: str, trusted: list[_Checkpoint]
) -> tuple[list[_Checkpoint], Finding | None, list[str]]:
    """Exported checkpoints that verify, and the first disagreement with the database."""
    by_number = {checkpoint.number: checkpoint for checkpoint in trusted}
    # Rows present but untrusted are reported by _check_checkpoints, not as a truncation.
    in_database = set(AuditCheckpoint.objects.values_list("number", flat=True))
    on_file: list[_Checkpoint] = []
    warnings: list[str] = []
    findings: list[Finding] = []
    for item in exports.read_exports(log_id=log_id):
        document, signature = item.statement, item.signature
        if not document or not signing.signature_valid(document, signature, public_key):
            size = document.get("size") if isinstance(document.get("size"), int) else None
            findings.append(Finding(BAD_SIGNATURE, size, f"{item.path.name} does not verify"))
            continue
        number, size, head = int(document["number"]), int(document["size"]), str(document["head"])
        on_file.append(_Checkpoint(number=number, size=size, head=head, created_at=None))
        stored = by_number.get(number)
        if stored is None and number not in in_database:
            kept = [c for c in trusted if c.number < number]
            after = kept[-1].number if kept else 0
            message = (
                f"truncated after checkpoint {after}: checkpoint {number} ({size} entries) is "
                "on file but not in the database"
            )
            findings.append(Finding(TRUNCATED, (kept[-1].size if kept else 0) + 1, message))
        elif stored is not None and (stored.size, stored.head) != (size, head):
            findings.append(Finding(EDITED, size, f"checkpoint {number} differs from its file"))
    exported_numbers = {checkpoint.number for checkpoint in on_file}
    unexported = [c.number for c in trusted if c.number not in exported_numbers]
    if unexported:
        warnings.append(
            f"{len(unexported)} checkpoint(s) not exported yet (first: {unexported[0]}); "
            "`audit_seal` exports them"
        )
    return on_file, _earliest(*findings), warnings


def _classify(
    rows: Iterator[tuple[Any, ...]],
    *,
    position: int,
    previous: str,
    stored_hash: str,
    computed_hash: str,
) -> str:
    """`reordered` when what is at `position` belongs elsewhere or vice versa, else `edited`."""
    wanted = {stored_hash, computed_hash}
    for row in itertools.islice(rows, CLASSIFY_WINDOW):
        _, other_hash, other_link, other_horizon, *entry = row
        if other_hash in wanted:
            return REORDERED
        if entry[_CREATED_AT] is not None and entry_hash_from_row(tuple(entry)) in wanted:
            return REORDERED
        relinked = link_hash(
            previous=previous, position=position, horizon=other_horizon, entry_hash=other_hash
        )
        if relinked == other_link:
            return REORDERED
    return EDITED


def _extra_entry(head_horizon: int) -> Finding | None:
    """An unsealed entry the sealer must already have sealed was inserted behind its back."""
    key = "stamp" if connection.vendor == "postgresql" else "id"
    unsealed = AuditEntry.objects.filter(seal__isnull=True)
    old = unsealed.filter(Q(**{f"{key}__lt": head_horizon}) | Q(**{f"{key}__isnull": True}))
    row = old.order_by(key).values_list(key, "created_at", "action").first()
    if row is None:
        return None
    value, created_at, action = row
    # Where it would sit: the run that should have sealed it sealed in id order.
    entry_id = old.order_by(key).values_list("id", flat=True).first() or 0
    position = (
        AuditSeal.objects.filter(
            horizon__gt=value if value is not None else -1, entry_id__gt=entry_id
        )
        .order_by("position")
        .values_list("position", flat=True)
        .first()
    )
    if position is None:
        position = (AuditSeal.objects.aggregate(last=Max("position"))["last"] or 0) + 1
    message = (
        f"an unsealed entry ({action}, recorded {created_at:%Y-%m-%d %H:%M:%S}) is older than "
        "the sealed horizon: it was inserted behind the sealer's back"
    )
    return Finding(EXTRA, position, message)


@dataclass
class _Walk:
    """State of the streamed pass over the chain."""

    last: int
    previous: str
    heads: dict[int, _Checkpoint]
    checkpoint_before: _Checkpoint | None
    verified: int = 0
    horizon: int = 0


def _walk(
    walk: _Walk, *, chunk_size: int, progress: Callable[[int], None] | None
) -> Finding | None:
    rows = _stream(walk.last, chunk_size)
    finding = None
    for row in rows:
        position, stored_hash, stored_link, walk.horizon, *entry = row
        if position != walk.last + 1:
            message = f"position {walk.last + 1} is gone (the next present is {position})"
            finding = Finding(MISSING, walk.last + 1, message)
            break
        if entry[_CREATED_AT] is None:
            finding = Finding(MISSING, position, "the entry sealed here is gone")
            break
        computed = entry_hash_from_row(tuple(entry))
        relinked = link_hash(
            previous=walk.previous, position=position, horizon=walk.horizon, entry_hash=stored_hash
        )
        if computed != stored_hash or relinked != stored_link:
            kind = _classify(
                rows,
                position=position,
                previous=walk.previous,
                stored_hash=stored_hash,
                computed_hash=computed,
            )
            what = "entry" if computed != stored_hash else "chain link"
            finding = Finding(kind, position, f"the {what} does not match its seal")
            break
        walk.previous, walk.last = stored_link, position
        walk.verified += 1
        if progress is not None and walk.verified % chunk_size == 0:
            progress(chunk_size)
        checkpoint = walk.heads.get(position)
        if checkpoint is not None:
            if checkpoint.head != stored_link:
                since = (walk.checkpoint_before.size if walk.checkpoint_before else 0) + 1
                message = (
                    f"the chain was rewritten between positions {since} and {position}: "
                    f"it no longer ends in checkpoint {checkpoint.number}'s signed head"
                )
                finding = Finding(EDITED, since, message)
                break
            walk.checkpoint_before = checkpoint
    if progress is not None:
        progress(walk.verified % chunk_size)
    return finding


def _starting_point(
    trusted: list[_Checkpoint], *, since_position: int | None, since_time: datetime | None
) -> _Checkpoint | None:
    """The last signed checkpoint before the requested start: its head is trusted as is."""
    chosen = None
    for checkpoint in trusted:
        before_position = since_position is not None and checkpoint.size < since_position
        before_time = (
            since_time is not None
            and checkpoint.created_at is not None
            and checkpoint.created_at <= since_time
        )
        if before_position or before_time:
            chosen = checkpoint
    return chosen


def verify_log(
    *,
    since_position: int | None = None,
    since_time: datetime | None = None,
    chunk_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the log, or from the last checkpoint before `since_*`; a break is reported."""
    public_key = signing.public_key_text()
    report = VerifyReport()
    trusted, log_id, checkpoint_finding = _check_checkpoints(public_key)
    if not log_id:
        first = AuditSeal.objects.filter(position=1).values_list("link_hash", flat=True).first()
        log_id = first[:32] if first else ""
    on_file: list[_Checkpoint] = []
    export_finding = None
    if log_id:
        on_file, export_finding, report.warnings = _check_exports(
            log_id=log_id, public_key=public_key, trusted=trusted
        )
    elif exports.export_logs():
        message = "truncated after checkpoint 0: the log is empty but exports exist"
        export_finding = Finding(TRUNCATED, 1, message)
    report.checkpoints = len(trusted)

    start = _starting_point(trusted, since_position=since_position, since_time=since_time)
    heads = {c.size: c for c in on_file}
    heads.update({c.size: c for c in trusted})
    walk = _Walk(
        last=start.size if start else 0,
        previous=start.head if start else GENESIS_HASH,
        heads=heads,
        checkpoint_before=start,
    )
    report.first_position = walk.last + 1
    stream_finding = _walk(walk, chunk_size=chunk_size, progress=progress)
    report.verified, report.last_position = walk.verified, walk.last

    truncation = None
    required = max([c.size for c in trusted] + [c.size for c in on_file], default=0)
    if stream_finding is None and required > walk.last:
        kept = [c.number for c in trusted if c.size <= walk.last]
        message = (
            f"truncated after checkpoint {kept[-1] if kept else 0}: checkpoints cover "
            f"{required} entries, the log ends at {walk.last}"
        )
        truncation = Finding(TRUNCATED, walk.last + 1, message)

    extra = _extra_entry(walk.horizon) if walk.horizon else None
    report.finding = _earliest(
        checkpoint_finding, export_finding, stream_finding, truncation, extra
    )
    key = "stamp" if connection.vendor == "postgresql" else "id"
    unsealed = AuditEntry.objects.filter(seal__isnull=True, **{f"{key}__gte": walk.horizon})
    report.pending = unsealed.count()
    return report
