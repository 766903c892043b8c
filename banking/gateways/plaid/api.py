"""The Plaid operations Ledgerline uses, returning plain data (banking.gateways.plaid.types).

Account and routing numbers from /auth/get never leave `auth_fingerprints`: the caller passes
the keyed hash to apply and gets only fingerprints back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_auth import LinkTokenCreateRequestAuth
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.processor_stripe_bank_account_token_create_request import (
    ProcessorStripeBankAccountTokenCreateRequest,
)
from plaid.model.products import Products
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from banking.exceptions import PlaidRequestError, PlaidUnavailableError
from banking.gateways.plaid.client import api, call
from banking.gateways.plaid.types import AccountData, ItemData, LinkTokenData, TokenExchangeData
from config.card_numbers import mask_card_numbers


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(value: Any) -> str:
    """A display text Plaid sends back (a name), stored: a card number in it is masked.

    Not for ids, tokens or account numbers: those must reach us exactly as sent."""
    return mask_card_numbers(_str(value))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def link_token_create(
    *,
    client_user_id: str,
    client_name: str,
    webhook_url: str,
    access_token: str | None = None,
    account_selection: bool = False,
) -> LinkTokenData:
    """A Link token for the auth product with both micro-deposit fallbacks; update mode with
    `access_token` (reconnect, or entering a micro-deposit code on the same item), with
    Account Select when `account_selection` (the customer shares accounts the bank added)."""
    fields: dict[str, Any] = {
        "client_name": client_name[:30] or "Ledgerline",
        "language": "en",
        "country_codes": [CountryCode("US")],
        "user": LinkTokenCreateRequestUser(client_user_id=client_user_id),
        "webhook": webhook_url,
    }
    if access_token:
        fields["access_token"] = access_token
        if account_selection:
            fields["update"] = LinkTokenCreateRequestUpdate(account_selection_enabled=True)
    else:
        fields["products"] = [Products("auth")]
        fields["auth"] = LinkTokenCreateRequestAuth(
            automated_microdeposits_enabled=True,
            same_day_microdeposits_enabled=True,
        )
    body = call(
        api().link_token_create,
        LinkTokenCreateRequest(**fields),
        name="link_token_create",
        retry_uncertain=True,
    )
    token = _str(body.get("link_token"))
    if not token:
        raise PlaidUnavailableError()
    return LinkTokenData(link_token=token, expiration=_str(body.get("expiration")))


def public_token_exchange(*, public_token: str) -> TokenExchangeData:
    body = call(
        api().item_public_token_exchange,
        ItemPublicTokenExchangeRequest(public_token=public_token),
        name="item_public_token_exchange",
        retry_uncertain=False,
    )
    access_token, item_id = _str(body.get("access_token")), _str(body.get("item_id"))
    if not access_token or not item_id:
        raise PlaidUnavailableError()
    return TokenExchangeData(access_token=access_token, item_id=item_id)


def _account(raw: Any) -> AccountData | None:
    if not isinstance(raw, dict) or not _str(raw.get("account_id")):
        return None
    return AccountData(
        account_id=raw["account_id"],
        persistent_account_id=_str(raw.get("persistent_account_id")),
        name=_text(raw.get("name"))[:200],
        official_name=_text(raw.get("official_name"))[:200],
        mask=_str(raw.get("mask"))[:4],
        type=_str(raw.get("type"))[:32],
        subtype=_str(raw.get("subtype"))[:32],
        # Absent means Plaid verified it instantly (Auth with credentials).
        verification_status=_str(raw.get("verification_status")),
    )


def accounts_get(*, access_token: str) -> list[AccountData]:
    body = call(
        api().accounts_get,
        AccountsGetRequest(access_token=access_token),
        name="accounts_get",
        retry_uncertain=True,
    )
    accounts = [_account(raw) for raw in body.get("accounts") or []]
    return [a for a in accounts if a is not None]


def auth_fingerprints(
    *, access_token: str, fingerprint: Callable[[str, str], str]
) -> dict[str, str]:
    """Account id -> `fingerprint(routing, account)` for each ACH account; numbers not kept.

    Accounts still waiting for micro-deposits have no numbers yet and are simply absent.
    """
    body = call(
        api().auth_get,
        AuthGetRequest(access_token=access_token),
        name="auth_get",
        retry_uncertain=True,
    )
    result: dict[str, str] = {}
    for raw in _dict(body.get("numbers")).get("ach") or []:
        if not isinstance(raw, dict):
            continue
        account_id, routing, account = (
            _str(raw.get("account_id")),
            _str(raw.get("routing")),
            _str(raw.get("account")),
        )
        if account_id and routing and account:
            result[account_id] = fingerprint(routing, account)
    return result


def item_get(*, access_token: str) -> ItemData:
    body = call(
        api().item_get,
        ItemGetRequest(access_token=access_token),
        name="item_get",
        retry_uncertain=True,
    )
    item = _dict(body.get("item"))
    error = _dict(item.get("error"))
    return ItemData(
        item_id=_str(item.get("item_id")),
        institution_id=_str(item.get("institution_id")),
        institution_name=_text(item.get("institution_name"))[:200],
        error_code=_str(error.get("error_code")),
        consent_expiration=_str(item.get("consent_expiration_time")),
    )


def item_remove(*, access_token: str) -> None:
    """Remove the item at Plaid; an item Plaid no longer knows counts as removed."""
    try:
        call(
            api().item_remove,
            ItemRemoveRequest(access_token=access_token),
            name="item_remove",
            retry_uncertain=True,
        )
    except PlaidRequestError as exc:
        if exc.plaid_error_code not in ("ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"):
            raise


def access_token_invalidate(*, access_token: str) -> str:
    """Rotate the item's access token; returns the new one (the old stops working)."""
    body = call(
        api().item_access_token_invalidate,
        ItemAccessTokenInvalidateRequest(access_token=access_token),
        name="item_access_token_invalidate",
        retry_uncertain=False,
    )
    new_token = _str(body.get("new_access_token"))
    if not new_token:
        raise PlaidUnavailableError()
    return new_token


def processor_stripe_bank_account_token_create(*, access_token: str, account_id: str) -> str:
    """A Stripe bank-account token (`btok_...`) for one account of the item."""
    body = call(
        api().processor_stripe_bank_account_token_create,
        ProcessorStripeBankAccountTokenCreateRequest(
            access_token=access_token, account_id=account_id
        ),
        name="processor_stripe_bank_account_token_create",
        retry_uncertain=True,
    )
    token = _str(body.get("stripe_bank_account_token"))
    if not token:
        raise PlaidUnavailableError()
    return token


def webhook_verification_key_get(*, key_id: str) -> dict[str, Any]:
    """The JWK Plaid signs webhooks with under `key_id` (`kid`)."""
    body = call(
        api().webhook_verification_key_get,
        WebhookVerificationKeyGetRequest(key_id=key_id),
        name="webhook_verification_key_get",
        retry_uncertain=True,
    )
    key = body.get("key")
    if not isinstance(key, dict):
        raise PlaidUnavailableError()
    return key
