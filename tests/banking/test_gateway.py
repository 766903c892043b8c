"""Plaid gateway: against the sandbox Plaid (requests, plain data back, retries, real errors
translated); a scripted endpoint only for answers the sandbox never gives (malformed entries,
error text that echoes a secret, error codes of flows the gateway is not part of)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from banking import services
from banking.exceptions import (
    PlaidAuthenticationError,
    PlaidItemLoginRequiredError,
    PlaidMicrodepositCodeError,
    PlaidRequestError,
    PlaidUnavailableError,
)
from banking.gateways import plaid as gateway
from banking.gateways.plaid import client as plaid_client
from tests.banking.linking import FIRST_PLATYPUS, HOUNDSTOOTH, PlaidSandbox
from tests.banking.plaid_stub import PlaidStub, plaid_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    with plaid_stub() as running, override_settings(PLAID_API_BASE=running.url):
        yield running


def _access_token(plaid: PlaidSandbox, **options: Any) -> tuple[str, str]:
    """(access_token, item_id) of a First Platypus item made without Link."""
    public = plaid.sandbox_call(
        "/sandbox/public_token/create",
        institution_id=FIRST_PLATYPUS,
        initial_products=["auth"],
        options=options,
    )["public_token"]
    exchanged = gateway.public_token_exchange(public_token=public)
    return exchanged.access_token, exchanged.item_id


def _faults_left(plaid: PlaidSandbox) -> int:
    return sum(f["remaining"] for f in plaid.control.request("GET", "faults")["faults"])


def test_link_token_asks_for_auth_with_both_microdeposit_flows(plaid: PlaidSandbox) -> None:
    token = gateway.link_token_create(
        client_user_id="cus_1", client_name="Acme", webhook_url=plaid.inbox.url
    )
    assert token.link_token.startswith("link-sandbox-")
    start = plaid.step("start", link_token=token.link_token)
    assert (start["mode"], start["same_day"], start["client_name"]) == ("new", True, "Acme")
    # Automated micro-deposits are on: Houndstooth Bank (no instant Auth) lets the login in.
    answer = plaid.step(
        "login",
        link_session_id=start["link_session_id"],
        institution_id=HOUNDSTOOTH,
        username="user_good",
        password="microdeposits_good",
    )
    assert answer["next"] == "select"


def test_update_mode_opens_link_on_the_item(plaid: PlaidSandbox) -> None:
    access_token, _ = _access_token(plaid)
    token = gateway.link_token_create(
        client_user_id="cus_1", client_name="Acme", webhook_url="", access_token=access_token
    )
    start = plaid.step("start", link_token=token.link_token)
    assert start["mode"] == "update"
    assert start["institution"]["institution_id"] == FIRST_PLATYPUS
    assert start["account_selection"] is False


def test_update_mode_with_account_selection_asks_link_for_account_select(
    plaid: PlaidSandbox,
) -> None:
    access_token, _ = _access_token(plaid)
    token = gateway.link_token_create(
        client_user_id="cus_1",
        client_name="Acme",
        webhook_url="",
        access_token=access_token,
        account_selection=True,
    )
    start = plaid.step("start", link_token=token.link_token)
    assert (start["mode"], start["account_selection"]) == ("update", True)


def test_accounts_keep_unknown_verification_statuses_as_text(plaid: PlaidSandbox) -> None:
    access_token, item_id = _access_token(plaid)
    first = plaid.control.plaid_item(item_id)["accounts"][0]["account_id"]
    plaid.control.plaid_set_verification_status(first, "brand_new_status")
    accounts = gateway.accounts_get(access_token=access_token)
    statuses = {a.account_id: a.verification_status for a in accounts}
    assert statuses[first] == "brand_new_status"
    assert sorted(statuses.values()) == ["", "", "brand_new_status"]
    assert all(a.persistent_account_id for a in accounts)
    assert {a.mask for a in accounts} == {"0000", "1111", "3333"}


def test_malformed_account_entries_are_skipped(stub: PlaidStub) -> None:
    stub.answer(
        "/accounts/get",
        {"accounts": [{"account_id": "a1", "mask": "0000", "name": "C"}, {"no": "id"}, "x"]},
    )
    assert [a.account_id for a in gateway.accounts_get(access_token="access-x")] == ["a1"]


def test_auth_returns_only_fingerprints_of_depository_accounts(plaid: PlaidSandbox) -> None:
    access_token, item_id = _access_token(plaid)
    result = gateway.auth_fingerprints(
        access_token=access_token, fingerprint=services.numbers_fingerprint
    )
    at_plaid = {
        a["account_id"]: services.numbers_fingerprint(a["routing"], a["account_number"])
        for a in plaid.control.plaid_item(item_id)["accounts"]
        if a["type"] == "depository"
    }
    assert result == at_plaid
    assert len(result) == 2


def test_api_errors_are_retried_then_succeed(plaid: PlaidSandbox) -> None:
    access_token, item_id = _access_token(plaid)
    plaid.control.add_fault("error_500", path="/item/get")
    plaid.control.add_fault("rate_limit_429", path="/item/get")
    assert gateway.item_get(access_token=access_token).item_id == item_id
    assert _faults_left(plaid) == 0


def test_retries_are_bounded(plaid: PlaidSandbox) -> None:
    access_token, _ = _access_token(plaid)
    plaid.control.add_fault("error_500", count=5, path="/item/get")
    with pytest.raises(PlaidUnavailableError):
        gateway.item_get(access_token=access_token)
    assert _faults_left(plaid) == 5 - plaid_client.MAX_ATTEMPTS


def test_the_exchange_is_never_retried(plaid: PlaidSandbox) -> None:
    """A lost answer to the exchange may have made a token: asking again could lose it."""
    plaid.control.add_fault("lose_response", count=2, path="/item/public_token/exchange")
    with pytest.raises(PlaidUnavailableError):
        _access_token(plaid)
    assert _faults_left(plaid) == 1


def test_a_login_required_item_is_its_own_error(plaid: PlaidSandbox) -> None:
    access_token, _ = _access_token(plaid)
    plaid.sandbox_call("/sandbox/item/reset_login", access_token=access_token)
    with pytest.raises(PlaidItemLoginRequiredError):
        gateway.accounts_get(access_token=access_token)
    assert gateway.item_get(access_token=access_token).error_code == "ITEM_LOGIN_REQUIRED"


def test_a_forged_public_token_is_a_request_error(
    plaid: PlaidSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PlaidRequestError) as caught:
        gateway.public_token_exchange(public_token="public-sandbox-forged")
    assert caught.value.code == "invalid_public_token"
    assert "public-sandbox-forged" not in caplog.text


def test_wrong_keys_are_an_operator_error(plaid: PlaidSandbox) -> None:
    with override_settings(PLAID_SECRET="wrong"), pytest.raises(PlaidAuthenticationError):
        gateway.item_get(access_token="access-sandbox-x")


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
def test_plaid_errors_are_translated_by_code_never_by_their_text(
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


def test_exchange_returns_the_token_without_showing_it_in_repr(plaid: PlaidSandbox) -> None:
    public = plaid.sandbox_call(
        "/sandbox/public_token/create", institution_id=FIRST_PLATYPUS, initial_products=["auth"]
    )["public_token"]
    exchanged = gateway.public_token_exchange(public_token=public)
    assert exchanged.access_token.startswith("access-sandbox-")
    assert exchanged.access_token not in repr(exchanged)


def test_removing_an_item_plaid_no_longer_knows_counts_as_removed(plaid: PlaidSandbox) -> None:
    access_token, item_id = _access_token(plaid)
    gateway.item_remove(access_token=access_token)
    gateway.item_remove(access_token=access_token)
    with pytest.raises(Exception, match="404"):
        plaid.control.plaid_item(item_id)


def test_an_unreachable_plaid_is_unavailable_not_a_crash() -> None:
    with (
        override_settings(PLAID_API_BASE="http://127.0.0.1:9"),
        pytest.raises(PlaidUnavailableError),
    ):
        gateway.public_token_exchange(public_token="public-sandbox-1")


def test_missing_credentials_are_an_operator_error() -> None:
    with override_settings(PLAID_SECRET=""), pytest.raises(PlaidAuthenticationError):
        gateway.item_get(access_token="access-x")
