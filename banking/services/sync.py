"""Syncing an item from Plaid: read (network calls, no transaction) then apply (one short,
audited transaction); states move forward only, so replayed or reordered news converges."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from banking.exceptions import (
    PlaidItemLoginRequiredError,
    PlaidRequestError,
)
from banking.gateways import plaid as gateway
from banking.models import (
    BankAccount,
    PlaidItem,
    PlaidItemStatus,
    VerificationState,
)
from banking.services.bank_accounts import (
    bank_account_duplicate_of,
    bank_account_row_create,
    numbers_fingerprints_read,
)
from banking.services.items import ITEM_FINAL, item_lock, plaid_item_access_token
from banking.verification import next_state
from compliance.actors import Actor
from compliance.services import audit_record

logger = logging.getLogger(__name__)

_REVOKED_CODES = frozenset({"USER_PERMISSION_REVOKED", "ACCESS_NOT_GRANTED", "ITEM_NOT_FOUND"})
# Plaid sends PENDING_EXPIRATION 7 days before an item's consent ends; a day of slack.
CONSENT_EXPIRING_WITHIN = timedelta(days=8)


def _consent_expiring(consent_expiration: str) -> bool | None:
    """Whether Plaid's item says its consent ends soon; None when Plaid gives no time."""
    expires = parse_datetime(consent_expiration) if consent_expiration else None
    if expires is None or expires.tzinfo is None:
        return None
    return expires - timezone.now() <= CONSENT_EXPIRING_WITHIN


def _item_status_after(
    *, current: str, error_code: str, webhook_code: str, consent_expiring: bool | None
) -> str:
    """The item's status from what Plaid says now; revoked and removed are never left.

    Consent expiry follows Plaid's item (`consent_expiration_time`), not the webhook being
    handled, so PENDING_EXPIRATION and LOGIN_REPAIRED in either order end the same; the
    webhook code decides only where Plaid's item has no trace (PENDING_DISCONNECT, and
    PENDING_EXPIRATION for an item without a consent time).
    """
    if current in ITEM_FINAL:
        return current
    if error_code in _REVOKED_CODES or (webhook_code == "USER_PERMISSION_REVOKED" and error_code):
        return PlaidItemStatus.REVOKED
    if error_code == "ITEM_LOGIN_REQUIRED":
        return PlaidItemStatus.LOGIN_REQUIRED
    if error_code:
        # Another item error (institution down, ...): not the customer's to fix; keep it.
        return current
    if consent_expiring or (consent_expiring is None and webhook_code == "PENDING_EXPIRATION"):
        return PlaidItemStatus.PENDING_EXPIRATION
    if webhook_code == "PENDING_DISCONNECT":
        return PlaidItemStatus.PENDING_DISCONNECT
    if (
        current == PlaidItemStatus.LOGIN_REQUIRED
        or (current == PlaidItemStatus.PENDING_EXPIRATION and consent_expiring is False)
        or webhook_code == "LOGIN_REPAIRED"
    ):
        return PlaidItemStatus.ACTIVE
    return current


@dataclass(frozen=True)
class ItemSync:
    item_status: str
    changed: dict[str, str]


@dataclass(frozen=True)
class ItemReading:
    """What Plaid says of an item and its accounts now (`plaid_item_read`)."""

    error_code: str
    consent_expiring: bool | None
    accounts: list[gateway.AccountData] | None
    fingerprints: dict[str, str]


def plaid_item_sync(
    *, item: PlaidItem, actor: Actor, webhook_code: str = "", after_update_mode: bool = False
) -> ItemSync:
    """Re-read the item and its accounts from Plaid and apply them (forward-only states).

    Call it with no transaction open: the read is network calls, the apply a short
    transaction of its own. The webhook pipeline runs the two steps itself
    (banking.event_handlers).
    """
    reading = plaid_item_read(item=item)
    if reading is None:
        return ItemSync(item_status=item.status, changed={})
    return plaid_item_apply(
        item=item,
        reading=reading,
        actor=actor,
        webhook_code=webhook_code,
        after_update_mode=after_update_mode,
    )


