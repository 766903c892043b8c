"""Backup codes: generation, keyed hashing and single-use consumption.

Codes are 10 characters from an alphabet without look-alikes (about 50 bits each), shown to
the user once and stored only as an HMAC bound to their device.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from accounts.hashing import hashes_equal, keyed_hash
from accounts.models import BackupCode, BackupCodeDevice

BACKUP_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_LENGTH = 10


def normalize_code(code: str) -> str:
    """Users type codes with spaces, dashes or capitals; none of those are significant."""
    return "".join(ch for ch in code.lower() if ch.isalnum())


def looks_like_backup_code(code: str) -> bool:
    normalized = normalize_code(code)
    return len(normalized) == _LENGTH and all(ch in _ALPHABET for ch in normalized)


def hash_code(*, device: BackupCodeDevice, code: str) -> str:
    # Bound to the device so one user's code never matches another user's row.
    return keyed_hash(purpose="backup-code", value=f"{device.pk}:{normalize_code(code)}")


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def generate_codes(*, device: BackupCodeDevice) -> list[str]:
    """Replace every code of `device` with fresh ones and return them (the only time)."""
    codes = [
        "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)) for _ in range(BACKUP_CODE_COUNT)
    ]
    with transaction.atomic():
        device.codes.all().delete()
        BackupCode.objects.bulk_create(
            BackupCode(device=device, code_hash=hash_code(device=device, code=code))
            for code in codes
        )
    return [format_code(code) for code in codes]


def consume_backup_code(*, device: BackupCodeDevice, code: str) -> bool:
    """Mark the matching unused code as used; False when none matches.

    Every unused code is compared in constant time (no early exit on the database lookup),
    and the rows are locked so two concurrent requests cannot both spend the same code.
    """
    if not looks_like_backup_code(code):
        return False
    wanted = hash_code(device=device, code=code)
    with transaction.atomic():
        match: BackupCode | None = None
        for row in BackupCode.objects.select_for_update().filter(
            device=device, used_at__isnull=True
        ):
            if hashes_equal(row.code_hash, wanted) and match is None:
                match = row
        if match is None:
            return False
        match.used_at = timezone.now()
        match.save(update_fields=["used_at"])
    return True


def remaining_codes(*, device: BackupCodeDevice) -> int:
    return int(device.codes.filter(used_at__isnull=True).count())
