"""Token vault: envelope encryption of secrets (Plaid access tokens) with AES-256-GCM.

Each secret gets a fresh 256-bit data key. The payload is sealed under that data key with
associated data naming the secret's row, the owning row, the merchant and the Plaid item, so a
ciphertext copied anywhere else fails to open. The data key itself is wrapped by a
key-encryption key: the newest key of the local ring `ENCRYPTION_KEYS` ("key-id:base64url",
newest first), or AWS KMS when `AWS_KMS_KEY_ID` is set (GenerateDataKey / Decrypt / Encrypt
with an encryption context naming the secret). Rotation (`vault_rewrap`) only re-wraps the
data key; the payload ciphertext is never touched.

Stored key ids are `local:<id>` or `kms:<key id>`, so a row always says which key opens it and a
missing key fails with a clear message instead of a generic authentication error.
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
from django.utils import timezone

from banking.exceptions import VaultError, VaultKeyError
from banking.models import VaultSecret

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

KEY_BYTES = 32
NONCE_BYTES = 12
LOCAL_PREFIX = "local:"
KMS_PREFIX = "kms:"
# Versioned labels: a future format change cannot be confused with this one.
_PAYLOAD_LABEL = "ledgerline-vault/payload/v1"
_DATA_KEY_LABEL = "ledgerline-vault/data-key/v1"


@dataclass(frozen=True)
class Binding:
    """What a secret belongs to; every field goes into the associated data.

    `row` is the owning row's public id (e.g. the PlaidItem's), `merchant` the merchant's
    public id and `item` the provider's item id.
    """

    purpose: str
    row: str
    merchant: str
    item: str


def _payload_aad(secret_public_id: str, binding: Binding) -> bytes:
    # Canonical JSON (sorted keys, no spaces) so the same binding always gives the same bytes.
    return json.dumps(
        {
            "label": _PAYLOAD_LABEL,
            "secret": secret_public_id,
            "purpose": binding.purpose,
            "row": binding.row,
            "merchant": binding.merchant,
            "item": binding.item,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def _data_key_context(secret_public_id: str, purpose: str) -> dict[str, str]:
    # Only what never changes for a row: rotation re-wraps without knowing who owns the row.
    return {
        "ledgerline:label": _DATA_KEY_LABEL,
        "ledgerline:secret": secret_public_id,
        "ledgerline:purpose": purpose,
    }


def _context_aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


# --- Key-encryption keys --------------------------------------------------------------------


def _decode_key(entry: str) -> tuple[str, bytes]:
    key_id, sep, material = entry.strip().partition(":")
    if not sep or not key_id or not material:
        raise VaultKeyError("ENCRYPTION_KEYS entries must look like 'key-id:base64url(32 bytes)'.")
    try:
        raw = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VaultKeyError(f"ENCRYPTION_KEYS key {key_id!r} is not valid base64url.") from exc
    if len(raw) != KEY_BYTES:
        raise VaultKeyError(f"ENCRYPTION_KEYS key {key_id!r} must decode to {KEY_BYTES} bytes.")
    return key_id, raw


def local_key_ring() -> list[tuple[str, bytes]]:
    """The configured local keys, newest first, checked (read per call, never at import)."""
    ring = [_decode_key(entry) for entry in settings.ENCRYPTION_KEYS if entry.strip()]
    ids = [key_id for key_id, _ in ring]
    if len(set(ids)) != len(ids):
        raise VaultKeyError("ENCRYPTION_KEYS has two keys with the same id.")
    secret_key = str(settings.SECRET_KEY).encode()
    for key_id, raw in ring:
        # A data-encryption key that doubles as Django's signing secret would leak through
        # any signing oracle; they must be independent.
        if hmac.compare_digest(raw, secret_key[:KEY_BYTES]) or raw in secret_key:
            raise VaultKeyError(f"ENCRYPTION_KEYS key {key_id!r} must differ from SECRET_KEY.")
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
            raise VaultError("KMS refused to open this data key (wrong key or context).") from exc
        raise VaultKeyError(f"KMS {operation} failed: {code}.") from exc
    except BotoCoreError as exc:
        raise VaultKeyError(f"KMS {operation} failed: {type(exc).__name__}.") from exc


def newest_key_id() -> str:
    """The key id new data keys are wrapped under, and the target of rotation."""
    if settings.AWS_KMS_KEY_ID:
        return f"{KMS_PREFIX}{settings.AWS_KMS_KEY_ID}"
    ring = local_key_ring()
    if not ring:
        raise VaultKeyError("No key-encryption key: set ENCRYPTION_KEYS or AWS_KMS_KEY_ID.")
    return LOCAL_PREFIX + ring[0][0]


def _local_key(key_id: str) -> bytes:
    wanted = key_id.removeprefix(LOCAL_PREFIX)
    for candidate, raw in local_key_ring():
        if candidate == wanted:
            return raw
    raise VaultKeyError(
        f"The data key is wrapped under local key {wanted!r}, which is not in ENCRYPTION_KEYS."
    )


def _wrap(data_key: bytes, *, key_id: str, context: dict[str, str]) -> bytes:
    if key_id.startswith(KMS_PREFIX):
        answer = _kms_call(
            "encrypt",
            KeyId=key_id.removeprefix(KMS_PREFIX),
            Plaintext=data_key,
            EncryptionContext=context,
        )
        return bytes(answer["CiphertextBlob"])
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_local_key(key_id)).encrypt(nonce, data_key, _context_aad(context))


def _unwrap(wrapped: bytes, *, key_id: str, context: dict[str, str]) -> bytes:
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
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _context_aad(context)
            )
        except InvalidTag as exc:
            raise VaultError("The data key does not open under its key-encryption key.") from exc
    else:
        raise VaultKeyError(f"Unknown key-id scheme in {key_id.split(':', 1)[0]!r}.")
    if len(data_key) != KEY_BYTES:
        raise VaultError("The unwrapped data key has the wrong length.")
    return data_key


def _new_data_key(*, key_id: str, context: dict[str, str]) -> tuple[bytes, bytes]:
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
    return data_key, _wrap(data_key, key_id=key_id, context=context)


# --- Secrets --------------------------------------------------------------------------------


def vault_seal(*, plaintext: str, binding: Binding) -> VaultSecret:
    """Encrypt `plaintext` under a fresh data key bound to `binding`; saves and returns the row."""
    if not plaintext:
        raise VaultError("Refusing to store an empty secret.")
    secret = VaultSecret(purpose=binding.purpose)
    key_id = newest_key_id()
    context = _data_key_context(secret.public_id, binding.purpose)
    data_key, wrapped = _new_data_key(key_id=key_id, context=context)
    nonce = os.urandom(NONCE_BYTES)
    secret.key_id = key_id
    secret.wrapped_key = wrapped
    secret.nonce = nonce
    secret.ciphertext = AESGCM(data_key).encrypt(
        nonce, plaintext.encode(), _payload_aad(secret.public_id, binding)
    )
    secret.save()
    return secret


def vault_open(*, secret: VaultSecret, binding: Binding) -> str:
    """Decrypt a secret for the owner named by `binding`; any mismatch raises VaultError."""
    if secret.purpose != binding.purpose:
        raise VaultError("The secret was stored for another purpose.")
    context = _data_key_context(secret.public_id, secret.purpose)
    data_key = _unwrap(bytes(secret.wrapped_key), key_id=secret.key_id, context=context)
    try:
        plaintext = AESGCM(data_key).decrypt(
            bytes(secret.nonce), bytes(secret.ciphertext), _payload_aad(secret.public_id, binding)
        )
    except InvalidTag as exc:
        raise VaultError("The secret does not belong to this row, merchant or item.") from exc
    return plaintext.decode()


def vault_rewrap(*, secret: VaultSecret, target_key_id: str) -> bool:
    """Re-wrap the secret's data key under `target_key_id`; False when already there.

    Only `key_id` and `wrapped_key` change: the payload ciphertext and nonce stay as they are.
    """
    if secret.key_id == target_key_id:
        return False
    context = _data_key_context(secret.public_id, secret.purpose)
    data_key = _unwrap(bytes(secret.wrapped_key), key_id=secret.key_id, context=context)
    secret.wrapped_key = _wrap(data_key, key_id=target_key_id, context=context)
    secret.key_id = target_key_id
    secret.rewrapped_at = timezone.now()
    secret.save(update_fields=["key_id", "wrapped_key", "rewrapped_at"])
    return True