def plaid_item_read(*, item: PlaidItem) -> ItemReading | None:
    """Read the item and its accounts from Plaid (no database write); None for a removed or
    revoked item, which has nothing left to read."""
    if item.status in ITEM_FINAL:
        return None
    access_token = plaid_item_access_token(item=item)
    error_code = ""
    consent_expiring: bool | None = None
    accounts: list[gateway.AccountData] | None = None
    fingerprints: dict[str, str] = {}
    try:
        plaid_item = gateway.item_get(access_token=access_token)
        error_code = plaid_item.error_code
        consent_expiring = _consent_expiring(plaid_item.consent_expiration)
    except PlaidItemLoginRequiredError:
        error_code = "ITEM_LOGIN_REQUIRED"
    except PlaidRequestError as exc:
        # Plaid no longer serves the item at all: the customer revoked it elsewhere.
        if exc.plaid_error_code not in _REVOKED_CODES:
            raise
        error_code = exc.plaid_error_code
    if not error_code:
        try:
            accounts = gateway.accounts_get(access_token=access_token)
            fingerprints = numbers_fingerprints_read(access_token)
        except PlaidItemLoginRequiredError:
            error_code = "ITEM_LOGIN_REQUIRED"
    return ItemReading(
        error_code=error_code,
        consent_expiring=consent_expiring,
        accounts=accounts,
        fingerprints=fingerprints,
    )


def _new_accounts_mark(
    *, item: PlaidItem, webhook_code: str, added: bool, after_update_mode: bool, now: datetime
) -> bool | None:
    """Set or clear the (locked) item's "new accounts to share" mark; the new value when it
    changed (True: set, False: cleared), else None.

    Plaid's API never shows accounts the customer has not shared, so the mark follows events:
    NEW_ACCOUNTS_AVAILABLE sets it unless the same sync already found a new account (the
    institution shared it at once); a sync that adds an account (the customer shared it) or the
    customer's return from Link's update mode with Account Select (whatever they chose) clears
    it. A return from entering a micro-deposit code (an account still awaits one) does not.
    """
    if item.new_accounts_available_at is None:
        if webhook_code != "NEW_ACCOUNTS_AVAILABLE" or added:
            return None
        item.new_accounts_available_at = now
    else:
        code_pending = (
            after_update_mode
            and item.accounts.filter(
                disconnected_at__isnull=True, verification_state=VerificationState.PENDING_MANUAL
            ).exists()
        )
        if not (added or (after_update_mode and not code_pending)):
            return None
        item.new_accounts_available_at = None
    item.save(update_fields=["new_accounts_available_at", "updated_at"])
    return item.new_accounts_available_at is not None


