"""Bank-linking writes: link sessions, completing a link, syncing from Plaid, disconnecting.

Every change is audited (compliance `audit_record`) in the transaction that makes it. Plaid is
called outside database transactions (a slow Plaid must not hold row locks); the rows are then
locked and re-checked before anything is written. Access tokens exist in memory only between
the vault and a gateway call; nothing here logs or returns them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Merchant
from banking.exceptions import (
    BankLinkSessionUnavailableError,
    DuplicateBankAccountError,
    InvalidBankingRequestError,
    PlaidAuthenticationError,
    PlaidItemLoginRequiredError,
    PlaidRequestError,
)
from banking.gateways import plaid as gateway
from banking.models import (
    BankAccount,
    BankLinkSession,
    BankLinkSessionStatus,
    PlaidItem,
    PlaidItemStatus,
    VaultSecret,
    VerificationState,
)
from banking.vault import Binding, vault_open, vault_seal
from banking.verification import next_state, state_for
from compliance.actors import Actor
from compliance.services import audit_record
from config.exceptions import ApplicationError
from payments.models import Customer

logger = logging.getLogger(__name__)

# Long enough for a customer to find the e-mail; a linked session stays usable (for the
# micro-deposit code and reconnecting) until its item is removed.
LINK_SESSION_TTL = timedelta(days=7)
# secrets.token_urlsafe(32): 43 URL-safe characters; anything else is refused unread.
LINK_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Plaid locks same-day micro-deposit verification after three wrong codes.
MICRODEPOSIT_CODE_ATTEMPTS = 3
ACCESS_TOKEN_PURPOSE = "plaid_access_token"  # noqa: S105 - a vault label, not a secret
_FINGERPRINT_DOMAIN = b"ledgerline.bank-fingerprint:"
# Item statuses a webhook or sync may never leave: the customer or we ended the connection.
_ITEM_FINAL = frozenset({PlaidItemStatus.REVOKED, PlaidItemStatus.REMOVED})
_REVOKED_CODES = frozenset({"USER_PERMISSION_REVOKED", "ACCESS_NOT_GRANTED", "ITEM_NOT_FOUND"})
# Plaid sends PENDING_EXPIRATION 7 days before an item's consent ends; a day of slack.
CONSENT_EXPIRING_WITHIN = timedelta(days=8)
# /auth/get's answers for an item whose automated micro-deposits are pending or expired.
_NO_NUMBERS_CODES = frozenset({"PRODUCT_NOT_READY", "VERIFICATION_EXPIRED"})


# --- Fingerprints and tokens -----------------------------------------------------------------


def _fingerprint_key() -> bytes:
    # Domain-separated from every other use of SECRET_KEY; rotating SECRET_KEY changes every
    # fingerprint, which only weakens duplicate detection against accounts linked before.
    return hashlib.sha256(_FINGERPRINT_DOMAIN + settings.SECRET_KEY.encode()).digest()


def numbers_fingerprint(routing: str, account: str) -> str:
    """Keyed HMAC-SHA256 of routing + account number: for duplicate detection only."""
    message = f"{routing.strip()}:{account.strip()}".encode()
    return hmac.new(_fingerprint_key(), message, hashlib.sha256).hexdigest()


def link_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _binding(item: PlaidItem) -> Binding:
    return Binding(
        purpose=ACCESS_TOKEN_PURPOSE,
        row=item.public_id,
        merchant=item.merchant.public_id,
        item=item.item_id,
    )


def plaid_item_access_token(*, item: PlaidItem) -> str:
    """The item's access token from the vault (in memory only for the next Plaid call)."""
    if item.access_token is None:
        raise BankLinkSessionUnavailableError("This bank connection was removed.")
    return vault_open(secret=item.access_token, binding=_binding(item))


def _audit(
    *,
    action: str,
    merchant: Merchant,
    actor: Actor | None,
    request: HttpRequest | None,
    target_type: str,
    target_id: str,
    payload: Mapping[str, Any],
    outcome: str = "success",
) -> None:
    audit_record(
        action=action,
        request=request,
        actor=actor,
        merchant_id=merchant.public_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        payload=dict(payload),
    )


