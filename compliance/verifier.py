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

# Over 500 lines because it is one algorithm behind one public function (`verify_log`): the
# checkpoint checks, the chain walk and its worker processes share private types and the rule
# deciding which break is reported first.

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections
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

# Clocks of the processes that record entries and of the sealer may differ this much.
CLOCK_TOLERANCE = timedelta(seconds=5)
# How far past a mismatch the verifier looks to tell a moved entry from an edited one.
CLASSIFY_WINDOW = 10_000
# Below this many entries a worker process costs more than it saves: verify in this process.
PARALLEL_MIN_ENTRIES = 50_000
# More processes than this only queue for the database server's own cores.
MAX_WORKERS = 8
_CREATED_AT = ENTRY_COLUMNS.index("created_at")
_PAYLOAD = ENTRY_COLUMNS.index("payload")
# PostgreSQL spells the timestamp exactly as `canonical.format_time` does, in C.
_PG_TIME = """to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _chain_query(vendor: str, *, limited: bool) -> str:
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
        " WHERE s.position > %s ORDER BY s.position" + (" LIMIT %s" if limited else "")
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


def _stream(start: int, chunk_size: int, limit: int | None) -> Iterator[tuple[Any, ...]]:
    """The chain from `start` on, through a server-side cursor (PostgreSQL): flat memory."""
    postgres = connection.vendor == "postgresql"
    with connection.chunked_cursor() as cursor:
        limited = limit is not None
        cursor.execute(
            _chain_query(connection.vendor, limited=limited), [start, *([limit] if limited else [])]
        )
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
    # How many contiguous segments were verified (1: the sequential path, in this process).
    segments: int = 1

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class _Checkpoint:
    number: int
    size: int
    head: str
    created_at: datetime | None
    log_id: str = ""


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
            _Checkpoint(
                number=number,
                size=size,
                head=row.head_hash,
                created_at=row.created_at,
                log_id=row.log_id,
            )
        )
    return trusted, log_id, None


def _statement_time(document: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(document["created_at"]))
    except (KeyError, ValueError):
        return None


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
        on_file.append(
            _Checkpoint(
                number=number,
                size=size,
                head=head,
                created_at=_statement_time(document),
                log_id=log_id,
            )
        )
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


def _rewrite_finding(checkpoint: _Checkpoint, *, since: int) -> Finding:
    """The chain was recomputed consistently up to `checkpoint`: say where it was changed.

    The links signed into the checkpoint's exported file name the first position whose link
    differs from what was sealed: the edited entry. Without that file (or if it does not
    verify) only the stretch since the previous checkpoint can be named.
    """
    position = _departure(checkpoint)
    if position is not None and since <= position <= checkpoint.size:
        message = (
            f"the entry at position {position} was changed and the chain recomputed after it: "
            f"the links signed with checkpoint {checkpoint.number} differ from here on"
        )
        return Finding(EDITED, position, message)
    message = (
        f"the chain was rewritten between positions {since} and {checkpoint.size}: "
        f"it no longer ends in checkpoint {checkpoint.number}'s signed head"
    )
    return Finding(EDITED, since, message)


def _departure(checkpoint: _Checkpoint) -> int | None:
    """The first position whose stored link differs from the links exported with `checkpoint`."""
    exported = exports.read_links(log_id=checkpoint.log_id, number=checkpoint.number)
    if exported is None:
        return None
    document, signature = exported
    links, first = document.get("links"), document.get("from")
    if (
        not signing.signature_valid(document, signature, signing.public_key_text())
        or (document.get("log"), document.get("number")) != (checkpoint.log_id, checkpoint.number)
        or not isinstance(first, int)
        or not isinstance(links, list)
        or first + len(links) - 1 != checkpoint.size
        or not links
        or links[-1] != checkpoint.head
    ):
        return None
    stored = dict(
        AuditSeal.objects.filter(position__gte=first, position__lte=checkpoint.size).values_list(
            "position", "link_hash"
        )
    )
    for offset, signed in enumerate(links):
        if stored.get(first + offset) != signed:
            return first + offset
    return None


def _missing_checkpoint(signed: list[_Checkpoint]) -> Finding | None:
    """Sealed positions that the sealer would have covered by a checkpoint by now, uncovered.

    The sealer signs a checkpoint in its first run, every AUDIT_CHECKPOINT_MAX_ENTRIES
    positions, and in any run more than AUDIT_CHECKPOINT_MAX_AGE after the last one (in the
    same transaction as the seals). So an unsigned tail is honest only while it is shorter than
    MAX_ENTRIES and holds no entry recorded more than MAX_AGE after the newest checkpoint;
    anything else means checkpoints (rows and files) were removed, and the tail may have been
    recomputed at will.
    """
    newest = max(signed, key=lambda checkpoint: checkpoint.size, default=None)
    covered = newest.size if newest else 0
    tail = AuditSeal.objects.filter(position__gt=covered).aggregate(
        last=Max("position"), recorded=Max("entry__created_at")
    )
    last, recorded = tail["last"], tail["recorded"]
    if last is None:
        return None
    where = f"no signed checkpoint covers positions {covered + 1}-{last}"
    if newest is None:
        message = f"{where}: the sealer signs one in its first run, so all were removed"
        return Finding(MISSING, 1, message)
    max_entries: int = settings.AUDIT_CHECKPOINT_MAX_ENTRIES
    if last - covered >= max_entries:
        message = f"{where}: the sealer signs one every {max_entries} positions"
        return Finding(MISSING, covered + 1, message)
    if (
        newest.created_at is not None
        and recorded is not None
        and recorded - newest.created_at > settings.AUDIT_CHECKPOINT_MAX_AGE + CLOCK_TOLERANCE
    ):
        message = (
            f"{where}, though it holds entries recorded at {recorded:%Y-%m-%d %H:%M:%S}, more "
            f"than the checkpoint interval after checkpoint {newest.number}"
        )
        return Finding(MISSING, covered + 1, message)
    return None


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


@dataclass(frozen=True)
class _Segment:
    """Positions `start`+1 to `end` (None: to the end of the log), trusting `head` at `start`.

    `start` is 0 or a signed checkpoint's size and `end` the next signed checkpoint's size, so
    a segment is verified on its own exactly as the sequential pass would verify that stretch.
    """

    start: int
    head: str
    end: int | None
    checkpoint_before: _Checkpoint | None


@dataclass
class _Walk:
    """State of the streamed pass over one segment of the chain."""

    last: int
    previous: str
    heads: dict[int, _Checkpoint]
    checkpoint_before: _Checkpoint | None
    end: int | None = None
    verified: int = 0
    horizon: int = 0
    # Whether any row was walked: `horizon` is only meaningful then.
    read: bool = False


@dataclass(frozen=True)
class _SegmentResult:
    finding: Finding | None
    last: int
    verified: int
    horizon: int
    read: bool


def _walk(
    walk: _Walk, *, chunk_size: int, progress: Callable[[int], None] | None
) -> Finding | None:
    # A bounded segment reads its own rows plus at most what `_classify` looks at past a break
    # (which may lie beyond the segment's end, exactly as in one pass over the whole chain).
    limit = None if walk.end is None else walk.end - walk.last + CLASSIFY_WINDOW
    rows = _stream(walk.last, chunk_size, limit)
    finding = None
    try:
        for row in rows:
            position, stored_hash, stored_link, walk.horizon, *entry = row
            walk.read = True
            if position != walk.last + 1:
                message = f"position {walk.last + 1} is gone (the next present is {position})"
                finding = Finding(MISSING, walk.last + 1, message)
                break
            if entry[_CREATED_AT] is None:
                finding = Finding(MISSING, position, "the entry sealed here is gone")
                break
            computed = entry_hash_from_row(tuple(entry))
            relinked = link_hash(
                previous=walk.previous,
                position=position,
                horizon=walk.horizon,
                entry_hash=stored_hash,
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
                    finding = _rewrite_finding(checkpoint, since=since)
                    break
                walk.checkpoint_before = checkpoint
            if position == walk.end:
                # The end's signed head matched just above: the next segment takes over here.
                break
    finally:
        # Stops the prefetching thread and the server-side cursor now, not at garbage collection.
        rows.close()  # type: ignore[attr-defined]
    if progress is not None:
        progress(walk.verified % chunk_size)
    return finding


def _verify_segment(
    segment: _Segment,
    *,
    heads: dict[int, _Checkpoint],
    chunk_size: int,
    progress: Callable[[int], None] | None,
) -> _SegmentResult:
    walk = _Walk(
        last=segment.start,
        previous=segment.head,
        heads=heads,
        checkpoint_before=segment.checkpoint_before,
        end=segment.end,
    )
    finding = _walk(walk, chunk_size=chunk_size, progress=progress)
    return _SegmentResult(
        finding=finding,
        last=walk.last,
        verified=walk.verified,
        horizon=walk.horizon,
        read=walk.read,
    )


def _plan_segments(
    start: _Checkpoint | None, heads: dict[int, _Checkpoint], workers: int
) -> list[_Segment]:
    """Contiguous segments cut at signed heads, about equal in size, and the unsigned tail."""
    first = start.size if start else 0
    sizes = sorted(size for size in heads if size > first)
    cuts: list[int] = []
    if sizes:
        span = sizes[-1] - first
        for part in range(1, workers):
            target = first + span * part // workers
            cut = sizes[bisect.bisect_left(sizes, target)]
            if cut < sizes[-1] and (not cuts or cut > cuts[-1]):
                cuts.append(cut)
        cuts.append(sizes[-1])
    segments: list[_Segment] = []
    before = start
    for end in [*cuts, None]:
        segments.append(
            _Segment(
                start=before.size if before else 0,
                head=before.head if before else GENESIS_HASH,
                end=end,
                checkpoint_before=before,
            )
        )
        if end is not None:
            before = heads[end]
    return segments


def _segment_child(
    *,
    segment: _Segment,
    heads: dict[int, _Checkpoint],
    chunk_size: int,
    slot: int,
    counts: SynchronizedArray[int],
    sender: Connection,
) -> None:
    """A worker process: verify one segment on a connection of its own, send the result back."""

    def tick(count: int) -> None:
        counts[slot] += count

    outcome: _SegmentResult | tuple[str, str]
    try:
        outcome = _verify_segment(segment, heads=heads, chunk_size=chunk_size, progress=tick)
    except Exception as error:  # noqa: BLE001 - re-raised in the parent, as the sequential path would
        kind = "database" if isinstance(error, DatabaseError) else "os"
        kind = kind if isinstance(error, DatabaseError | OSError) else "other"
        outcome = (kind, f"{type(error).__name__}: {error}")
    finally:
        connections.close_all()
    sender.send(outcome)
    sender.close()


def _child_error(kind: str, message: str) -> Exception:
    if kind == "database":
        return DatabaseError(message)
    if kind == "os":
        return OSError(message)
    return RuntimeError(f"audit_verify worker failed: {message}")


def _ended(segment: _Segment, result: _SegmentResult) -> bool:
    """Whether the pass over the whole chain would stop within this segment."""
    return result.finding is not None or segment.end is None or result.last != segment.end


def _verify_in_processes(  # noqa: PLR0915 - one scheduling loop, clearer whole
    segments: list[_Segment],
    *,
    heads: dict[int, _Checkpoint],
    chunk_size: int,
    workers: int,
    progress: Callable[[int], None] | None,
) -> list[_SegmentResult | None]:
    """Each segment between checkpoints in a forked worker process, at most `workers` at a time;
    the unsigned tail (under MAX_ENTRIES positions) here, meanwhile, not worth a process.

    Every connection is closed before forking: a child must never talk over its parent's
    socket, and opens its own (with its own server-side cursor). Once a segment ends the
    pass, later segments cannot change the result: they are stopped or never started.
    """
    context = multiprocessing.get_context("fork")
    connections.close_all()
    counts = context.Array("q", len(segments), lock=False)
    results: list[_SegmentResult | None] = [None] * len(segments)
    waiting = [index for index, segment in enumerate(segments) if segment.end is not None]
    tail = len(segments) - 1 if segments[-1].end is None else None
    running: dict[Connection, tuple[int, BaseProcess]] = {}
    last_needed = len(segments) - 1
    reported = 0

    def tick_tail(count: int) -> None:
        counts[len(segments) - 1] += count

    try:
        while running or any(index <= last_needed for index in waiting) or tail is not None:
            while waiting and len(running) < workers:
                index = waiting.pop(0)
                if index > last_needed:
                    continue
                receiver, sender = context.Pipe(duplex=False)
                process: BaseProcess = context.Process(
                    target=_segment_child,
                    kwargs={
                        "segment": segments[index],
                        "heads": heads,
                        "chunk_size": chunk_size,
                        "slot": index,
                        "counts": counts,
                        "sender": sender,
                    },
                    name=f"audit-verify-{index}",
                    daemon=True,
                )
                process.start()
                sender.close()
                running[receiver] = (index, process)
            if tail is not None:
                # The children are forked: this process may open its connection again.
                results[tail] = _verify_segment(
                    segments[tail], heads=heads, chunk_size=chunk_size, progress=tick_tail
                )
                tail = None
            for ready in wait(list(running), timeout=0.2):
                found = [pipe for pipe in running if pipe is ready]
                if not found:
                    # Stopped just above, after a finding in an earlier segment.
                    continue
                receiver = found[0]
                index, process = running.pop(receiver)
                try:
                    outcome = receiver.recv()
                except EOFError:
                    outcome = ("other", f"segment {index} exited with code {process.exitcode}")
                finally:
                    receiver.close()
                    process.join()
                if isinstance(outcome, tuple):
                    raise _child_error(*outcome)
                results[index] = outcome
                if index < last_needed and _ended(segments[index], outcome):
                    last_needed = index
                    for other, (other_index, other_process) in list(running.items()):
                        if other_index > last_needed:
                            other_process.terminate()
                            other_process.join()
                            other.close()
                            del running[other]
            if progress is not None:
                done = sum(counts)
                progress(done - reported)
                reported = done
    finally:
        for receiver, (_, process) in running.items():
            process.terminate()
            process.join()
            receiver.close()
    return results


def _combine(
    segments: list[_Segment], results: list[_SegmentResult | None]
) -> tuple[Finding | None, int, int, int]:
    """The finding, last position, count and horizon one pass over the chain would have had."""
    verified, horizon, last = 0, 0, segments[0].start
    for segment, result in zip(segments, results, strict=True):
        if result is None:
            raise RuntimeError(f"audit_verify: segment from {segment.start} was not verified")
        verified += result.verified
        last = result.last
        if result.read:
            horizon = result.horizon
        if _ended(segment, result):
            return result.finding, last, verified, horizon
    return None, last, verified, horizon


def _worker_count(workers: int | None, *, entries: int) -> int:
    """Processes to verify with; 1 (sequential, in this process) when more cannot help."""
    count = min(os.cpu_count() or 1, MAX_WORKERS) if workers is None else workers
    if count < 2 or entries < PARALLEL_MIN_ENTRIES:
        return 1
    if connection.vendor != "postgresql" or "fork" not in multiprocessing.get_all_start_methods():
        # SQLite is the embedded default for small logs (and its test database lives in memory).
        return 1
    if any(other.in_atomic_block for other in connections.all(initialized_only=True)):
        # Workers could not see this transaction's uncommitted rows, and closing the
        # connection before forking would end it.
        return 1
    return count


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
    workers: int | None = None,
) -> VerifyReport:
    """Verify the log, or from the last checkpoint before `since_*`; a break is reported.

    `workers`: processes verifying segments between signed checkpoints at once (default: the
    CPU count, at most MAX_WORKERS); 1, a log under PARALLEL_MIN_ENTRIES, SQLite or an open
    transaction verify sequentially here. The report is the same either way.
    """
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
    begin = start.size if start else 0
    report.first_position = begin + 1
    count = 1
    if workers != 1:
        end = AuditSeal.objects.aggregate(last=Max("position"))["last"] or 0
        count = _worker_count(workers, entries=end - begin)
    segments = (
        _plan_segments(start, heads, count)
        if count > 1
        else [
            _Segment(
                start=begin,
                head=start.head if start else GENESIS_HASH,
                end=None,
                checkpoint_before=start,
            )
        ]
    )
    results: list[_SegmentResult | None]
    if len(segments) > 1:
        results = _verify_in_processes(
            segments, heads=heads, chunk_size=chunk_size, workers=count, progress=progress
        )
    else:
        results = [
            _verify_segment(segments[0], heads=heads, chunk_size=chunk_size, progress=progress)
        ]
    stream_finding, last, report.verified, horizon = _combine(segments, results)
    report.last_position, report.segments = last, len(segments)

    truncation = None
    required = max([c.size for c in trusted] + [c.size for c in on_file], default=0)
    if stream_finding is None and required > last:
        kept = [c.number for c in trusted if c.size <= last]
        message = (
            f"truncated after checkpoint {kept[-1] if kept else 0}: checkpoints cover "
            f"{required} entries, the log ends at {last}"
        )
        truncation = Finding(TRUNCATED, last + 1, message)

    extra = _extra_entry(horizon) if horizon else None
    # A checkpoint row or file that does not verify is the more precise finding.
    unsigned = (
        _missing_checkpoint([*trusted, *on_file])
        if checkpoint_finding is None and export_finding is None
        else None
    )
    report.finding = _earliest(
        checkpoint_finding, export_finding, stream_finding, truncation, extra, unsigned
    )
    key = "stamp" if connection.vendor == "postgresql" else "id"
    unsealed = AuditEntry.objects.filter(seal__isnull=True, **{f"{key}__gte": horizon})
    report.pending = unsealed.count()
    return report
