"""The audit section of a deletion certificate: its audit entry, position and inclusion proof.

Built from the seal table once the certification entry is sealed: the link before the entry,
then (horizon, entry hash) of every position after it up to the first signed checkpoint that
covers it. `compliance.certificates` checks it offline.
"""

from __future__ import annotations

from typing import Any

from compliance.canonical import ENTRY_COLUMNS, GENESIS_HASH, entry_hash_from_row, format_time
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal
from compliance.sealer import seal_pending

_CREATED_AT = ENTRY_COLUMNS.index("created_at")


class AuditProofError(RuntimeError):
    """The log does not hold the entry as it was sealed: a certificate cannot be proven."""


def _seal(entry_id: int) -> tuple[int, str, int] | None:
    return (
        AuditSeal.objects.filter(entry_id=entry_id)
        .values_list("position", "entry_hash", "horizon")
        .first()
    )


def _covering_checkpoint(position: int) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(size__gte=position).order_by("number").first()


def audit_inclusion(entry_id: int) -> dict[str, Any] | None:
    """The proof that entry `entry_id` is on the signed log, sealing and signing a checkpoint
    now when needed; None while the entry cannot be sealed yet (an older audit-writing
    transaction still runs, holding the sealer's horizon below it: try again later)."""
    seal = _seal(entry_id)
    if seal is None or _covering_checkpoint(seal[0]) is None:
        seal_pending(force_checkpoint=True, wait_for_lock=True)
        seal = _seal(entry_id)
    if seal is None:
        return None
    position, entry_hash, horizon = seal
    checkpoint = _covering_checkpoint(position)
    if checkpoint is None:
        return None
    row = list(AuditEntry.objects.filter(pk=entry_id).values_list(*ENTRY_COLUMNS).get())
    row[_CREATED_AT] = format_time(row[_CREATED_AT])
    if entry_hash_from_row(tuple(row)) != entry_hash:
        raise AuditProofError(f"audit entry {entry_id} differs from what was sealed")
    previous = (
        AuditSeal.objects.filter(position=position - 1).values_list("link_hash", flat=True).first()
        if position > 1
        else GENESIS_HASH
    )
    if previous is None:
        raise AuditProofError(f"audit position {position - 1} is missing")
    path = [
        [following_horizon, following_hash]
        for following_horizon, following_hash in AuditSeal.objects.filter(
            position__gt=position, position__lte=checkpoint.size
        )
        .order_by("position")
        .values_list("horizon", "entry_hash")
    ]
    if len(path) != checkpoint.size - position:
        raise AuditProofError(f"audit positions {position} to {checkpoint.size} are incomplete")
    return {
        "position": position,
        "entry": dict(zip(ENTRY_COLUMNS, row, strict=True)),
        "proof": {"previous": previous, "horizon": horizon, "path": path},
        "checkpoint": {"statement": checkpoint.statement(), "signature": checkpoint.signature},
    }
