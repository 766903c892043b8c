"""Envelope encryption under the project's one key ring, shared by every app that keeps secrets.

A secret is sealed with AES-256-GCM under a fresh 256-bit data key, with associated data the
caller chooses (naming the secret's owner, so a ciphertext copied to another row fails to
open). The data key is wrapped by a key-encryption key: the newest key of the local ring
`ENCRYPTION_KEYS` ("key-id:base64url", newest first), or AWS KMS when `AWS_KMS_KEY_ID` is set
(GenerateDataKey / Decrypt / Encrypt with an encryption context naming the secret). Rotation
(`rewrap`) only re-wraps the data key; the payload ciphertext is never touched.

Stored key ids are `local:<id>` or `kms:<key id>`, so a row always says which key opens it and a
missing key fails with a clear message instead of a generic authentication error.

This module holds the cryptography and the key ring only; each app keeps its own table of
sealed secrets (banking's `VaultSecret` for Plaid tokens, payments' `ProcessorCredential` for
Braintree keys) and its own binding of what a secret belongs to.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from config.exceptions import ApplicationError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

KEY_BYTES = 32
NONCE_BYTES = 12
LOCAL_PREFIX = "local:"
KMS_PREFIX = "kms:"


class EnvelopeError(ApplicationError):
    """A secret could not be sealed or opened (wrong key, wrong owner, tampered data)."""

    status_code = 500
    error_type = "api_error"
    code = "vault_error"
    default_message = "A stored secret could not be read."


class EnvelopeKeyError(EnvelopeError):
    """The key ring or KMS configuration cannot open or seal this secret."""

    code = "vault_key_error"


@dataclass(frozen=True)
class Sealed:
    """A sealed secret as stored: which key wraps the data key, the wrapped key, the payload."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def canonical(data: dict[str, str]) -> bytes:
    """Canonical JSON (sorted keys, no spaces): the same mapping always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


# --- Key-encryption keys --------------------------------------------------------------------


def _decode_key(entry: str) -> tuple[str, bytes]:
    key_id, sep, material = entry.strip().partition(":")
    if not sep or not key_id or not material:
        raise EnvelopeKeyError(
            "ENCRYPTION_KEYS entries must look like 'key-id:base64url(32 bytes)'."
        )
    try:
        raw = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeKeyError(f"ENCRYPTION_KEYS key {key_id!r} is not valid base64url.") from exc
    if len(raw) != KEY_BYTES:
        raise EnvelopeKeyError(f"ENCRYPTION_KEYS key {key_id!r} must decode to {KEY_BYTES} bytes.")
    return key_id, raw


def local_key_ring() -> list[tuple[str, bytes]]:
    """The configured local keys, newest first, checked (read per call, never at import)."""
    ring = [_decode_key(entry) for entry in settings.ENCRYPTION_KEYS if entry.strip()]
    ids = [key_id for key_id, _ in ring]
    if len(set(ids)) != len(ids):
        raise EnvelopeKeyError("ENCRYPTION_KEYS has two keys with the same id.")
    secret_key = str(settings.SECRET_KEY).encode()
    for key_id, raw in ring:
        # A data-encryption key that doubles as Django's signing secret would leak through
        # any signing oracle; they must be independent.
        if hmac.compare_digest(raw, secret_key[:KEY_BYTES]) or raw in secret_key:
            raise EnvelopeKeyError(f"ENCRYPTION_KEYS key {key_id!r} must differ from SECRET_KEY.")
    return ring


def _kms_client() -> KMSClient:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=3,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client("kms", config=config)


def _kms_call(operation: str, **kwargs: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(getattr(_kms_client(), operation)(**kwargs))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if code in ("InvalidCiphertextException", "IncorrectKeyException"):
            raise EnvelopeError(
                "KMS refused to open this data key (wrong key or context)."
            ) from exc
        raise EnvelopeKeyError(f"KMS {operation} failed: {code}.") from exc
    except BotoCoreError as exc:
        raise EnvelopeKeyError(f"KMS {operation} failed: {type(exc).__name__}.") from exc


def newest_key_id() -> str:
    """The key id new data keys are wrapped under, and the target of rotation."""
    if settings.AWS_KMS_KEY_ID:
        return f"{KMS_PREFIX}{settings.AWS_KMS_KEY_ID}"
    ring = local_key_ring()
    if not ring:
        raise EnvelopeKeyError("No key-encryption key: set ENCRYPTION_KEYS or AWS_KMS_KEY_ID.")
    return LOCAL_PREFIX + ring[0][0]


def _local_key(key_id: str) -> bytes:
    wanted = key_id.removeprefix(LOCAL_PREFIX)
    for candidate, raw in local_key_ring():
        if candidate == wanted:
            return raw
    raise EnvelopeKeyError(
        f"The data key is wrapped under local key {wanted!r}, which is not in ENCRYPTION_KEYS."
    )


def wrap(data_key: bytes, *, key_id: str, context: dict[str, str]) -> bytes:
    """Wrap a data key under the key-encryption key `key_id`, bound to `context`."""
    if key_id.startswith(KMS_PREFIX):
        answer = _kms_call(
            "encrypt",
            KeyId=key_id.removeprefix(KMS_PREFIX),
            Plaintext=data_key,
            EncryptionContext=context,
        )
        return bytes(answer["CiphertextBlob"])
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_local_key(key_id)).encrypt(nonce, data_key, canonical(context))


def unwrap(wrapped: bytes, *, key_id: str, context: dict[str, str]) -> bytes:
    """The data key `wrap` wrapped; any mismatch of key or context raises."""
    if key_id.startswith(KMS_PREFIX):
        answer = _kms_call(
            "decrypt",
            KeyId=key_id.removeprefix(KMS_PREFIX),
            CiphertextBlob=wrapped,
            EncryptionContext=context,
        )
        data_key = bytes(answer["Plaintext"])
    elif key_id.startswith(LOCAL_PREFIX):
        kek = _local_key(key_id)
        try:
            data_key = AESGCM(kek).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], canonical(context)
            )
        except InvalidTag as exc:
            raise EnvelopeError("The data key does not open under its key-encryption key.") from exc
    else:
        raise EnvelopeKeyError(f"Unknown key-id scheme in {key_id.split(':', 1)[0]!r}.")
    if len(data_key) != KEY_BYTES:
        raise EnvelopeError("The unwrapped data key has the wrong length.")
    return data_key


def new_data_key(*, key_id: str, context: dict[str, str]) -> tuple[bytes, bytes]:
    """A fresh data key and its wrapped form; KMS generates it, locally os.urandom does."""
    if key_id.startswith(KMS_PREFIX):
        answer = _kms_call(
            "generate_data_key",
            KeyId=key_id.removeprefix(KMS_PREFIX),
            KeySpec="AES_256",
            EncryptionContext=context,
        )
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])
    data_key = AESGCM.generate_key(bit_length=256)
    return data_key, wrap(data_key, key_id=key_id, context=context)


# --- Secrets --------------------------------------------------------------------------------


def seal(*, plaintext: bytes, context: dict[str, str], aad: bytes) -> Sealed:
    """Encrypt `plaintext` under a fresh data key wrapped under the newest key.

    `context` binds the data key (it must never change for the secret: rotation re-wraps
    with it); `aad` binds the payload to its owner.
    """
    if not plaintext:
        raise EnvelopeError("Refusing to store an empty secret.")
    key_id = newest_key_id()
    data_key, wrapped = new_data_key(key_id=key_id, context=context)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    return Sealed(key_id=key_id, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext)


def open_sealed(sealed: Sealed, *, context: dict[str, str], aad: bytes) -> bytes:
    """Decrypt what `seal` sealed with the same context and associated data."""
    data_key = unwrap(sealed.wrapped_key, key_id=sealed.key_id, context=context)
    try:
        return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag as exc:
        raise EnvelopeError("The secret does not belong to this row, merchant or owner.") from exc


def rewrap(sealed: Sealed, *, context: dict[str, str], target_key_id: str) -> Sealed:
    """The same secret with its data key wrapped under `target_key_id`; payload untouched."""
    data_key = unwrap(sealed.wrapped_key, key_id=sealed.key_id, context=context)
    return Sealed(
        key_id=target_key_id,
        wrapped_key=wrap(data_key, key_id=target_key_id, context=context),
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
    )
