"""Completing a link: the public token exchanged server-side, the access token sealed, the
accounts stored, a newcomer holding an account the merchant already has refused."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from banking.exceptions import (
    BankLinkSessionUnavailableError,
    DuplicateBankAccountError,
    InvalidBankingRequestError,
)
from banking.gateways import plaid as gateway
from banking.models import (
    BankLinkSession,
    BankLinkSessionStatus,
    PlaidItem,
)
from banking.services.bank_accounts import (
    bank_account_duplicate_of,
    bank_account_row_create,
    numbers_fingerprints_read,
)
from banking.services.items import item_binding
from banking.services.sessions import bank_link_session_check_usable
from banking.vault import vault_seal
from compliance.actors import Actor
from compliance.services import audit_record

logger = logging.getLogger(__name__)


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


def _remove_at_plaid_quietly(access_token: str, item_id: str) -> None:
    # Used for an item we are refusing: failing to remove it must not hide the refusal.
    try:
        gateway.item_remove(access_token=access_token)
    except Exception:  # noqa: BLE001 - logged by code; the item stays unused on our side
        logger.warning("Plaid item %s could not be removed after a refused link", item_id)


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
        fingerprints = numbers_fingerprints_read(access_token)
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
            dup := bank_account_duplicate_of(
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
            audit_record(
                action="bank_link.refuse",
                merchant_id=merchant.public_id,
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
        item.access_token = vault_seal(plaintext=access_token, binding=item_binding(item))
        item.save()
        now = timezone.now()
        created = [
            bank_account_row_create(
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
        audit_record(
            action="bank_link.complete",
            merchant_id=merchant.public_id,
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
