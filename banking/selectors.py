"""Bank-linking reads: sessions by URL token, a merchant's bank accounts, their pages, and
the items the reconciliation poll should re-read."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q, QuerySet

from accounts.models import Merchant
from api.pagination import Page, keyset_page
from banking.exceptions import BankAccountNotFoundError
from banking.models import BankAccount, BankLinkSession, PlaidItem, PlaidItemStatus
from banking.services import LINK_TOKEN_RE, MICRODEPOSIT_CODE_ATTEMPTS, link_token_hash


def bank_link_session_by_token(*, token: str) -> BankLinkSession | None:
    """The session whose URL token this is; None for anything malformed or unknown."""
    if not isinstance(token, str) or not LINK_TOKEN_RE.fullmatch(token):
        return None
    return (
        BankLinkSession.objects.select_related("merchant", "customer", "item")
        .filter(token_hash=link_token_hash(token))
        .first()
    )


def bank_account_queryset(*, merchant: Merchant) -> QuerySet[BankAccount]:
    return BankAccount.objects.filter(merchant=merchant).select_related("customer", "item")


def bank_account_list(
    *, merchant: Merchant, limit: int = 10, starting_after: str | None = None
) -> Page[BankAccount]:
    """Newest first; another merchant's cursor is simply unknown here."""
    return keyset_page(
        bank_account_queryset(merchant=merchant), limit=limit, starting_after=starting_after
    )


def bank_account_get(*, merchant: Merchant, public_id: str) -> BankAccount:
    account = bank_account_queryset(merchant=merchant).filter(public_id=public_id).first()
    if account is None:
        raise BankAccountNotFoundError(param="id")
    return account


def bank_link_session_accounts(*, session: BankLinkSession) -> list[BankAccount]:
    """The live accounts a session linked, for the customer's page."""
    if session.item_id is None:
        return []
    return list(
        BankAccount.objects.filter(item_id=session.item_id, disconnected_at__isnull=True).order_by(
            "id"
        )
    )


def code_attempts_left(account: BankAccount) -> int:
    return max(0, MICRODEPOSIT_CODE_ATTEMPTS - account.code_attempts)


# Items the poll may re-read: revoked and removed items are final (and removed ones have no
# token). Listing the statuses (not excluding) lets PostgreSQL use plaid_item_sync_due.
SYNCABLE_ITEM_STATUSES = (
    PlaidItemStatus.ACTIVE,
    PlaidItemStatus.LOGIN_REQUIRED,
    PlaidItemStatus.PENDING_EXPIRATION,
    PlaidItemStatus.PENDING_DISCONNECT,
)


def plaid_items_sync_due(*, synced_before: datetime, limit: int) -> list[int]:
    """Ids of the items whose Plaid state was last read before `synced_before`, quietest
    first (never-read ones before all), at most `limit` (index plaid_item_sync_due)."""
    return list(
        PlaidItem.objects.filter(status__in=SYNCABLE_ITEM_STATUSES)
        .filter(Q(synced_at__lt=synced_before) | Q(synced_at__isnull=True))
        .order_by(F("synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )
