"""Deletion certificates: an Ed25519-signed JSON document an auditor can verify offline.

The file is `{"certificate": {...}, "signature": "<base64url>"}`; the signature covers the
RFC 8785 (JCS) bytes of `certificate`, with the audit log's key (AUDIT_SIGNING_KEY, held
outside the database; compliance.signing). Verification needs only the file and the public
key: no database (`manage.py verify_certificate FILE`).
"""

from __future__ import annotations

from typing import Any

from compliance import signing

CERTIFICATE_TYPE = "ledgerline.data_request.certificate"
CERTIFICATE_VERSION = 1

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
}


def certificate_sign(document: dict[str, Any]) -> dict[str, Any]:
    """The signed file for `document` (which gets the signing key's public half)."""
    body = {**document, "key": signing.public_key_text()}
    return {"certificate": body, "signature": signing.sign(body)}


def certificate_problem(data: Any, *, trusted_key: str) -> str | None:
    """None when `data` is a genuine certificate signed by `trusted_key`, else what is wrong."""
    if not isinstance(data, dict) or set(data) != {"certificate", "signature"}:
        return "not a certificate file: expected exactly the keys certificate and signature"
    body, signature = data["certificate"], data["signature"]
    if not isinstance(body, dict) or not isinstance(signature, str):
        return "not a certificate file: certificate must be an object, signature a string"
    for name, kind in _FIELDS.items():
        if name not in body:
            return f"field {name} is missing"
        value = body[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field {name} has the wrong type"
    if body["type"] != CERTIFICATE_TYPE or body["v"] != CERTIFICATE_VERSION:
        return f"not a version {CERTIFICATE_VERSION} Ledgerline deletion certificate"
    if body["key"] != trusted_key:
        return "signed by a key that is not the trusted one"
    if not signing.signature_valid(body, signature, trusted_key):
        return "the signature does not match the content (the certificate was changed)"
    return None