# --- Link sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewBankLinkSession:
    """A created session and its URL token, which exists only here: show it once."""

    session: BankLinkSession
    token: str

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at

    @property
    def path(self) -> str:
        return f"/link/{self.token}/"

    def __repr__(self) -> str:
        return f"NewBankLinkSession(session={self.session.public_id!r}, token='***')"


def bank_link_session_create(
    *,
    merchant: Merchant,
    customer: Customer,
    actor: Actor | None,
    request: HttpRequest | None = None,
    on_created: Callable[[BankLinkSession], None] | None = None,
) -> NewBankLinkSession:
    """A link session for one of the merchant's customers; only the token's hash is stored.

    `on_created` runs inside the creating transaction (the API stores its idempotent answer
    there, so the session and the answer commit together).
    """
    if customer.merchant_id != merchant.pk:
        raise InvalidBankingRequestError("No such customer.", param="customer")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        session = BankLinkSession.objects.create(
            merchant=merchant,
            customer=customer,
            token_hash=link_token_hash(token),
            expires_at=timezone.now() + LINK_SESSION_TTL,
        )
        _audit(
            action="bank_link_session.create",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="bank_link_session",
            target_id=session.public_id,
            payload={"customer": customer.public_id},
        )
        if on_created is not None:
            on_created(session)
    return NewBankLinkSession(session=session, token=token)


def bank_link_session_check_usable(*, session: BankLinkSession) -> None:
    """Raise 410 unless the session can still be used (open and unexpired, or linked)."""
    if session.status == BankLinkSessionStatus.LINKED:
        if session.item is None or session.item.status == PlaidItemStatus.REMOVED:
            raise BankLinkSessionUnavailableError("This bank connection was removed.")
        return
    if session.status != BankLinkSessionStatus.OPEN:
        raise BankLinkSessionUnavailableError()
    if session.expires_at <= timezone.now():
        raise BankLinkSessionUnavailableError("This bank-link session has expired.")


def bank_link_needs_update_mode(*, session: BankLinkSession) -> bool:
    """True when Link must open on the linked item: a code to enter, a login to repair, or
    new accounts at the bank the customer may share (NEW_ACCOUNTS_AVAILABLE)."""
    item = session.item
    if session.status != BankLinkSessionStatus.LINKED or item is None:
        return False
    if item.status == PlaidItemStatus.LOGIN_REQUIRED:
        return True
    if bank_link_offers_new_accounts(session=session):
        return True
    return item.accounts.filter(
        disconnected_at__isnull=True, verification_state=VerificationState.PENDING_MANUAL
    ).exists()


def bank_link_offers_new_accounts(*, session: BankLinkSession) -> bool:
    """True while the linked item has new accounts at the bank for the customer to share."""
    item = session.item
    return (
        session.status == BankLinkSessionStatus.LINKED
        and item is not None
        and item.status not in _ITEM_FINAL
        and item.new_accounts_available_at is not None
    )


def bank_link_token_create(*, session: BankLinkSession, webhook_url: str) -> str:
    """A Link token for the session's page: a new link, or update mode on its item."""
    bank_link_session_check_usable(session=session)
    access_token: str | None = None
    if session.status == BankLinkSessionStatus.LINKED:
        if not bank_link_needs_update_mode(session=session):
            raise BankLinkSessionUnavailableError("This bank account is already linked.")
        assert session.item is not None  # noqa: S101 - implied by bank_link_needs_update_mode
        access_token = plaid_item_access_token(item=session.item)
    data = gateway.link_token_create(
        client_user_id=session.customer.public_id,
        client_name=session.merchant.legal_name,
        webhook_url=webhook_url,
        access_token=access_token,
        account_selection=bank_link_offers_new_accounts(session=session),
    )
    return data.link_token


def _metadata_institution(metadata: Mapping[str, Any]) -> tuple[str, str]:
    # Display-only facts from the browser; everything that matters is re-read from Plaid.
    institution = metadata.get("institution")
    if not isinstance(institution, dict):
        return "", ""
    name, inst_id = institution.get("name"), institution.get("institution_id")
    return (
        inst_id[:64] if isinstance(inst_id, str) else "",
        name[:200] if isinstance(name, str) else "",
    )


def _fingerprints(access_token: str) -> dict[str, str]:
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


