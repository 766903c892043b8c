"""Bank-linking reads: sessions by URL token, a merchant's bank accounts, their pages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Merchant
from banking.exceptions import BankAccountNotFoundError
from banking.models import BankAccount, BankLinkSession
from banking.services import LINK_TOKEN_RE, MICRODEPOSIT_CODE_ATTEMPTS, link_token_hash
from payments.selectors import Page, keyset_page


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
