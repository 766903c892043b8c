"""plaid-python, unchanged, against the sandbox: every endpoint, Plaid's errors, the tokens.

The SDK deserialises each answer into its typed models with `_check_return_type=True`, so a
missing required field or a wrong type fails the call itself.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
from plaid.exceptions import ApiException
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.accounts_get_request_options import AccountsGetRequestOptions
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.processor_stripe_bank_account_token_create_request import (
    ProcessorStripeBankAccountTokenCreateRequest,
)
from plaid.model.processor_token_create_request import ProcessorTokenCreateRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from sandbox.server import start_in_thread
from tests.sandbox.plaid.conftest import (
    CLIENT_ID,
    SECRET,
    error_of,
    link_token,
    make_plaid,
    post,
    sandbox_item,
)

UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_instant_auth_item_round_trip(plaid_client):
    """user_good/pass_good at First Platypus Bank: tokens in Plaid's format, typed answers."""
    created = plaid_client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("auth")]
        )
    )
    assert re.fullmatch(f"public-sandbox-{UUID}", created.public_token)
    exchanged = plaid_client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=created.public_token)
    )
    assert re.fullmatch(f"access-sandbox-{UUID}", exchanged.access_token)
    token = exchanged.access_token

    accounts = plaid_client.accounts_get(AccountsGetRequest(access_token=token))
    assert [(a.name, a.mask, str(a.type), str(a.subtype)) for a in accounts.accounts] == [
        ("Plaid Checking", "0000", "depository", "checking"),
        ("Plaid Saving", "1111", "depository", "savings"),
        ("Plaid Credit Card", "3333", "credit", "credit card"),
    ]
    assert accounts.item.item_id == exchanged.item_id
    assert accounts.item.institution_id == "ins_109508"
    assert all("verification_status" not in a for a in accounts.accounts)
    again = plaid_client.accounts_get(AccountsGetRequest(access_token=token))
    assert [a.account_id for a in again.accounts] == [a.account_id for a in accounts.accounts]

    auth = plaid_client.auth_get(AuthGetRequest(access_token=token))
    checking = auth.numbers.ach[0]
    assert checking.account_id == accounts.accounts[0].account_id
    assert checking.routing == "011401533"
    assert checking.account.endswith("0000")
    assert len(auth.numbers.ach) == 2  # depository accounts only
    # Full numbers appear only in /auth/get.
    assert checking.account not in str(accounts.to_dict())

    item = plaid_client.item_get(ItemGetRequest(access_token=token)).item
    assert item.item_id == exchanged.item_id
    assert item.error is None
    assert str(item.auth_method) == "INSTANT_AUTH"
    for answer in (created, exchanged, accounts, auth):
        assert re.fullmatch("[A-Za-z0-9]{15}", answer.request_id)


def test_account_filter_and_unknown_account(plaid_client):
    token, _ = sandbox_item(plaid_client)
    first = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[1]
    filtered = plaid_client.accounts_get(
        AccountsGetRequest(
            access_token=token, options=AccountsGetRequestOptions(account_ids=[first.account_id])
        )
    )
    assert [a.account_id for a in filtered.accounts] == [first.account_id]
    with pytest.raises(ApiException) as exc:
        plaid_client.accounts_get(
            AccountsGetRequest(
                access_token=token, options=AccountsGetRequestOptions(account_ids=["nope"])
            )
        )
    assert error_of(exc)["error_code"] == "INVALID_ACCOUNT_ID"


def test_wrong_or_missing_credentials_are_plaid_errors(sandbox):
    bad = make_plaid(sandbox.url, secret="wrong")
    with pytest.raises(ApiException) as exc:
        sandbox_item(bad)
    error = error_of(exc)
    assert exc.value.status == 400
    assert (error["error_type"], error["error_code"]) == ("INVALID_INPUT", "INVALID_API_KEYS")
    assert error["request_id"]
    assert "display_message" in error
    assert error["error_message"]
    status, body = post(f"{sandbox.url}/item/get", {"access_token": "x"})
    assert status == 400
    assert body["error_code"] == "MISSING_FIELDS"
    assert "client_id" in body["error_message"]
    # Body credentials work as well as plaid-python's headers.
    status, body = post(
        f"{sandbox.url}/sandbox/public_token/create",
        {
            "client_id": CLIENT_ID,
            "secret": SECRET,
            "institution_id": "ins_109508",
            "initial_products": ["auth"],
        },
    )
    assert status == 200
    assert body["public_token"].startswith("public-sandbox-")


def test_credentials_are_configurable():
    with start_in_thread(plaid_client_id="other_client", plaid_secret="other_secret") as handle:
        with pytest.raises(ApiException):
            sandbox_item(make_plaid(handle.url))
        token, _ = sandbox_item(make_plaid(handle.url, "other_client", "other_secret"))
        assert token.startswith("access-sandbox-")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "INVALID_BODY"),
        (b"[1, 2]", "INVALID_BODY"),
        (b'{"access_token": 5}', "INVALID_FIELD"),
        (b'{"access_token": "access-sandbox-x", "surprise": 1}', "UNKNOWN_FIELDS"),
        (b"{}", "MISSING_FIELDS"),
        (b'{"access_token": "not-a-token"}', "INVALID_ACCESS_TOKEN"),
        (
            b'{"access_token": "access-production-00000000-0000-0000-0000-000000000000"}',
            "INVALID_ACCESS_TOKEN",
        ),
    ],
)
def test_malformed_requests_get_plaid_400s(sandbox, body, code):
    status, answer = post(
        f"{sandbox.url}/accounts/get",
        body,
        {"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET},
    )
    assert status == 400
    assert answer["error_code"] == code
    assert answer["error_type"] in ("INVALID_REQUEST", "INVALID_INPUT")
    assert answer["request_id"]


def test_get_on_an_api_path_is_not_found(sandbox):
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(f"{sandbox.url}/accounts/get", timeout=5)  # noqa: S310
    assert exc.value.code == 404


def test_public_token_is_single_use_and_expires(sandbox, plaid_client):
    created = plaid_client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("auth")]
        )
    )
    request = ItemPublicTokenExchangeRequest(public_token=created.public_token)
    plaid_client.item_public_token_exchange(request)
    with pytest.raises(ApiException) as exc:
        plaid_client.item_public_token_exchange(request)
    assert error_of(exc)["error_code"] == "INVALID_PUBLIC_TOKEN"

    late = plaid_client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("auth")]
        )
    )
    sandbox.control.advance_clock(31 * 60)
    with pytest.raises(ApiException) as exc:
        plaid_client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=late.public_token)
        )
    assert error_of(exc)["error_code"] == "INVALID_PUBLIC_TOKEN"


