"""The sealer: puts committed entries on the hash chain in commit order and signs checkpoints.

Entries are inserted unchained, so writers never wait on each other. The sealer runs alone
(an advisory lock on PostgreSQL; SQLite serialises writers anyway) and each run:

1. takes a *horizon*. PostgreSQL: each entry gets a `stamp` from a sequence in an insert
   trigger; the first time a transaction writes an entry, the trigger first reads the
   sequence's current value `r` and takes a shared advisory lock carrying `r` (held to the end
   of the transaction, blocking nobody), and only then stamps (so all its stamps exceed `r`).
   The sealer reads the sequence (`issued`) and *then* the announcement locks of other
   sessions; the horizon is min(issued, every announced `r`) + 1. A writer that announced in
   time is in the list and keeps the horizon at or below its stamps; one that announced later
   stamps above `issued`. So every entry below the horizon belongs to a finished transaction:
   committed and visible, or rolled back and gone for good; an entry of a transaction still
   running (even one with a lower id than entries already sealed) waits for a later run
   instead of being skipped forever. Only audit writers hold the horizon back, not unrelated
   long transactions. SQLite: one past the highest entry id; writers are serialised there,
   so ids are assigned in commit order.
2. seals every entry between the previous run's horizon and this one, in stamp (insertion)
   order on PostgreSQL and id order on SQLite,
   appending (position, entry hash, chain hash, horizon) rows to the append-only seal table.
3. signs a checkpoint each time MAX_ENTRIES positions have accumulated since the last one, and
   at the end when asked to, or when the last checkpoint is older than MAX_AGE; checkpoints are
   exported as files after commit.

Positions therefore follow commit order at the granularity of a run, insertion order within one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from compliance import db_guards, exports, signing
from compliance.canonical import (
    ENTRY_COLUMNS,
    GENESIS_HASH,
    entry_hash_from_row,
    format_time,
    link_hash,
)
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal

logger = logging.getLogger(__name__)

# "LLAU": one sealer at a time across every process.
ADVISORY_LOCK_KEY = 0x4C4C4155
BATCH_SIZE = 2000


@dataclass(frozen=True)
class SealResult:
    sealed: int
    checkpoints: tuple[int, ...]
    head: int


@dataclass
class _Checkpoint:
    number: int
    size: int
    created_at: datetime | None
    log_id: str


# position, entry id, entry hash, link hash, horizon
_SealRow = tuple[int, int, str, str, int]
_SEAL_COLUMNS = ("position", "entry_id", "entry_hash", "link_hash", "horizon")


def _insert_seals(seals: list[_SealRow]) -> None:
    """Append seal rows in the sealing transaction.

    PostgreSQL: psycopg 3's COPY streams them in one statement, far cheaper than building a
    model and binding five parameters per row (bulk sealing after an outage is millions of rows).
    COPY is an ordinary insert for the transaction, the constraints and the triggers.
    SQLite has no COPY: bulk_create.
    """
    if not seals:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            sql = f"COPY compliance_auditseal ({', '.join(_SEAL_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for seal in seals:
                    copy.write_row(seal)
        return
    AuditSeal.objects.bulk_create(
        AuditSeal(**dict(zip(_SEAL_COLUMNS, seal, strict=True))) for seal in seals
    )


def _take_lock(*, wait: bool) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def current_horizon() -> int:
    """Below this key every entry's transaction has finished (see the module docstring)."""
    if connection.vendor != "postgresql":
        highest = AuditEntry.objects.aggregate(highest=Max("id"))["highest"]
        return int(highest or 0) + 1
    with connection.cursor() as cursor:
        # The sequence first, the announcements second: a writer that announces after this
        # read stamps above it (see db_guards); one that announced before is in the list.
        sequence = db_guards.STAMP_SEQUENCE
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 - a constant
        last_value, is_called = cursor.fetchone()
        issued = int(last_value) if is_called else int(last_value) - 1
        cursor.execute(
            "SELECT l.objid::bigint FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid = %s"
            " AND d.datname = current_database() AND l.pid <> pg_backend_pid()",
            [db_guards.WRITER_LOCK_CLASS],
        )
        announced = [
            # The lock carries the low 32 bits; the full value is the closest one <= issued.
            issued - ((issued - int(low)) % 2**32)
            for (low,) in cursor.fetchall()
        ]
    # Stamps are strictly above their writer's announcement. This session's own lock is
    # left out: its entries are visible to it and get sealed with it.
    return min([issued, *announced]) + 1