def plaid_item_apply(
    *,
    item: PlaidItem,
    reading: ItemReading,
    actor: Actor,
    webhook_code: str = "",
    after_update_mode: bool = False,
) -> ItemSync:
    """Apply what Plaid said of the item (`plaid_item_read`) in one transaction; audited.

    `webhook_code` only says which kind of news arrived (PENDING_DISCONNECT has no other
    trace in Plaid's item, nor NEW_ACCOUNTS_AVAILABLE: Plaid's API never lists accounts the
    customer has not shared; consent expiry is read from the item's consent time); every other
    state comes from Plaid's answer, so replayed or reordered webhooks converge on the same
    result. `after_update_mode`: the customer has just been through Link on this item.
    """
    error_code = reading.error_code
    consent_expiring = reading.consent_expiring
    accounts = reading.accounts
    fingerprints = reading.fingerprints
    now = timezone.now()
    changed: dict[str, str] = {}
    with transaction.atomic():
        locked = item_lock(item.pk)
        before = locked.status
        locked.status = _item_status_after(
            current=before,
            error_code=error_code,
            webhook_code=webhook_code,
            consent_expiring=consent_expiring,
        )
        locked.error_code = error_code[:64]
        locked.synced_at = now
        locked.save(update_fields=["status", "error_code", "synced_at", "updated_at"])
        if locked.status != before:
            changed[locked.public_id] = locked.status
        by_id = {a.account_id: a for a in accounts or []}
        rows = BankAccount.objects.select_for_update().filter(
            item=locked, disconnected_at__isnull=True
        )
        for row in rows:
            seen = by_id.get(row.plaid_account_id)
            if seen is None:
                continue
            state = next_state(row.verification_state, seen.verification_status)
            fields = []
            if state != row.verification_state:
                row.verification_state = state
                row.verification_status = seen.verification_status[:64]
                fields += ["verification_state", "verification_status"]
                if state == VerificationState.VERIFIED:
                    row.verified_at = now
                    fields.append("verified_at")
                changed[row.public_id] = state
            fingerprint = fingerprints.get(row.plaid_account_id, "")
            if fingerprint and not row.routing_fingerprint:
                # Numbers appear once micro-deposits verified the account.
                row.routing_fingerprint = fingerprint
                fields.append("routing_fingerprint")
            if fields:
                row.save(update_fields=[*fields, "updated_at"])
        added, refused = _accounts_add_new(
            item=locked, accounts=accounts or [], fingerprints=fingerprints, now=now
        )
        changed.update(dict.fromkeys(added, "added"))
        mark = _new_accounts_mark(
            item=locked,
            webhook_code=webhook_code,
            added=bool(added),
            after_update_mode=after_update_mode,
            now=now,
        )
        if changed or mark is not None:
            payload: dict[str, Any] = {"changed": changed, "error_code": locked.error_code}
            if refused:
                payload["refused_duplicates_of"] = refused
            if mark is not None:
                payload["new_accounts_available"] = mark
            audit_record(
                action="plaid_item.sync",
                merchant_id=locked.merchant.public_id,
                actor=actor,
                request=None,
                target_type="plaid_item",
                target_id=locked.public_id,
                payload=payload,
            )
    item.refresh_from_db()
    return ItemSync(item_status=item.status, changed=changed)


def _accounts_add_new(
    *,
    item: PlaidItem,
    accounts: list[gateway.AccountData],
    fingerprints: Mapping[str, str],
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Store accounts Plaid now reports on the (locked) item that we have never had.

    Plaid reports an account added at the bank once the customer shared it (after
    NEW_ACCOUNTS_AVAILABLE, through Link's update mode with account selection, or at once
    where the institution shares every account). The link-time duplicate guard applies: an
    account the merchant already has live (same persistent id, else same fingerprint + mask +
    name) is not added. Rows we ever had for the item (disconnected ones too) are never
    re-created. Returns (new public ids, public ids of the live accounts that refused one).
    """
    if item.status in ITEM_FINAL or not accounts:
        return [], []
    known = set(BankAccount.objects.filter(item=item).values_list("plaid_account_id", flat=True))
    added: list[str] = []
    refused: list[str] = []
    for account in accounts:
        if account.account_id in known:
            continue
        fingerprint = fingerprints.get(account.account_id, "")
        duplicate = bank_account_duplicate_of(
            merchant=item.merchant, account=account, fingerprint=fingerprint
        )
        if duplicate is not None:
            refused.append(duplicate.public_id)
            logger.info(
                "Plaid item %s reports an account the merchant already has (%s); not added",
                item.public_id,
                duplicate.public_id,
            )
            continue
        try:
            # A savepoint: a concurrent link of the same persistent account must not undo
            # the rest of the sync.
            with transaction.atomic():
                row = bank_account_row_create(
                    item=item, account=account, fingerprint=fingerprint, now=now
                )
        except IntegrityError:
            logger.info("Plaid item %s: a new account was linked concurrently", item.public_id)
            continue
        added.append(row.public_id)
    return added, refused
