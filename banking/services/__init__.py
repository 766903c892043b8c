"""Bank-linking writes, one module per concern; this module names what banking offers.

- `sessions`: link sessions (one-time URL token, usable checks, the page's Link token, what
  the customer reports back from Link's update mode).
- `linking`: completing a link (exchange, vault, accounts, the duplicate guard).
- `sync`: re-reading an item from Plaid and applying it forward-only; `reconcile`: the poll
  of quiet items.
- `rotation`: access-token rotation. `bank_accounts`: fingerprints, new rows, disconnecting.
  `items`: an item's final statuses, row lock and access token from the vault.

Every change is audited (compliance `audit_record`) in the transaction that makes it. Plaid is
called outside database transactions (a slow Plaid must not hold row locks); the rows are then
locked and re-checked before anything is written. Access tokens exist in memory only between
the vault and a gateway call; nothing here logs or returns them.

Other apps and banking's own views, API, tasks and handlers import from here only.
"""

from banking.services.bank_accounts import bank_account_disconnect, numbers_fingerprint
from banking.services.items import plaid_item_access_token
from banking.services.linking import bank_link_complete
from banking.services.reconcile import ReconcileSummary, plaid_items_reconcile
from banking.services.rotation import TokenRotation, plaid_item_rotate_access_token
from banking.services.sessions import (
    LINK_SESSION_TTL,
    LINK_TOKEN_RE,
    MICRODEPOSIT_CODE_ATTEMPTS,
    NewBankLinkSession,
    bank_link_code_rejected,
    bank_link_needs_update_mode,
    bank_link_offers_new_accounts,
    bank_link_session_check_usable,
    bank_link_session_create,
    bank_link_token_create,
    bank_link_update_complete,
    link_token_hash,
)
from banking.services.sync import (
    ItemReading,
    ItemSync,
    plaid_item_apply,
    plaid_item_read,
    plaid_item_sync,
)

__all__ = [
    "LINK_SESSION_TTL",
    "LINK_TOKEN_RE",
    "MICRODEPOSIT_CODE_ATTEMPTS",
    "ItemReading",
    "ItemSync",
    "NewBankLinkSession",
    "ReconcileSummary",
    "TokenRotation",
    "bank_account_disconnect",
    "bank_link_code_rejected",
    "bank_link_complete",
    "bank_link_needs_update_mode",
    "bank_link_offers_new_accounts",
    "bank_link_session_check_usable",
    "bank_link_session_create",
    "bank_link_token_create",
    "bank_link_update_complete",
    "link_token_hash",
    "numbers_fingerprint",
    "plaid_item_access_token",
    "plaid_item_apply",
    "plaid_item_read",
    "plaid_item_rotate_access_token",
    "plaid_item_sync",
    "plaid_items_reconcile",
]
