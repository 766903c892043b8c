"""Plaid gateway: requests it sends, plain data back, retries and error translation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import override_settings

from banking.exceptions import (
    PlaidAuthenticationError,
    PlaidItemLoginRequiredError,
    PlaidMicrodepositCodeError,
    PlaidRequestError,
    PlaidUnavailableError,
)
from banking.gateways import plaid as gateway
from banking.gateways.plaid import client as plaid_client
from tests.banking.plaid_stub import PlaidStub, plaid_stub


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    with plaid_stub() as running, override_settings(PLAID_API_BASE=running.url):
        yield running


def test_link_token_asks_for_auth_with_both_microdeposit_flows(stub: PlaidStub) -> None:
    stub.answer("/link/token/create", {"link_token": "link-sandbox-1", "expiration": "x"})
    token = gateway.link_token_create(
        client_user_id="cus_1", client_name="Acme", webhook_url="https://h/webhooks/plaid/"
    )
    assert token.link_token == "link-sandbox-1"
    sent = stub.calls("/link/token/create")[0]
    assert sent["products"] == ["auth"]
    assert sent["auth"]["automated_microdeposits_enabled"] is True
    assert sent["auth"]["same_day_microdeposits_enabled"] is True
    assert sent["webhook"] == "https://h/webhooks/plaid/"
    assert "access_token" not in sent


def test_update_mode_sends_the_access_token_and_no_products(stub: PlaidStub) -> None:
    stub.answer("/link/token/create", {"link_token": "link-sandbox-2", "expiration": "x"})
    gateway.link_token_create(
        client_user_id="cus_1", client_name="Acme", webhook_url="u", access_token="access-x"
    )
    sent = stub.calls("/link/token/create")[0]
    assert sent["access_token"] == "access-x"
    assert "products" not in sent


def test_accounts_keep_unknown_verification_statuses_as_text(stub: PlaidStub) -> None:
    stub.answer(
        "/accounts/get",
        {
            "accounts": [
                {
                    "account_id": "a1",
                    "mask": "0000",
                    "name": "Checking",
                    "type": "depository",
                    "subtype": "checking",
                    "verification_status": "brand_new_status",
                },
                {
                    "account_id": "a2",
                    "mask": "1111",
                    "name": "Savings",
                    "type": "depository",
                    "subtype": "savings",
                    "persistent_account_id": "p2",
                },
                {"no": "id"},
            ]
        },
    )
    accounts = gateway.accounts_get(access_token="access-x")
    assert [(a.account_id, a.verification_status) for a in accounts] == [
        ("a1", "brand_new_status"),
        ("a2", ""),
    ]
    assert accounts[1].persistent_account_id == "p2"


def test_auth_returns_only_fingerprints(stub: PlaidStub) -> None:
    stub.answer(
        "/auth/get",
        {
            "accounts": [],
            "numbers": {
                "ach": [
                    {"account_id": "a1", "routing": "011401533", "account": "1111222233330000"},
                ]
            },
        },
    )
    result = gateway.auth_fingerprints(
        access_token="access-x", fingerprint=lambda routing, account: f"fp:{len(routing + account)}"
    )
    assert result == {"a1": "fp:25"}


def test_api_errors_are_retried_then_succeed(stub: PlaidStub) -> None:
    stub.error("/item/get", "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    stub.error("/item/get", "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", status=429)
    stub.answer("/item/get", {"item": {"item_id": "i1", "institution_id": "ins_1"}})
    assert gateway.item_get(access_token="access-x").item_id == "i1"
    assert len(stub.calls("/item/get")) == 3


def test_retries_are_bounded(stub: PlaidStub) -> None:
    for _ in range(5):
        stub.error("/item/get", "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    with pytest.raises(PlaidUnavailableError):
        gateway.item_get(access_token="access-x")
    assert len(stub.calls("/item/get")) == plaid_client.MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("error_type", "code", "expected"),
    [
        ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", PlaidItemLoginRequiredError),
        ("ITEM_ERROR", "INCORRECT_DEPOSIT_VERIFICATION", PlaidMicrodepositCodeError),
        ("INVALID_INPUT", "INVALID_API_KEYS", PlaidAuthenticationError),
        ("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", PlaidRequestError),
        ("INSTITUTION_ERROR", "INSTITUTION_DOWN", PlaidUnavailableError),
    ],
)
def test_plaid_errors_are_translated_and_not_retried(
    stub: PlaidStub,
    error_type: str,
    code: str,
    expected: type[Exception],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.error("/item/public_token/exchange", error_type, code)
    with pytest.raises(expected) as caught:
        gateway.public_token_exchange(public_token="public-sandbox-1")
    assert len(stub.calls("/item/public_token/exchange")) == 1
    # Plaid's free text may echo request values; only codes travel on.
    assert "access-sandbox-secret" not in str(caught.value)
    assert "access-sandbox-secret" not in caplog.text


def test_exchange_returns_the_token_without_showing_it_in_repr(stub: PlaidStub) -> None:
    stub.answer(
        "/item/public_token/exchange", {"access_token": "access-sandbox-9", "item_id": "i9"}
    )
    exchanged = gateway.public_token_exchange(public_token="public-sandbox-1")
    assert exchanged.access_token == "access-sandbox-9"
    assert "access-sandbox-9" not in repr(exchanged)


def test_removing_an_item_plaid_no_longer_knows_counts_as_removed(stub: PlaidStub) -> None:
    stub.error("/item/remove", "ITEM_ERROR", "ITEM_NOT_FOUND")
    gateway.item_remove(access_token="access-x")


def test_an_unreachable_plaid_is_unavailable_not_a_crash() -> None:
    with (
        override_settings(PLAID_API_BASE="http://127.0.0.1:9"),
        pytest.raises(PlaidUnavailableError),
    ):
        gateway.public_token_exchange(public_token="public-sandbox-1")


def test_missing_credentials_are_an_operator_error() -> None:
    with override_settings(PLAID_SECRET=""), pytest.raises(PlaidAuthenticationError):
        gateway.item_get(access_token="access-x")
