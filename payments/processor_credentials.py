"""Processor API keys at rest: sealed with the project's envelope encryption, opened only for
the gateway's calls, never shown again.

A Braintree merchant's public and private keys are sealed together in one
`ProcessorCredential` (under the newest key of the ring banking's vault uses, rotated by
`rotate_encryption_key`), bound to the credential row, the processor account and the merchant,
so a ciphertext copied to another row does not open. The public key's SHA-256 finds the
account a webhook signature names without opening anything.

Opened keys are kept in this process for `KEYS_CACHE_SECONDS` (the gateway needs them on every
call); storing new keys forgets them here at once and elsewhere within that time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from django.utils import timezone

from config import envelope
from payments.models import Processor, ProcessorAccount, ProcessorCredential

PURPOSE = "braintree_api_keys"
KEYS_CACHE_SECONDS = 60.0
_DATA_KEY_LABEL = "ledgerline-processor-credential/data-key/v1"
_PAYLOAD_LABEL = "ledgerline-processor-credential/payload/v1"

_cache_lock = threading.Lock()
_keys_cache: dict[str, tuple[float, tuple[str, str]]] = {}


class CredentialMissingError(LookupError):
    """No stored keys for this processor account (a programming or data error)."""


def public_key_digest(public_key: str) -> str:
    return hashlib.sha256(public_key.encode()).hexdigest()


def _context(credential: ProcessorCredential) -> dict[str, str]:
    # Only what never changes for a row: rotation re-wraps without knowing who owns it.
    return {
        "ledgerline:label": _DATA_KEY_LABEL,
        "ledgerline:secret": credential.public_id,
        "ledgerline:purpose": PURPOSE,
    }


def _aad(credential: ProcessorCredential, account: ProcessorAccount) -> bytes:
    return envelope.canonical(
        {
            "label": _PAYLOAD_LABEL,
            "secret": credential.public_id,
            "processor": account.processor,
            "account": account.processor_account_id,
            "merchant": str(account.merchant_id),
        }
    )


def _sealed(credential: ProcessorCredential) -> envelope.Sealed:
    return envelope.Sealed(
        key_id=credential.key_id,
        wrapped_key=bytes(credential.wrapped_key),
        nonce=bytes(credential.nonce),
        ciphertext=bytes(credential.ciphertext),
    )


def credential_seal(
    *, account: ProcessorAccount, public_key: str, private_key: str
) -> ProcessorCredential:
    """Seal the keys for `account` (replacing any it had); the caller's transaction saves."""
    ProcessorCredential.objects.filter(account=account).delete()
    credential = ProcessorCredential(
        account=account, public_key_digest=public_key_digest(public_key)
    )
    plaintext = json.dumps({"public_key": public_key, "private_key": private_key}).encode()
    sealed = envelope.seal(
        plaintext=plaintext, context=_context(credential), aad=_aad(credential, account)
    )
    credential.key_id = sealed.key_id
    credential.wrapped_key = sealed.wrapped_key
    credential.nonce = sealed.nonce
    credential.ciphertext = sealed.ciphertext
    credential.save()
    keys_forget(account.processor_account_id)
    return credential


def credential_open(credential: ProcessorCredential) -> tuple[str, str]:
    """(public key, private key) of a stored credential."""
    account = credential.account
    plaintext = envelope.open_sealed(
        _sealed(credential), context=_context(credential), aad=_aad(credential, account)
    )
    data = json.loads(plaintext)
    return str(data["public_key"]), str(data["private_key"])


def braintree_keys(*, merchant_id: str) -> tuple[str, str]:
    """The keys of the Braintree merchant `merchant_id` (cached briefly in this process)."""
    now = time.monotonic()
    with _cache_lock:
        cached = _keys_cache.get(merchant_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    credential = (
        ProcessorCredential.objects.select_related("account")
        .filter(account__processor=Processor.BRAINTREE, account__processor_account_id=merchant_id)
        .first()
    )
    if credential is None:
        raise CredentialMissingError(f"No Braintree keys stored for merchant {merchant_id!r}")
    keys = credential_open(credential)
    with _cache_lock:
        _keys_cache[merchant_id] = (now + KEYS_CACHE_SECONDS, keys)
    return keys


def keys_forget(merchant_id: str | None = None) -> None:
    """Drop cached keys (one merchant's, or all)."""
    with _cache_lock:
        if merchant_id is None:
            _keys_cache.clear()
        else:
            _keys_cache.pop(merchant_id, None)


def braintree_keys_for_public_key(public_key: str) -> tuple[str, str, str] | None:
    """(merchant id, public key, private key) of the account whose public key this is."""
    credential = (
        ProcessorCredential.objects.select_related("account")
        .filter(
            public_key_digest=public_key_digest(public_key),
            account__processor=Processor.BRAINTREE,
        )
        .first()
    )
    if credential is None:
        return None
    stored_public, private_key = credential_open(credential)
    if stored_public != public_key:  # a digest collision is not a match
        return None
    return credential.account.processor_account_id, stored_public, private_key


def credential_rewrap(*, credential: ProcessorCredential, target_key_id: str) -> bool:
    """Re-wrap the credential's data key under `target_key_id`; False when already there."""
    if credential.key_id == target_key_id:
        return False
    sealed = envelope.rewrap(
        _sealed(credential), context=_context(credential), target_key_id=target_key_id
    )
    credential.key_id = sealed.key_id
    credential.wrapped_key = sealed.wrapped_key
    credential.rewrapped_at = timezone.now()
    credential.save(update_fields=["key_id", "wrapped_key", "rewrapped_at"])
    return True
