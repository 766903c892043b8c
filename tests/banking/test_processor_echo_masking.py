"""Plaid's answers: display names are stored with card numbers masked; account numbers, ids
and tokens reach the fingerprinting exactly as Plaid sent them (a Luhn-valid account number
is not a card to mask)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from banking.gateways.plaid import api as plaid_api
from config.card_numbers import MASK

LUHN_VALID_ACCOUNT = "4012888888881881"


@pytest.fixture
def plaid_answers(monkeypatch) -> dict[str, Any]:
    """What Plaid answers, at the SDK call: the gateway's one network boundary."""
    answers: dict[str, Any] = {}
    sdk = SimpleNamespace(accounts_get="accounts_get", auth_get="auth_get")
    monkeypatch.setattr(plaid_api, "api", lambda: sdk)
    monkeypatch.setattr(plaid_api, "call", lambda method, request, **_: answers[method])
    return answers


def test_account_names_are_masked(plaid_answers):
    plaid_answers["accounts_get"] = {
        "accounts": [{"account_id": "acc-1", "name": f"Card {LUHN_VALID_ACCOUNT}", "mask": "1881"}]
    }
    (account,) = plaid_api.accounts_get(access_token="access-sandbox-x")
    assert account.name == f"Card {MASK}"
    assert account.mask == "1881"


def test_account_numbers_reach_the_fingerprint_unmasked(plaid_answers):
    plaid_answers["auth_get"] = {
        "numbers": {
            "ach": [{"account_id": "acc-1", "routing": "011401533", "account": LUHN_VALID_ACCOUNT}]
        }
    }
    fingerprints = plaid_api.auth_fingerprints(
        access_token="access-sandbox-x", fingerprint=lambda routing, account: routing + account
    )
    assert fingerprints == {"acc-1": "011401533" + LUHN_VALID_ACCOUNT}