def pending_entries(*, since_horizon: int, horizon: int) -> QuerySet[AuditEntry]:
    """The entries a run with these horizons must seal.

    No anti-join with the seal table is needed (it made each page scan the whole log): every
    earlier run sealed exactly the entries below its horizon, so none in this window is sealed.
    """
    if connection.vendor == "postgresql":
        return AuditEntry.objects.filter(stamp__gte=since_horizon, stamp__lt=horizon)
    return AuditEntry.objects.filter(id__gte=since_horizon, id__lt=horizon)


def _last_checkpoint() -> _Checkpoint:
    row = (
        AuditCheckpoint.objects.order_by("-number")
        .values_list("number", "size", "created_at", "log_id")
        .first()
    )
    if row is None:
        return _Checkpoint(number=0, size=0, created_at=None, log_id="")
    return _Checkpoint(number=row[0], size=row[1], created_at=row[2], log_id=row[3])


def _log_id() -> str:
    # Derived from the first link, so the export directory is tied to this chain and no other.
    first = AuditSeal.objects.filter(position=1).values_list("link_hash", flat=True).first()
    return (first or GENESIS_HASH)[:32]


def _write_checkpoint(last: _Checkpoint, *, size: int, head: str) -> _Checkpoint:
    key = signing.signing_key()
    created_at = timezone.now()
    log_id = last.log_id or _log_id()
    number = last.number + 1
    document = signing.statement(
        log_id=log_id,
        number=number,
        size=size,
        head_hash=head,
        created_at=created_at,
        public_key=signing.public_key_text(key),
    )
    signature = signing.sign(document, key)
    links = _signed_links(log_id=log_id, number=number, first=last.size + 1, size=size, key=key)
    AuditCheckpoint.objects.create(
        number=number,
        log_id=log_id,
        size=size,
        head_hash=head,
        created_at=created_at,
        public_key=document["key"],
        signature=signature,
    )
    transaction.on_commit(
        lambda: exports.export_checkpoint(statement=document, signature=signature, links=links)
    )
    return _Checkpoint(number=number, size=size, created_at=created_at, log_id=log_id)


def _signed_links(
    *, log_id: str, number: int, first: int, size: int, key: Ed25519PrivateKey
) -> dict[str, Any]:
    """The link hashes from `first` to `size` as sealed, signed for the checkpoint's file."""
    links = list(
        AuditSeal.objects.filter(position__gte=first, position__lte=size)
        .order_by("position")
        .values_list("link_hash", flat=True)
    )
    document = signing.links_statement(log_id=log_id, number=number, first=first, links=links)
    return {"statement": document, "signature": signing.sign(document, key)}


def export_missing_checkpoints() -> int:
    """Export checkpoints committed but not yet on file (a crash between commit and export)."""
    written = 0
    key: Ed25519PrivateKey | None = None
    for checkpoint in AuditCheckpoint.objects.order_by("-number").iterator():
        if exports.exported(checkpoint.number, log_id=checkpoint.log_id):
            break
        key = key or signing.signing_key()
        before = (
            AuditCheckpoint.objects.filter(number__lt=checkpoint.number)
            .order_by("-number")
            .values_list("size", flat=True)
            .first()
        )
        links = _signed_links(
            log_id=checkpoint.log_id,
            number=checkpoint.number,
            first=(before or 0) + 1,
            size=checkpoint.size,
            key=key,
        )
        exports.export_checkpoint(
            statement=checkpoint.statement(), signature=checkpoint.signature, links=links
        )
        written += 1
    return written


