"""Banking data: vault secrets, bank-link sessions, Plaid items and linked bank accounts.

No full account or routing number is ever stored: accounts keep name, mask, type, subtype,
institution, Plaid's persistent account id and a keyed fingerprint of the routing number.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.ids import new_public_id


def _secret_id() -> str:
    return new_public_id("vs")


class VaultSecret(models.Model):
    """One envelope-encrypted secret (see banking.vault): wrapped data key + sealed payload."""

    public_id = models.CharField(max_length=32, unique=True, default=_secret_id, editable=False)
    purpose = models.CharField(max_length=32)
    # "local:<key id>" or "kms:<KMS key id>": which key-encryption key wraps `wrapped_key`.
    key_id = models.CharField(max_length=300)
    wrapped_key = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key_id", "id"], name="vault_secret_key_id")]

    def __str__(self) -> str:
        return self.public_id
