"""Bank-link sessions: created for a customer with a one-time URL token, checked on each use,
the Link token for their page, and what the customer reports back from Link's update mode."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Merchant
from banking.exceptions import (
    BankLinkSessionUnavailableError,
    InvalidBankingRequestError,
)
from banking.gateways import plaid as gateway
from banking.models import (
    BankAccount,
    BankLinkSession,
    BankLinkSessionStatus,
    PlaidItem,
    PlaidItemStatus,
    VerificationState,
)
from banking.services.items import ITEM_FINAL, plaid_item_access_token
from banking.services.sync import ItemSync, plaid_item_sync
from compliance.actors import Actor
from compliance.services import audit_record
from payments.models import Customer

# Long enough for a customer to find the e-mail; a linked session stays usable (for the
# micro-deposit code and reconnecting) until its item is removed.
LINK_SESSION_TTL = timedelta(days=7)
# secrets.token_urlsafe(32): 43 URL-safe characters; anything else is refused unread.
LINK_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Plaid locks same-day micro-deposit verification after three wrong codes.
MICRODEPOSIT_CODE_ATTEMPTS = 3


def link_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        audit_record(
            action="bank_link_session.create",
            merchant_id=merchant.public_id,
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
        and item.status not in ITEM_FINAL
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
            audit_record(
                action="bank_account.code_rejected",
                merchant_id=session.merchant.public_id,
                actor=Actor.anonymous(),
                request=None,
                target_type="bank_account",
                target_id=pending.public_id,
                payload={"attempts": pending.code_attempts},
                outcome="failure",
            )
    return plaid_item_sync(item=item, actor=Actor.anonymous())