def _duplicate_of(
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


def _remove_at_plaid_quietly(access_token: str, item_id: str) -> None:
    # Used for an item we are refusing: failing to remove it must not hide the refusal.
    try:
        gateway.item_remove(access_token=access_token)
    except Exception:  # noqa: BLE001 - logged by code; the item stays unused on our side
        logger.warning("Plaid item %s could not be removed after a refused link", item_id)


def _mask(value: str) -> str:
    # The model refuses anything but up to four letters or digits: keep only those.
    return "".join(ch for ch in value if ch.isascii() and ch.isalnum())[-4:]


def _account_create(
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


def bank_link_complete(
    *, session: BankLinkSession, public_token: str, metadata: Mapping[str, Any]
) -> PlaidItem:
    """Exchange the public token, keep the access token in the vault and store the accounts.

    A newcomer item holding an account the merchant already has (same persistent account id,
    else same numbers fingerprint + mask + name) is removed at Plaid and refused.
    """
    bank_link_session_check_usable(session=session)
    if session.status != BankLinkSessionStatus.OPEN:
        raise BankLinkSessionUnavailableError("This bank account is already linked.")
    if not public_token or len(public_token) > 200:
        raise InvalidBankingRequestError("The bank did not return a token.", param="public_token")
    exchanged = gateway.public_token_exchange(public_token=public_token)
    access_token = exchanged.access_token
    try:
        accounts = gateway.accounts_get(access_token=access_token)
        fingerprints = _fingerprints(access_token)
        plaid_item = gateway.item_get(access_token=access_token)
    except Exception:
        _remove_at_plaid_quietly(access_token, exchanged.item_id)
        raise
    inst_id, inst_name = _metadata_institution(metadata)
    inst_id = plaid_item.institution_id or inst_id
    inst_name = plaid_item.institution_name or inst_name
    merchant = session.merchant
    duplicates = [
        dup
        for account in accounts
        if (
            dup := _duplicate_of(
                merchant=merchant,
                account=account,
                fingerprint=fingerprints.get(account.account_id, ""),
            )
        )
        is not None
    ]
    if duplicates or not accounts:
        _remove_at_plaid_quietly(access_token, exchanged.item_id)
        with transaction.atomic():
            _audit(
                action="bank_link.refuse",
                merchant=merchant,
                actor=Actor.anonymous(),
                request=None,
                target_type="bank_link_session",
                target_id=session.public_id,
                payload={
                    "reason": "duplicate" if duplicates else "no_accounts",
                    "existing": [d.public_id for d in duplicates],
                },
                outcome="failure",
            )
        if duplicates:
            raise DuplicateBankAccountError()
        raise InvalidBankingRequestError("No bank account was selected.")

    try:
        item = _link_store(
            session=session,
            item_id=exchanged.item_id,
            access_token=access_token,
            institution=(inst_id, inst_name),
            accounts=accounts,
            fingerprints=fingerprints,
        )
    except Exception:
        _remove_at_plaid_quietly(access_token, exchanged.item_id)
        raise
    if item is None:
        # A concurrent completion won; this item is the newcomer. Removed here, after our
        # transaction and outside any (an on_commit hook registered in a transaction that
        # rolls back is dropped, and the spare item would stay at Plaid).
        _remove_at_plaid_quietly(access_token, exchanged.item_id)
        raise BankLinkSessionUnavailableError("This bank account is already linked.")
    session.refresh_from_db()
    return item


def _link_store(
    *,
    session: BankLinkSession,
    item_id: str,
    access_token: str,
    institution: tuple[str, str],
    accounts: list[gateway.AccountData],
    fingerprints: Mapping[str, str],
) -> PlaidItem | None:
    """Store the item, its accounts and the session's link, audited; None if the session was
    completed concurrently (nothing stored)."""
    merchant = session.merchant
    inst_id, inst_name = institution
    with transaction.atomic():
        locked = BankLinkSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != BankLinkSessionStatus.OPEN:
            return None
        item = PlaidItem(
            merchant=merchant,
            customer=session.customer,
            item_id=item_id,
            institution_id=inst_id,
            institution_name=inst_name,
            synced_at=timezone.now(),
        )
        item.access_token = vault_seal(plaintext=access_token, binding=_binding(item))
        item.save()
        now = timezone.now()
        created = [
            _account_create(
                item=item,
                account=account,
                fingerprint=fingerprints.get(account.account_id, ""),
                now=now,
            )
            for account in accounts
        ]
        locked.status = BankLinkSessionStatus.LINKED
        locked.item = item
        locked.linked_at = now
        locked.save(update_fields=["status", "item", "linked_at"])
        _audit(
            action="bank_link.complete",
            merchant=merchant,
            actor=Actor.anonymous(),
            request=None,
            target_type="plaid_item",
            target_id=item.public_id,
            payload={
                "session": session.public_id,
                "accounts": {a.public_id: a.verification_state for a in created},
            },
        )
    return item


# --- Syncing from Plaid ----------------------------------------------------------------------


def _lock_item(pk: int) -> PlaidItem:
    # `of=self`: lock the item only, not its merchant's row (other syncs and merchant edits
    # must not queue behind this one).
    item: PlaidItem = (
        PlaidItem.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=pk)
    )
    return item


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
    if current in _ITEM_FINAL:
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
    if item.status in _ITEM_FINAL:
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
            fingerprints = _fingerprints(access_token)
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
        locked = _lock_item(item.pk)
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
            _audit(
                action="plaid_item.sync",
                merchant=locked.merchant,
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
    if item.status in _ITEM_FINAL or not accounts:
        return [], []
    known = set(BankAccount.objects.filter(item=item).values_list("plaid_account_id", flat=True))
    added: list[str] = []
    refused: list[str] = []
    for account in accounts:
        if account.account_id in known:
            continue
        fingerprint = fingerprints.get(account.account_id, "")
        duplicate = _duplicate_of(merchant=item.merchant, account=account, fingerprint=fingerprint)
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
                row = _account_create(item=item, account=account, fingerprint=fingerprint, now=now)
        except IntegrityError:
            logger.info("Plaid item %s: a new account was linked concurrently", item.public_id)
            continue
        added.append(row.public_id)
    return added, refused


@dataclass(frozen=True)
class ReconcileSummary:
    synced: int
    changed: int
    failed: int
    left: int


def plaid_items_reconcile(
    *, item_ids: Sequence[int], actor: Actor, deadline: float | None = None, batch_size: int = 50
) -> ReconcileSummary:
    """Re-read quiet items from Plaid (`plaid_item_sync`), catching what webhooks missed.

    Items are loaded in batches; one item's failure is logged (item id and error code only)
    and the rest go on. Plaid refusing our own keys stops the run, since every call would
    fail the same way. Nothing new starts after `deadline` (time.monotonic()); the items
    left stay due for the next run.
    """
    ids = list(item_ids)
    synced = changed = failed = 0
    for start in range(0, len(ids), batch_size):
        batch = PlaidItem.objects.select_related("merchant", "customer", "access_token").filter(
            pk__in=ids[start : start + batch_size]
        )
        for item in batch.order_by("synced_at", "pk"):
            if deadline is not None and time.monotonic() >= deadline:
                return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)
            try:
                result = plaid_item_sync(item=item, actor=actor)
            except PlaidAuthenticationError:
                logger.error("Plaid refused our API keys; reconciliation stopped")
                failed += 1
                return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)
            except ApplicationError as exc:
                failed += 1
                logger.warning("Reconciling Plaid item %s failed: %s", item.public_id, exc.code)
                continue
            except Exception:
                # One item's bug must not stop the others; the traceback names no token
                # (and the log filter masks any that slipped in).
                failed += 1
                logger.exception("Reconciling Plaid item %s failed unexpectedly", item.public_id)
                continue
            synced += 1
            changed += int(bool(result.changed))
    return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)


