"""Access-token rotation: Plaid replaces an item's token and only the new one is kept, sealed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest

from banking.exceptions import (
    BankLinkSessionUnavailableError,
    InvalidBankingRequestError,
)
from banking.gateways import plaid as gateway
from banking.models import (
    PlaidItem,
    VaultSecret,
)
from banking.services.items import ITEM_FINAL, item_binding, item_lock, plaid_item_access_token
from banking.vault import vault_seal
from compliance.actors import Actor
from compliance.services import audit_record

logger = logging.getLogger(__name__)


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
    if item.status in ITEM_FINAL or item.access_token is None:
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
        locked = item_lock(item.pk)
        if locked.access_token_id != old_secret_pk:
            # Removed while Plaid answered (disconnect deletes the secret): the new token
            # belongs to an item that is gone, so it is not kept.
            raise BankLinkSessionUnavailableError(
                "The bank connection was removed during rotation; nothing was stored."
            )
        new_secret = vault_seal(plaintext=new_token, binding=item_binding(locked))
        locked.access_token = new_secret
        locked.save(update_fields=["access_token", "updated_at"])
        VaultSecret.objects.filter(pk=old_secret_pk).delete()
        audit_record(
            action="plaid_item.rotate_access_token",
            merchant_id=locked.merchant.public_id,
            actor=actor,
            request=request,
            target_type="plaid_item",
            target_id=locked.public_id,
            payload={"vault_row_before": old_secret_id, "vault_row_after": new_secret.public_id},
        )
    return new_secret
