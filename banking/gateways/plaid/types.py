"""Plain data the Plaid gateway returns, so nothing outside it sees an SDK object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkTokenData:
    link_token: str
    expiration: str


@dataclass(frozen=True)
class TokenExchangeData:
    access_token: str
    item_id: str

    def __repr__(self) -> str:
        # Never let a traceback or a debug print show the token.
        return f"TokenExchangeData(item_id={self.item_id!r}, access_token='***')"


@dataclass(frozen=True)
class AccountData:
    account_id: str
    persistent_account_id: str
    name: str
    official_name: str
    mask: str
    type: str
    subtype: str
    verification_status: str


@dataclass(frozen=True)
class ItemData:
    item_id: str
    institution_id: str
    institution_name: str
    error_code: str
    consent_expiration: str
