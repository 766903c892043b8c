"""Deletion certificates: an Ed25519-signed JSON document an auditor can verify offline.

The file is `{"certificate": {...}, "signature": "<base64url>"}`; the signature covers the
RFC 8785 (JCS) bytes of `certificate`, with the audit log's key (AUDIT_SIGNING_KEY, held
outside the database; compliance.signing). Verification needs only the file and the public
key: no database (`manage.py verify_certificate FILE`).

The certificate also proves it is on the audit log. Its content without the `audit` section
(the *core*) is digested (SHA-256, base64url) into a `data_request.certified` audit entry;
once that entry is sealed, `audit` carries the entry's columns, its position, and the chain
from the link before it up to a signed checkpoint's head:

    link(position) = sha256(previous || ":position:horizon:" || entry_hash)
    link(position + i) = sha256(link(position + i - 1) || ":...:" || path[i - 1])
    link(checkpoint size) == checkpoint statement's head, signed by the same key

so the auditor can check, offline, that the log committed to this very certificate at that
position before the checkpoint was signed (and a log rewritten since fails `audit_verify`
against the exported checkpoint files).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import rfc8785

from compliance import signing
from compliance.canonical import ENTRY_COLUMNS, entry_hash_from_row, link_hash

CERTIFICATE_TYPE = "ledgerline.data_request.certificate"
CERTIFICATE_VERSION = 2
CERTIFIED_ACTION = "data_request.certified"
CHECKPOINT_TYPE = "ledgerline.audit.checkpoint"

# Field -> JSON type it must have: a certificate missing one, or with another shape, is not
# one we issued, whatever its signature.
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "v": int,
    "request": str,
    "request_type": str,
    "ground": str,
    "subject": dict,
    "received_at": str,
    "verified_at": str,
    "completed_at": str,
    "days_used": int,
    "opened_by": str,
    "verified_by": str,
    "approved_by": str,
    "operator": str,
    "systems": list,
    "processors": list,
    "backups_beyond_use_until": str,
    "key": str,
    "audit": dict,
}
_SUBJECT_FIELDS: dict[str, type] = {"kind": str, "id": str, "merchant": str}
_SYSTEM_FIELDS: dict[str, type] = {
    "system": str,
    "action": str,
    "deleted": int,
    "anonymised": int,
    "retained": int,
    "basis": str,
    "retained_until": str,
}
_PROCESSOR_FIELDS: dict[str, type] = {"name": str, "confirmations": list}
_ACTIONS = frozenset({"delete", "anonymise", "retain"})
_HASH = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_STRINGS = tuple(c for c in ENTRY_COLUMNS if c not in ("id", "stamp", "payload"))


def certificate_digest(core: dict[str, Any]) -> str:
    """What the `data_request.certified` audit entry records of the certificate's core."""
    return signing.b64encode(hashlib.sha256(rfc8785.dumps(core)).digest())


def certificate_core(body: dict[str, Any]) -> dict[str, Any]:
    """The certificate without its audit section: what the audit entry commits to."""
    return {name: value for name, value in body.items() if name != "audit"}


def _problem_of_type(body: dict[str, Any]) -> str | None:
    for name, kind in _FIELDS.items():
        if name not in body:
            return f"field {name} is missing"
        value = body[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field {name} has the wrong type"
    extra = sorted(set(body) - set(_FIELDS))
    if extra:
        return f"unexpected field {extra[0]}"
    if body["type"] != CERTIFICATE_TYPE or body["v"] != CERTIFICATE_VERSION:
        return f"not a version {CERTIFICATE_VERSION} Ledgerline deletion certificate"
    return None


def _shape_problem(value: Any, fields: dict[str, type], where: str) -> str | None:
    if not isinstance(value, dict) or set(value) != set(fields):
        return f"{where} must have exactly the fields {', '.join(sorted(fields))}"
    for name, kind in fields.items():
        if not isinstance(value[name], kind) or (kind is int and isinstance(value[name], bool)):
            return f"{where}: field {name} has the wrong type"
    return None


def _time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _content_problem(body: dict[str, Any]) -> str | None:
    """The facts must hang together: times in order, days counted right, every system and
    processor fully described (a retained system says why and until when)."""
    if problem := _shape_problem(body["subject"], _SUBJECT_FIELDS, "subject"):
        return problem
    received, verified, completed = (
        _time(body[name]) for name in ("received_at", "verified_at", "completed_at")
    )
    if received is None or verified is None or completed is None:
        return "received_at, verified_at and completed_at must be ISO 8601 times with a zone"
    if not received <= verified <= completed:
        return "the times are out of order (received, verified, completed)"
    if body["days_used"] != (completed.date() - received.date()).days:
        return "days_used does not match received_at and completed_at"
    for index, system in enumerate(body["systems"]):
        where = f"systems[{index}]"
        if problem := _shape_problem(system, _SYSTEM_FIELDS, where):
            return problem
        if system["action"] not in _ACTIONS:
            return f"{where}: unknown action {system['action'][:20]!r}"
        if system["retained"] and not (system["basis"] and system["retained_until"]):
            return f"{where}: retained rows without a legal basis and an end date"
    for index, processor in enumerate(body["processors"]):
        where = f"processors[{index}]"
        if problem := _shape_problem(processor, _PROCESSOR_FIELDS, where):
            return problem
        if not all(isinstance(c, str) and c for c in processor["confirmations"]):
            return f"{where}: confirmations must be non-empty ids"
    try:
        datetime.fromisoformat(body["backups_beyond_use_until"])
    except ValueError:
        return "backups_beyond_use_until is not a date"
    return None


def _entry_row(entry: Any) -> tuple[Any, ...] | str:
    """The audit entry's columns as the sealer hashes them, or what is wrong with them."""
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_COLUMNS):
        return "audit.entry must have exactly the audit entry's columns"
    if not isinstance(entry["id"], int) or isinstance(entry["id"], bool):
        return "audit.entry.id has the wrong type"
    if entry["stamp"] is not None and (
        not isinstance(entry["stamp"], int) or isinstance(entry["stamp"], bool)
    ):
        return "audit.entry.stamp has the wrong type"
    if not all(isinstance(entry[name], str) for name in _ENTRY_STRINGS):
        return "audit.entry has a column of the wrong type"
    if not isinstance(entry["payload"], dict):
        return "audit.entry.payload has the wrong type"
    return tuple(entry[name] for name in ENTRY_COLUMNS)


