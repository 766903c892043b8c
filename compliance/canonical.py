"""Canonical bytes of audit entries (RFC 8785, JCS) and the hashes of the chain over them.

Payloads are restricted at recording time (see `compliance.payloads`) to strings, integers in
the I-JSON range, booleans, null, lists and objects with ASCII keys. On that domain Python's
`json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` produces exactly the
RFC 8785 bytes (a property test checks it against the `rfc8785` package), and it runs in C, which
is what lets `audit_verify` check well over 100,000 entries a second.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of `value` (on the payload domain described above)."""
    return _encoder.encode(value).encode("utf-8")


def format_time(moment: datetime) -> str:
    """A fixed-width UTC timestamp with microseconds: one instant, one spelling."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


# The order of entry columns in `ENTRY_COLUMNS` rows, shared by the sealer and the verifier.
ENTRY_COLUMNS = (
    "id",
    "stamp",
    "created_at",
    "actor_kind",
    "actor_id",
    "merchant_public_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "payload",
)


def entry_hash_from_row(row: tuple[Any, ...]) -> str:
    """SHA-256 (hex) of the canonical document of a row laid out as `ENTRY_COLUMNS`."""
    (
        entry_id,
        stamp,
        created_at,
        actor_kind,
        actor_id,
        merchant,
        action,
        target_type,
        target_id,
        outcome,
        ip,
        user_agent,
        request_id,
        payload,
    ) = row
    # Every stored field: a change to any of them changes the entry hash. The timestamp has a
    # fixed-width UTC spelling so one instant has one encoding.
    document = {
        "v": 1,
        "id": entry_id,
        "stamp": stamp,
        "created_at": created_at.astimezone(UTC).strftime(TIME_FORMAT),
        "actor": {"kind": actor_kind, "id": actor_id},
        "merchant": merchant,
        "action": action,
        "target": {"type": target_type, "id": target_id},
        "outcome": outcome,
        "origin": {"ip": ip, "user_agent": user_agent, "request_id": request_id},
        "payload": payload,
    }
    return hashlib.sha256(_encoder.encode(document).encode("utf-8")).hexdigest()


def link_hash(*, previous: str, position: int, horizon: int, entry_hash: str) -> str:
    """The chain hash at `position`: binds the previous link, the place and the entry."""
    material = (
        bytes.fromhex(previous) + f":{position}:{horizon}:".encode() + bytes.fromhex(entry_hash)
    )
    return hashlib.sha256(material).hexdigest()
