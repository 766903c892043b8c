"""Token vault: Plaid access tokens sealed with the project's envelope encryption.

Each secret gets a fresh 256-bit data key (`config.envelope`, which holds the key ring and the
cryptography shared with payments' processor credentials). The payload is sealed under that
data key with associated data naming the secret's row, the owning row, the merchant and the
Plaid item, so a ciphertext copied anywhere else fails to open. Rotation (`vault_rewrap`) only
re-wraps the data key; the payload ciphertext is never touched. The envelope's errors are
raised here as banking's `VaultError` / `VaultKeyError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.utils import timezone

from banking.exceptions import VaultError, VaultKeyError
from banking.models import VaultSecret
from config import envelope

# Versioned labels: a future format change cannot be confused with this one.
_PAYLOAD_LABEL = "ledgerline-vault/payload/v1"
_DATA_KEY_LABEL = "ledgerline-vault/data-key/v1"


@contextmanager
def _vault_errors() -> Iterator[None]:
    """The envelope's errors as banking's own (same codes and messages)."""
    try:
        yield
    except envelope.EnvelopeKeyError as exc:
        raise VaultKeyError(exc.message) from exc
    except envelope.EnvelopeError as exc:
        raise VaultError(exc.message) from exc


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
    return envelope.canonical(
        {
            "label": _PAYLOAD_LABEL,
            "secret": secret_public_id,
            "purpose": binding.purpose,
            "row": binding.row,
            "merchant": binding.merchant,
            "item": binding.item,
        }
    )


def _data_key_context(secret_public_id: str, purpose: str) -> dict[str, str]:
    # Only what never changes for a row: rotation re-wraps without knowing who owns the row.
    return {
        "ledgerline:label": _DATA_KEY_LABEL,
        "ledgerline:secret": secret_public_id,
        "ledgerline:purpose": purpose,
    }


def newest_key_id() -> str:
    """The key id new data keys are wrapped under, and the target of rotation."""
    with _vault_errors():
        return envelope.newest_key_id()


# --- Secrets --------------------------------------------------------------------------------


def _sealed(secret: VaultSecret) -> envelope.Sealed:
    return envelope.Sealed(
        key_id=secret.key_id,
        wrapped_key=bytes(secret.wrapped_key),
        nonce=bytes(secret.nonce),
        ciphertext=bytes(secret.ciphertext),
    )


def vault_seal(*, plaintext: str, binding: Binding) -> VaultSecret:
    """Encrypt `plaintext` under a fresh data key bound to `binding`; saves and returns the row."""
    if not plaintext:
        raise VaultError("Refusing to store an empty secret.")
    secret = VaultSecret(purpose=binding.purpose)
    with _vault_errors():
        sealed = envelope.seal(
            plaintext=plaintext.encode(),
            context=_data_key_context(secret.public_id, binding.purpose),
            aad=_payload_aad(secret.public_id, binding),
        )
    secret.key_id = sealed.key_id
    secret.wrapped_key = sealed.wrapped_key
    secret.nonce = sealed.nonce
    secret.ciphertext = sealed.ciphertext
    secret.save()
    return secret


def vault_open(*, secret: VaultSecret, binding: Binding) -> str:
    """Decrypt a secret for the owner named by `binding`; any mismatch raises VaultError."""
    if secret.purpose != binding.purpose:
        raise VaultError("The secret was stored for another purpose.")
    with _vault_errors():
        plaintext = envelope.open_sealed(
            _sealed(secret),
            context=_data_key_context(secret.public_id, secret.purpose),
            aad=_payload_aad(secret.public_id, binding),
        )
    return plaintext.decode()


def vault_rewrap(*, secret: VaultSecret, target_key_id: str) -> bool:
    """Re-wrap the secret's data key under `target_key_id`; False when already there.

    Only `key_id` and `wrapped_key` change: the payload ciphertext and nonce stay as they are.
    """
    if secret.key_id == target_key_id:
        return False
    with _vault_errors():
        sealed = envelope.rewrap(
            _sealed(secret),
            context=_data_key_context(secret.public_id, secret.purpose),
            target_key_id=target_key_id,
        )
    secret.wrapped_key = sealed.wrapped_key
    secret.key_id = target_key_id
    secret.rewrapped_at = timezone.now()
    secret.save(update_fields=["key_id", "wrapped_key", "rewrapped_at"])
    return True