def _linked_item(session: BankLinkSession) -> PlaidItem:
    bank_link_session_check_usable(session=session)
    if session.item is None or session.status != BankLinkSessionStatus.LINKED:
        raise BankLinkSessionUnavailableError()
    return session.item


def bank_link_update_complete(*, session: BankLinkSession) -> ItemSync:
    """After Link's update mode (a code entered, a login repaired, accounts shared): re-read
    Plaid's state; new accounts the customer shared are added and the offer to share ends."""
    return plaid_item_sync(
        item=_linked_item(session), actor=Actor.anonymous(), after_update_mode=True
    )


def bank_link_code_rejected(*, session: BankLinkSession) -> ItemSync:
    """Link reported a wrong micro-deposit code: count it for display, then re-read Plaid.

    The count only feeds "attempts left" on the page (Plaid enforces the real limit and
    reports `verification_failed` once it locks the account).
    """
    item = _linked_item(session)
    with transaction.atomic():
        pending = (
            BankAccount.objects.select_for_update()
            .filter(
                item=item,
                disconnected_at__isnull=True,
                verification_state=VerificationState.PENDING_MANUAL,
                code_attempts__lt=MICRODEPOSIT_CODE_ATTEMPTS,
            )
            .first()
        )
        if pending is not None:
            pending.code_attempts += 1
            pending.save(update_fields=["code_attempts", "updated_at"])
            _audit(
                action="bank_account.code_rejected",
                merchant=session.merchant,
                actor=Actor.anonymous(),
                request=None,
                target_type="bank_account",
                target_id=pending.public_id,
                payload={"attempts": pending.code_attempts},
                outcome="failure",
            )
    return plaid_item_sync(item=item, actor=Actor.anonymous())


