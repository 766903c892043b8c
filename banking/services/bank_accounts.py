"""Bank account rows: numbers fingerprints, the duplicate guard, new rows, disconnecting.

A fingerprint serves duplicate detection only (never identification or payment); the
numbers it is made from exist only inside the gateway call.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from banking.exceptions import PlaidRequestError
from banking.gateways import plaid as gateway
from banking.models import (
    BankAccount,
    PlaidItem,
    PlaidItemStatus,
    VaultSecret,
    VerificationState,
)
from banking.services.items import plaid_item_access_token
from banking.verification import state_for
from compliance.actors import Actor
from compliance.services import audit_record

_FINGERPRINT_DOMAIN = b"ledgerline.bank-fingerprint:"
# /auth/get's answers for an item whose automated micro-deposits are pending or expired.
_NO_NUMBERS_CODES = frozenset({"PRODUCT_NOT_READY", "VERIFICATION_EXPIRED"})


def _fingerprint_key() -> bytes:
    # Domain-separated from every other use of SECRET_KEY; rotating SECRET_KEY changes every
    # fingerprint, which only weakens duplicate detection against accounts linked before.
    return hashlib.sha256(_FINGERPRINT_DOMAIN + settings.SECRET_KEY.encode()).digest()


def numbers_fingerprint(routing: str, account: str) -> str:
    """Keyed HMAC-SHA256 of routing + account number: for duplicate detection only."""
    message = f"{routing.strip()}:{account.strip()}".encode()
    return hmac.new(_fingerprint_key(), message, hashlib.sha256).hexdigest()


def numbers_fingerprints_read(access_token: str) -> dict[str, str]:
    """Numbers fingerprints per account; none while automated micro-deposits are unverified.

    Plaid answers /auth/get with PRODUCT_NOT_READY until automated micro-deposits verify and
    with VERIFICATION_EXPIRED once they expired (the numbers exist only after verifying): that
    is "no fingerprints", not a failed link or sync; /accounts/get still carries the status.
    """
    try:
        return gateway.auth_fingerprints(access_token=access_token, fingerprint=numbers_fingerprint)
    except PlaidRequestError as exc:
        if exc.plaid_error_code not in _NO_NUMBERS_CODES:
            raise
        return {}


def bank_account_duplicate_of(
    *, merchant: Merchant, account: gateway.AccountData, fingerprint: str
) -> BankAccount | None:
    live = BankAccount.objects.filter(merchant=merchant, disconnected_at__isnull=True)
    if account.persistent_account_id:
        found = live.filter(persistent_account_id=account.persistent_account_id).first()
        if found is not None:
            return found
    if fingerprint:
        return live.filter(
            routing_fingerprint=fingerprint, mask=account.mask, name=account.name
        ).first()
    return None


def _mask(value: str) -> str:
    # The model refuses anything but up to four letters or digits: keep only those.
    return "".join(ch for ch in value if ch.isascii() and ch.isalnum())[-4:]


def bank_account_row_create(
    *, item: PlaidItem, account: gateway.AccountData, fingerprint: str, now: datetime
) -> BankAccount:
    """A new row for an account Plaid reports on `item` (display data and state only)."""
    state = state_for(account.verification_status)
    return BankAccount.objects.create(
        merchant=item.merchant,
        customer=item.customer,
        item=item,
        plaid_account_id=account.account_id,
        persistent_account_id=account.persistent_account_id,
        name=account.name,
        mask=_mask(account.mask),
        type=account.type,
        subtype=account.subtype,
        institution_name=item.institution_name,
        routing_fingerprint=fingerprint,
        verification_status=account.verification_status[:64],
        verification_state=state,
        verified_at=now if state == VerificationState.VERIFIED else None,
    )


def bank_account_disconnect(
    *, account: BankAccount, actor: Actor | None, request: HttpRequest | None = None
) -> BankAccount:
    """Disconnect an account; with the item's last live account the item is removed at Plaid
    first, and only then are its access token and local state deleted."""
    item = account.item
    others_live = (
        BankAccount.objects.filter(item=item, disconnected_at__isnull=True)
        .exclude(pk=account.pk)
        .exists()
    )
    remove_item = not others_live and item.status != PlaidItemStatus.REMOVED
    if remove_item:
        # At Plaid first: if this fails nothing local changes and the merchant can retry.
        gateway.item_remove(access_token=plaid_item_access_token(item=item))
    now = timezone.now()
    with transaction.atomic():
        locked = BankAccount.objects.select_for_update().get(pk=account.pk)
        if locked.disconnected_at is None:
            locked.disconnected_at = now
            locked.save(update_fields=["disconnected_at", "updated_at"])
        if remove_item:
            locked_item = PlaidItem.objects.select_for_update().get(pk=item.pk)
            secret_pk = locked_item.access_token_id
            BankAccount.objects.filter(item=locked_item, disconnected_at__isnull=True).update(
                disconnected_at=now
            )
            locked_item.status = PlaidItemStatus.REMOVED
            locked_item.access_token = None
            locked_item.removed_at = now
            locked_item.save(update_fields=["status", "access_token", "removed_at", "updated_at"])
            if secret_pk is not None:
                VaultSecret.objects.filter(pk=secret_pk).delete()
        audit_record(
            action="bank_account.disconnect",
            merchant_id=account.merchant.public_id,
            actor=actor,
            request=request,
            target_type="bank_account",
            target_id=account.public_id,
            payload={"item": item.public_id, "item_removed": remove_item},
        )
    account.refresh_from_db()
    return account