def test_invalidate_rotates_the_access_token(plaid_client):
    token, item_id = sandbox_item(plaid_client)
    fresh = plaid_client.item_access_token_invalidate(
        ItemAccessTokenInvalidateRequest(access_token=token)
    ).new_access_token
    assert fresh != token
    assert fresh.startswith("access-sandbox-")
    assert plaid_client.item_get(ItemGetRequest(access_token=fresh)).item.item_id == item_id
    with pytest.raises(ApiException) as exc:
        plaid_client.item_get(ItemGetRequest(access_token=token))
    assert error_of(exc)["error_code"] == "INVALID_ACCESS_TOKEN"


def test_removed_item_is_not_found(plaid_client):
    token, _ = sandbox_item(plaid_client)
    answer = plaid_client.item_remove(ItemRemoveRequest(access_token=token))
    assert answer.request_id
    with pytest.raises(ApiException) as exc:
        plaid_client.accounts_get(AccountsGetRequest(access_token=token))
    error = error_of(exc)
    assert (error["error_type"], error["error_code"]) == ("ITEM_ERROR", "ITEM_NOT_FOUND")


def test_processor_tokens_for_a_verified_depository_account(plaid_client):
    token, _ = sandbox_item(plaid_client)
    accounts = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts
    checking, credit = accounts[0].account_id, accounts[2].account_id
    btok = plaid_client.processor_stripe_bank_account_token_create(
        ProcessorStripeBankAccountTokenCreateRequest(access_token=token, account_id=checking)
    ).stripe_bank_account_token
    assert re.fullmatch("btok_[A-Za-z0-9]{24}", btok)
    processor = plaid_client.processor_token_create(
        ProcessorTokenCreateRequest(access_token=token, account_id=checking, processor="stripe")
    ).processor_token
    assert re.fullmatch(f"processor-sandbox-{UUID}", processor)
    with pytest.raises(ApiException) as exc:
        plaid_client.processor_stripe_bank_account_token_create(
            ProcessorStripeBankAccountTokenCreateRequest(access_token=token, account_id=credit)
        )
    assert error_of(exc)["error_code"] == "NO_AUTH_ACCOUNTS"


def test_webhook_verification_key(plaid_client, sandbox):
    kid = sandbox.control.plaid("GET", "keys")["current"]
    key = plaid_client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=kid)
    ).key
    assert (key.alg, key.crv, key.kty, key.use, key.kid) == ("ES256", "P-256", "EC", "sig", kid)
    assert key.expired_at is None
    assert key.created_at > 0
    with pytest.raises(ApiException) as exc:
        plaid_client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id="nope"))
    assert error_of(exc)["error_code"] == "INVALID_WEBHOOK_VERIFICATION_KEY_ID"


def test_link_token_create_and_update_mode_token(plaid_client):
    token = link_token(plaid_client, webhook="http://127.0.0.1:9/hook")
    assert re.fullmatch(f"link-sandbox-{UUID}", token)
    access, _ = sandbox_item(plaid_client)
    assert link_token(plaid_client, access_token=access).startswith("link-sandbox-")


def test_login_errors_from_sandbox_passwords(plaid_client):
    with pytest.raises(ApiException) as exc:
        sandbox_item(plaid_client, password="wrong")
    assert error_of(exc)["error_code"] == "INVALID_CREDENTIALS"
    with pytest.raises(ApiException) as exc:
        sandbox_item(plaid_client, password="error_ITEM_LOCKED")
    assert error_of(exc)["error_code"] == "ITEM_LOCKED"
    with pytest.raises(ApiException) as exc:
        sandbox_item(plaid_client, institution="ins_000000")
    assert error_of(exc)["error_code"] == "INVALID_INSTITUTION"


def test_processor_faults_apply_to_plaid_paths(sandbox, plaid_client):
    token, _ = sandbox_item(plaid_client)
    sandbox.control.add_fault("error_500", path="/accounts/get")
    with pytest.raises(ApiException) as exc:
        plaid_client.accounts_get(AccountsGetRequest(access_token=token))
    assert exc.value.status == 500
    assert error_of(exc)["error_type"] == "API_ERROR"
    assert plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts


def test_state_file_keeps_plaid_items_and_keys(tmp_path):
    state = tmp_path / "state.json"
    with start_in_thread(state_file=state) as first:
        token, item_id = sandbox_item(make_plaid(first.url))
        kid = first.control.plaid("GET", "keys")["current"]
    with start_in_thread(state_file=state) as second:
        client = make_plaid(second.url)
        assert client.item_get(ItemGetRequest(access_token=token)).item.item_id == item_id
        assert second.control.plaid("GET", "keys")["current"] == kid