def _checkpoint_due(last: _Checkpoint, *, head: int, force: bool) -> bool:
    if head <= last.size:
        return False
    if force or last.created_at is None:
        return True
    return timezone.now() - last.created_at >= settings.AUDIT_CHECKPOINT_MAX_AGE


def seal_pending(
    *,
    force_checkpoint: bool,
    wait_for_lock: bool,
    progress: Callable[[int], None] | None = None,
) -> SealResult:
    """Seal what has committed since the last run; see the module docstring for the rules."""
    max_entries: int = settings.AUDIT_CHECKPOINT_MAX_ENTRIES
    with transaction.atomic():
        if not _take_lock(wait=wait_for_lock):
            return SealResult(sealed=0, checkpoints=(), head=0)
        head = (
            AuditSeal.objects.order_by("-position")
            .values_list("position", "link_hash", "horizon")
            .first()
        )
        position, previous, since_horizon = head or (0, GENESIS_HASH, 0)
        horizon = current_horizon()
        last = _last_checkpoint()
        written: list[int] = []
        # PostgreSQL pages by stamp (unique, indexed, the window's own column: an index range
        # scan per page); SQLite by id, which is its commit order.
        key = "stamp" if connection.vendor == "postgresql" else "id"
        pending = pending_entries(since_horizon=since_horizon, horizon=horizon).order_by(key)
        start, last_key = position, -1
        while True:
            # Keyset pages rather than one long cursor: the loop inserts seals as it goes. A
            # page is a range of BATCH_SIZE keys, not a LIMIT: right after a burst (a catch-up,
            # the benchmark) the table has no statistics yet and the planner would sort the
            # whole remaining window for every LIMIT page, quadratic in the backlog. A range
            # holds at most BATCH_SIZE rows whatever the plan.
            window = {f"{key}__gt": last_key, f"{key}__lte": last_key + BATCH_SIZE}
            rows = list(pending.filter(**window).values_list(*ENTRY_COLUMNS))
            if not rows:
                # A gap in the keys (rolled-back writers): jump to the next key, if any.
                following = pending.filter(**{f"{key}__gt": last_key}).aggregate(low=Min(key))
                if following["low"] is None:
                    break
                last_key = int(following["low"]) - 1
                continue
            seals: list[_SealRow] = []
            for row in rows:
                position += 1
                entry_hash = entry_hash_from_row((row[0], row[1], format_time(row[2]), *row[3:]))
                previous = link_hash(
                    previous=previous, position=position, horizon=horizon, entry_hash=entry_hash
                )
                seals.append((position, row[0], entry_hash, previous, horizon))
                if position - last.size >= max_entries:
                    # The checkpoint is signed over seals already written in this transaction.
                    _insert_seals(seals)
                    seals = []
                    last = _write_checkpoint(last, size=position, head=previous)
                    written.append(last.number)
            _insert_seals(seals)
            last_key += BATCH_SIZE
            if progress is not None:
                progress(len(rows))
        if _checkpoint_due(last, head=position, force=force_checkpoint):
            last = _write_checkpoint(last, size=position, head=previous)
            written.append(last.number)
    if not connection.in_atomic_block:
        # Inside a caller's transaction the checkpoints are not committed yet: on_commit
        # exports them then, and a rollback must not leave files behind.
        export_missing_checkpoints()
    if position > start:
        # Inline runs (after every audited commit in the embedded default) are routine: DEBUG.
        level = logging.INFO if force_checkpoint else logging.DEBUG
        logger.log(level, "audit: sealed %d entries up to position %d", position - start, position)
    return SealResult(sealed=position - start, checkpoints=tuple(written), head=position)
