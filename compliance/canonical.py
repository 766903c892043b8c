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
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# The C string encoder without ASCII escaping: exactly RFC 8785's string form.
_string = encode_basestring
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
    """SHA-256 (hex) of the canonical document of a row laid out as `ENTRY_COLUMNS`.

    `created_at` comes already spelt by `format_time` (the verifier has PostgreSQL spell it).
    The document is every stored field, so a change to any of them changes the hash:

        {"action", "actor": {"id", "kind"}, "created_at", "id", "merchant",
         "origin": {"ip", "request_id", "user_agent"}, "outcome", "payload", "stamp",
         "target": {"id", "type"}, "v": 1}

    It is written out directly, keys already in RFC 8785 order, with the C string encoder;
    a property test checks the bytes against the `rfc8785` package.
    """
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
    text = (
        f'{{"action":{_string(action)},"actor":{{"id":{_string(actor_id)},'
        f'"kind":{_string(actor_kind)}}},"created_at":{_string(created_at)},"id":{int(entry_id)},'
        f'"merchant":{_string(merchant)},"origin":{{"ip":{_string(ip)},'
        f'"request_id":{_string(request_id)},"user_agent":{_string(user_agent)}}},'
        f'"outcome":{_string(outcome)},"payload":{_encoder.encode(payload)},'
        f'"stamp":{"null" if stamp is None else int(stamp)},'
        f'"target":{{"id":{_string(target_id)},"type":{_string(target_type)}}},"v":1}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_hash(*, previous: str, position: int, horizon: int, entry_hash: str) -> str:
    """The chain hash at `position`: binds the previous link, the place and the entry."""
    material = (
        bytes.fromhex(previous) + f":{position}:{horizon}:".encode() + bytes.fromhex(entry_hash)
    )
    return hashlib.sha256(material).hexdigest()
