"""The only package that imports `plaid`: Plaid's API behind plain functions and plain data."""

from banking.gateways.plaid.api import (
    access_token_invalidate,
    accounts_get,
    auth_fingerprints,
    item_get,
    item_remove,
    link_token_create,
    processor_stripe_bank_account_token_create,
    public_token_exchange,
    webhook_verification_key_get,
)
from banking.gateways.plaid.client import plaid_host
from banking.gateways.plaid.types import AccountData, ItemData, LinkTokenData, TokenExchangeData

__all__ = [
    "AccountData",
    "ItemData",
    "LinkTokenData",
    "TokenExchangeData",
    "access_token_invalidate",
    "accounts_get",
    "auth_fingerprints",
    "item_get",
    "item_remove",
    "link_token_create",
    "plaid_host",
    "processor_stripe_bank_account_token_create",
    "public_token_exchange",
    "webhook_verification_key_get",
]