# --- Access-token rotation -------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRotation:
    item: PlaidItem
    old_secret: str
    new_secret: str


def plaid_item_rotate_access_token(
    *, item: PlaidItem, actor: Actor, request: HttpRequest | None = None
) -> TokenRotation:
    """Have Plaid replace the item's access token and keep only the new one, sealed.

    `/item/access_token/invalidate` is called outside any transaction (a slow Plaid must not
    hold row locks) and is never retried on an uncertain outcome (a second call would
    invalidate the token the first one returned). The new token is sealed in the vault under
    the item's own binding; in one transaction the item points at it, the old VaultSecret is
    deleted and the rotation is audited. A concurrent rotation cannot lose a token: the loser's
    Plaid call is refused (its token was already invalidated) and nothing changes here.
    """
    if item.status in _ITEM_FINAL or item.access_token is None:
        raise InvalidBankingRequestError(
            "A removed or revoked bank connection has no access token to rotate.", param="item"
        )
    old_secret_pk = item.access_token.pk
    old_secret_id = item.access_token.public_id
    new_token = gateway.access_token_invalidate(access_token=plaid_item_access_token(item=item))
    try:
        new_secret = _rotation_store(
            item=item,
            old_secret_pk=old_secret_pk,
            old_secret_id=old_secret_id,
            new_token=new_token,
            actor=actor,
            request=request,
        )
    except BankLinkSessionUnavailableError:
        raise
    except Exception:
        # Plaid has already invalidated the old token: without the new one stored the item
        # needs the customer to link again. Say so loudly, never with the token.
        logger.error(
            "Plaid item %s: access token rotated at Plaid but not stored; re-link needed",
            item.public_id,
        )
        raise
    item.refresh_from_db()
    return TokenRotation(item=item, old_secret=old_secret_id, new_secret=new_secret.public_id)


def _rotation_store(
    *,
    item: PlaidItem,
    old_secret_pk: int,
    old_secret_id: str,
    new_token: str,
    actor: Actor,
    request: HttpRequest | None,
) -> VaultSecret:
    with transaction.atomic():
        locked = _lock_item(item.pk)
        if locked.access_token_id != old_secret_pk:
            # Removed while Plaid answered (disconnect deletes the secret): the new token
            # belongs to an item that is gone, so it is not kept.
            raise BankLinkSessionUnavailableError(
                "The bank connection was removed during rotation; nothing was stored."
            )
        new_secret = vault_seal(plaintext=new_token, binding=_binding(locked))
        locked.access_token = new_secret
        locked.save(update_fields=["access_token", "updated_at"])
        VaultSecret.objects.filter(pk=old_secret_pk).delete()
        _audit(
            action="plaid_item.rotate_access_token",
            merchant=locked.merchant,
            actor=actor,
            request=request,
            target_type="plaid_item",
            target_id=locked.public_id,
            payload={"vault_row_before": old_secret_id, "vault_row_after": new_secret.public_id},
        )
    return new_secret


# --- Disconnecting ---------------------------------------------------------------------------


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
        _audit(
            action="bank_account.disconnect",
            merchant=account.merchant,
            actor=actor,
            request=request,
            target_type="bank_account",
            target_id=account.public_id,
            payload={"item": item.public_id, "item_removed": remove_item},
        )
    account.refresh_from_db()
    return account
