"""Ed25519 signatures over checkpoint statements, with the key from AUDIT_SIGNING_KEY.

The private key lives only in the environment (never in the database), so someone who can
rewrite the database can recompute hashes but cannot sign a checkpoint that verifies.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from compliance.canonical import format_time

STATEMENT_VERSION = 1


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signing_key() -> Ed25519PrivateKey:
    """The configured key: base64url of a 32-byte seed, padding optional."""
    configured: str = settings.AUDIT_SIGNING_KEY
    if not configured:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY is not set; audit checkpoints need it")
    try:
        seed = _b64decode(configured.strip())
    except (binascii.Error, ValueError) as error:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY is not base64url") from error
    if len(seed) != 32:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must decode to a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey | None = None) -> str:
    """The public half as base64url: printed in exports so anyone can check them."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = (key or signing_key()).public_key()
    return b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def statement(
    *,
    log_id: str,
    number: int,
    size: int,
    head_hash: str,
    created_at: datetime,
    public_key: str,
) -> dict[str, Any]:
    """What a checkpoint asserts; its RFC 8785 bytes are what gets signed."""
    return {
        "v": STATEMENT_VERSION,
        "type": "ledgerline.audit.checkpoint",
        "log": log_id,
        "number": number,
        "size": size,
        "head": head_hash,
        "created_at": format_time(created_at),
        "key": public_key,
    }


def links_statement(*, log_id: str, number: int, first: int, links: list[str]) -> dict[str, Any]:
    """The link hashes of positions `first` to checkpoint `number`'s size, signed with it.

    Exported beside the checkpoint: when the chain was recomputed consistently up to a
    checkpoint, these say at which position it first departs from what was sealed.
    """
    return {
        "v": STATEMENT_VERSION,
        "type": "ledgerline.audit.links",
        "log": log_id,
        "number": number,
        "from": first,
        "links": links,
    }


def sign(document: dict[str, Any], key: Ed25519PrivateKey | None = None) -> str:
    return b64encode((key or signing_key()).sign(rfc8785.dumps(document)))


def signature_valid(document: dict[str, Any], signature: str, public_key: str) -> bool:
    """True when `signature` is `public_key`'s signature over the document's canonical bytes."""
    try:
        verifier = Ed25519PublicKey.from_public_bytes(_b64decode(public_key))
        verifier.verify(_b64decode(signature), rfc8785.dumps(document))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