def _inclusion_problem(body: dict[str, Any], trusted_key: str) -> str | None:
    """Is the certificate's audit entry at its position under a checkpoint we signed?"""
    audit = body["audit"]
    if set(audit) != {"position", "entry", "proof", "checkpoint"}:
        return "audit must have exactly position, entry, proof and checkpoint"
    position, proof, checkpoint = audit["position"], audit["proof"], audit["checkpoint"]
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        return "audit.position must be a positive integer"
    row = _entry_row(audit["entry"])
    if isinstance(row, str):
        return row
    entry = audit["entry"]
    if entry["action"] != CERTIFIED_ACTION or entry["target_id"] != body["request"]:
        return "the audit entry is not this request's certification"
    if entry["payload"].get("sha256") != certificate_digest(certificate_core(body)):
        return "the audit entry records another certificate (its digest differs)"
    if not isinstance(proof, dict) or set(proof) != {"previous", "horizon", "path"}:
        return "audit.proof must have exactly previous, horizon and path"
    steps = proof["path"]
    if (
        not isinstance(proof["previous"], str)
        or not _HASH.match(proof["previous"])
        or not isinstance(proof["horizon"], int)
        or not isinstance(steps, list)
        or not all(
            isinstance(step, list)
            and len(step) == 2
            and isinstance(step[0], int)
            and isinstance(step[1], str)
            and _HASH.match(step[1])
            for step in steps
        )
    ):
        return "audit.proof is malformed"
    if not isinstance(checkpoint, dict) or set(checkpoint) != {"statement", "signature"}:
        return "audit.checkpoint must have exactly statement and signature"
    statement, signature = checkpoint["statement"], checkpoint["signature"]
    if (
        not isinstance(statement, dict)
        or not isinstance(signature, str)
        or statement.get("type") != CHECKPOINT_TYPE
        or not isinstance(statement.get("size"), int)
        or not isinstance(statement.get("head"), str)
    ):
        return "audit.checkpoint is not a checkpoint statement"
    if statement.get("key") != trusted_key:
        return "the audit checkpoint is signed by a key that is not the trusted one"
    if not signing.signature_valid(statement, signature, trusted_key):
        return "the audit checkpoint's signature does not match its statement"
    link = link_hash(
        previous=proof["previous"],
        position=position,
        horizon=proof["horizon"],
        entry_hash=entry_hash_from_row(row),
    )
    for offset, (horizon, entry_hash) in enumerate(steps, start=1):
        link = link_hash(
            previous=link, position=position + offset, horizon=horizon, entry_hash=entry_hash
        )
    if position + len(steps) != statement["size"]:
        return (
            f"the inclusion proof ends at position {position + len(steps)}, "
            f"not at the checkpoint's size {statement['size']}"
        )
    if link != statement["head"]:
        return (
            f"the inclusion proof does not lead to checkpoint {statement.get('number')}'s "
            f"head: the audit entry is not at position {position} of the signed log"
        )
    return None


def certificate_problem(data: Any, *, trusted_key: str) -> str | None:
    """None when `data` is a genuine certificate signed by `trusted_key`, else what is wrong."""
    if not isinstance(data, dict) or set(data) != {"certificate", "signature"}:
        return "not a certificate file: expected exactly the keys certificate and signature"
    body, signature = data["certificate"], data["signature"]
    if not isinstance(body, dict) or not isinstance(signature, str):
        return "not a certificate file: certificate must be an object, signature a string"
    if problem := _problem_of_type(body):
        return problem
    if body["key"] != trusted_key:
        return "signed by a key that is not the trusted one"
    # The content and the proof before the signature: a changed certificate fails the
    # signature anyway, but these name what no longer hangs together (and an auditor's
    # verification does not rest on trusting the issuer's code).
    if problem := _content_problem(body):
        return problem
    if problem := _inclusion_problem(body, trusted_key):
        return problem
    if not signing.signature_valid(body, signature, trusted_key):
        return "the signature does not match the content (the certificate was changed)"
    return None
