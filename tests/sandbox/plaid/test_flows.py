"""Plaid's Sandbox Auth flows end to end: the SDK for the server side, the Link stand-in's
backend for what the person in Link does (the browser test drives the modal itself).
"""

from __future__ import annotations

import pytest
from plaid.exceptions import ApiException
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.processor_stripe_bank_account_token_create_request import (
    ProcessorStripeBankAccountTokenCreateRequest,
)
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_item_set_verification_status_request import (
    SandboxItemSetVerificationStatusRequest,
)
from plaid.model.webhook_type import WebhookType

from tests.sandbox.plaid.conftest import error_of, link_token, post, sandbox_item

HOOK = "http://127.0.0.1:9/webhooks/plaid/"  # recorded; nothing listens (delivery just fails)


def _codes(sandbox, item_id):
    return [
        (w["body"]["webhook_type"], w["body"]["webhook_code"])
        for w in sandbox.control.plaid_webhooks()
        if w["item_id"] == item_id
    ]


def _exchange(client, public_token):
    answer = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public_token)
    )
    return answer.access_token, answer.item_id


def _login(
    link,
    session,
    *,
    institution="ins_109508",
    username="user_good",
    password="pass_good",  # noqa: S107
):
    return link(
        "login",
        link_session_id=session,
        institution_id=institution,
        username=username,
        password=password,
    )


def _btok(client, token, account_id):
    return client.processor_stripe_bank_account_token_create(
        ProcessorStripeBankAccountTokenCreateRequest(access_token=token, account_id=account_id)
    )


def test_instant_auth_through_link(plaid_client, link):
    status, start = link("start", link_token=link_token(plaid_client, webhook=HOOK))
    assert status == 200
    assert start["mode"] == "new"
    session = start["link_session_id"]
    status, login = _login(
        link, session, institution="ins_109508", username="user_good", password="pass_good"
    )
    assert [a["mask"] for a in login["accounts"]] == ["0000", "1111"]
    status, done = link("select", link_session_id=session, account_index=0)
    assert status == 200
    meta = done["metadata"]
    assert meta["institution"] == {"name": "First Platypus Bank", "institution_id": "ins_109508"}
    assert meta["link_session_id"] == session
    assert meta["accounts"][0]["mask"] == "0000"
    assert meta["accounts"][0]["verification_status"] is None
    assert "account_number" not in str(done)
    assert "011401533" not in str(done)
    token, _ = _exchange(plaid_client, done["public_token"])
    accounts = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts
    assert [a.account_id for a in accounts] == [meta["accounts"][0]["id"]]
    # The session is spent: replaying a step cannot mint a second Item.
    status, _ = link("select", link_session_id=session, account_index=0)
    assert status == 400


def test_automated_microdeposits_verify_through_the_sandbox_endpoint(sandbox, plaid_client):
    token, item_id = sandbox_item(
        plaid_client, institution="ins_109512", password="microdeposits_good", webhook=HOOK
    )
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert account.verification_status == "pending_automatic_verification"
    with pytest.raises(ApiException) as exc:
        plaid_client.auth_get(AuthGetRequest(access_token=token))
    assert error_of(exc)["error_code"] == "PRODUCT_NOT_READY"
    with pytest.raises(ApiException):
        _btok(plaid_client, token, account.account_id)

    plaid_client.sandbox_item_set_verification_status(
        SandboxItemSetVerificationStatusRequest(
            access_token=token,
            account_id=account.account_id,
            verification_status="automatically_verified",
        )
    )
    auth = plaid_client.auth_get(AuthGetRequest(access_token=token))
    assert auth.accounts[0].verification_status == "automatically_verified"
    assert auth.numbers.ach[0].account == "1111222233330000"
    assert _btok(plaid_client, token, account.account_id).stripe_bank_account_token
    assert _codes(sandbox, item_id) == [("AUTH", "AUTOMATICALLY_VERIFIED")]
    assert str(plaid_client.item_get(ItemGetRequest(access_token=token)).item.auth_method) == (
        "AUTOMATED_MICRODEPOSITS"
    )


def test_automated_microdeposits_expire(sandbox, plaid_client):
    token, item_id = sandbox_item(
        plaid_client, institution="ins_109512", password="microdeposits_good", webhook=HOOK
    )
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    plaid_client.sandbox_item_set_verification_status(
        SandboxItemSetVerificationStatusRequest(
            access_token=token,
            account_id=account.account_id,
            verification_status="verification_expired",
        )
    )
    again = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert again.verification_status == "verification_expired"
    with pytest.raises(ApiException):
        _btok(plaid_client, token, account.account_id)
    assert _codes(sandbox, item_id) == [("AUTH", "VERIFICATION_EXPIRED")]
    # Only a pending account can be moved, as at Plaid.
    with pytest.raises(ApiException) as exc:
        plaid_client.sandbox_item_set_verification_status(
            SandboxItemSetVerificationStatusRequest(
                access_token=token,
                account_id=account.account_id,
                verification_status="automatically_verified",
            )
        )
    assert error_of(exc)["error_code"] == "INVALID_FIELD"


def test_automated_microdeposits_land_a_day_later_on_the_sandbox_clock(sandbox, plaid_client):
    token, item_id = sandbox_item(
        plaid_client, institution="ins_109512", password="microdeposits_good", webhook=HOOK
    )
    sandbox.control.advance_clock(23 * 3600)
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert account.verification_status == "pending_automatic_verification"
    sandbox.control.advance_clock(3600)
    sandbox.control.plaid("POST", "tick")
    assert _codes(sandbox, item_id) == [("AUTH", "AUTOMATICALLY_VERIFIED")]
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert account.verification_status == "automatically_verified"


def test_automated_microdeposits_through_link(plaid_client, link):
    _, start = link("start", link_token=link_token(plaid_client))
    session = start["link_session_id"]
    _, login = _login(
        link, session, institution="ins_109512", username="user_good", password="microdeposits_good"
    )
    assert [a["mask"] for a in login["accounts"]] == ["0000"]
    _, answer = link("select", link_session_id=session, account_index=0)
    assert answer == {"next": "numbers"}
    status, bad = link("numbers", link_session_id=session, routing="123456789", account="1234")
    assert status == 400
    assert bad["error"]["display_message"]
    status, done = link(
        "numbers", link_session_id=session, routing="021000021", account="1111222233330000"
    )
    assert status == 200
    assert done["metadata"]["accounts"][0]["verification_status"] == (
        "pending_automatic_verification"
    )
    assert "1111222233330000" not in str(done)


def _same_day_item(plaid_client, link):
    _, start = link("start", link_token=link_token(plaid_client, webhook=HOOK, same_day=True))
    status, done = link(
        "manual",
        link_session_id=start["link_session_id"],
        routing="110000000",
        account="1111222233330000",
        name="Ada Lovelace",
        subtype="checking",
    )
    assert status == 200, done
    assert done["metadata"]["institution"] is None
    assert done["metadata"]["accounts"][0]["verification_status"] == "pending_manual_verification"
    return _exchange(plaid_client, done["public_token"])


def test_same_day_needs_opt_in(plaid_client, link):
    _, start = link("start", link_token=link_token(plaid_client))
    status, answer = link(
        "manual",
        link_session_id=start["link_session_id"],
        routing="110000000",
        account="1111222233330000",
        name="Ada",
    )
    assert status == 400
    assert answer["error"]["error_code"] == "INVALID_FIELD"


def test_same_day_microdeposits_verified_with_the_code(sandbox, plaid_client, link):
    token, item_id = _same_day_item(plaid_client, link)
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert (account.mask, account.verification_status) == ("0000", "pending_manual_verification")
    with pytest.raises(ApiException):
        _btok(plaid_client, token, account.account_id)

    _, start = link("start", link_token=link_token(plaid_client, access_token=token))
    assert start["mode"] == "verify"
    assert start["account"]["attempts_left"] == 3
    session = start["link_session_id"]
    status, wrong = link("verify", link_session_id=session, code="XYZ")
    assert status == 400
    assert wrong["error"]["error_code"] == "INCORRECT_DEPOSIT_VERIFICATION"
    assert wrong["error"]["attempts_left"] == 2
    status, done = link("verify", link_session_id=session, code="abc")
    assert status == 200
    assert done["metadata"]["accounts"][0]["verification_status"] == "manually_verified"
    token_again, same_item = _exchange(plaid_client, done["public_token"])
    assert (token_again, same_item) == (token, item_id)
    assert _btok(plaid_client, token, account.account_id).stripe_bank_account_token
    assert _codes(sandbox, item_id) == [("AUTH", "SMS_MICRODEPOSITS_VERIFICATION")]
    assert sandbox.control.plaid_webhooks()[-1]["body"]["status"] == "MANUALLY_VERIFIED"


def test_same_day_wrong_code_three_times_locks_the_account(sandbox, plaid_client, link):
    token, _item_id = _same_day_item(plaid_client, link)
    _, start = link("start", link_token=link_token(plaid_client, access_token=token))
    session = start["link_session_id"]
    answers = [link("verify", link_session_id=session, code="NOP")[1]["error"] for _ in range(3)]
    assert [a["error_code"] for a in answers] == [
        "INCORRECT_DEPOSIT_VERIFICATION",
        "INCORRECT_DEPOSIT_VERIFICATION",
        "TOO_MANY_VERIFICATION_ATTEMPTS",
    ]
    assert [a["attempts_left"] for a in answers] == [2, 1, 0]
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    assert account.verification_status == "verification_failed"
    # Locked for good: a new session cannot take the right code either.
    _, start = link("start", link_token=link_token(plaid_client, access_token=token))
    status, locked = link("verify", link_session_id=start["link_session_id"], code="ABC")
    assert status == 400
    assert locked["error"]["error_code"] == "TOO_MANY_VERIFICATION_ATTEMPTS"
    with pytest.raises(ApiException):
        _btok(plaid_client, token, account.account_id)
    assert sandbox.control.plaid_webhooks()[-1]["body"]["status"] == "VERIFICATION_FAILED"


def test_login_error_then_update_mode_repairs_the_same_item(sandbox, plaid_client, link):
    _, start = link("start", link_token=link_token(plaid_client, webhook=HOOK))
    session = start["link_session_id"]
    status, bad = _login(
        link, session, institution="ins_109508", username="user_bad", password="pass_good"
    )
    assert status == 400
    assert bad["error"]["error_code"] == "INVALID_CREDENTIALS"
    assert bad["error"]["display_message"]
    _login(link, session)
    _, done = link("select", link_session_id=session, account_index=0)
    token, item_id = _exchange(plaid_client, done["public_token"])
    before = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts

    assert plaid_client.sandbox_item_reset_login(
        SandboxItemResetLoginRequest(access_token=token)
    ).reset_login
    with pytest.raises(ApiException) as exc:
        plaid_client.accounts_get(AccountsGetRequest(access_token=token))
    assert error_of(exc)["error_code"] == "ITEM_LOGIN_REQUIRED"
    item = plaid_client.item_get(ItemGetRequest(access_token=token)).item
    assert item.error.error_code == "ITEM_LOGIN_REQUIRED"

    _, start = link("start", link_token=link_token(plaid_client, access_token=token))
    assert start["mode"] == "update"
    assert start["institution"]["institution_id"] == "ins_109508"
    status, repaired = _login(
        link,
        start["link_session_id"],
        institution="ins_109508",
        username="user_good",
        password="pass_good",
    )
    assert status == 200
    assert [a["id"] for a in repaired["metadata"]["accounts"]] == [a.account_id for a in before]
    after = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts
    assert [a.account_id for a in after] == [a.account_id for a in before]
    assert sandbox.control.state()["plaid"]["objects"]["items"] == 1
    assert _codes(sandbox, item_id) == [("ITEM", "ERROR"), ("ITEM", "LOGIN_REPAIRED")]


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        ("ERROR", "ITEM_LOGIN_REQUIRED"),
        ("USER_PERMISSION_REVOKED", "USER_PERMISSION_REVOKED"),
        ("PENDING_DISCONNECT", None),
        ("NEW_ACCOUNTS_AVAILABLE", None),
    ],
)
def test_fire_webhook_changes_what_item_get_shows(sandbox, plaid_client, code, error_code):
    token, item_id = sandbox_item(plaid_client, webhook=HOOK)
    fired = plaid_client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(
            access_token=token, webhook_type=WebhookType("ITEM"), webhook_code=code
        )
    )
    assert fired.webhook_fired
    item = plaid_client.item_get(ItemGetRequest(access_token=token)).item
    assert (item.error.error_code if item.error else None) == error_code
    assert _codes(sandbox, item_id) == [("ITEM", code)]


def test_pending_expiration_and_login_repaired_from_the_control_api(sandbox, plaid_client):
    token, item_id = sandbox_item(plaid_client, webhook=HOOK)
    sandbox.control.plaid_fire_webhook(item_id, "PENDING_EXPIRATION")
    item = plaid_client.item_get(ItemGetRequest(access_token=token)).item
    assert item.consent_expiration_time is not None
    sandbox.control.plaid_fire_webhook(item_id, "ERROR")
    sandbox.control.plaid_fire_webhook(item_id, "LOGIN_REPAIRED")
    assert plaid_client.item_get(ItemGetRequest(access_token=token)).item.error is None
    body = sandbox.control.plaid_webhooks()[0]["body"]
    assert body["environment"] == "sandbox"
    assert body["consent_expiration_time"].endswith("Z")


def test_fire_webhook_needs_a_webhook_url(plaid_client):
    token, _ = sandbox_item(plaid_client)
    with pytest.raises(ApiException) as exc:
        plaid_client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=token, webhook_code="ERROR")
        )
    assert error_of(exc)["error_code"] == "SANDBOX_WEBHOOK_INVALID"


def test_duplicate_links_share_persistent_account_ids(plaid_client):
    first, _ = sandbox_item(plaid_client)
    second, _ = sandbox_item(plaid_client)
    a = plaid_client.accounts_get(AccountsGetRequest(access_token=first)).accounts[0]
    b = plaid_client.accounts_get(AccountsGetRequest(access_token=second)).accounts[0]
    assert a.account_id != b.account_id
    assert a.persistent_account_id == b.persistent_account_id


def test_unknown_verification_status_from_the_control_api(sandbox, plaid_client):
    token, _ = sandbox_item(plaid_client, institution="ins_109512", password="microdeposits_good")
    account = plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts[0]
    view = sandbox.control.plaid_set_verification_status(account.account_id, "database_matched")
    assert view["accounts"][0]["verification_status"] == "database_matched"
    assert "access_token" not in view


def _instant_item_through_link(plaid_client, link):
    """An instant-Auth Item with only Plaid Checking shared (Link's single select)."""
    _, start = link("start", link_token=link_token(plaid_client, webhook=HOOK))
    _login(link, start["link_session_id"])
    _, done = link("select", link_session_id=start["link_session_id"], account_index=0)
    return _exchange(plaid_client, done["public_token"])


def _masks(plaid_client, token):
    return [
        a.mask for a in plaid_client.accounts_get(AccountsGetRequest(access_token=token)).accounts
    ]


def test_new_accounts_available_opens_an_unshared_account_the_api_does_not_report(
    sandbox, plaid_client, link
):
    token, item_id = _instant_item_through_link(plaid_client, link)

    sandbox.control.plaid_fire_webhook(item_id, "NEW_ACCOUNTS_AVAILABLE")
    sandbox.control.plaid_fire_webhook(item_id, "NEW_ACCOUNTS_AVAILABLE")

    # One account waits at the bank (a second webhook adds none while it waits) ...
    waiting = sandbox.control.plaid_item(item_id)["unshared_accounts"]
    assert [(a["name"], a["mask"]) for a in waiting] == [("Plaid Saving", "1111")]
    # ... and neither /accounts/get nor /auth/get reports it until the customer shares it.
    assert _masks(plaid_client, token) == ["0000"]
    auth = plaid_client.auth_get(AuthGetRequest(access_token=token))
    assert [n.account_id for n in auth.numbers.ach] == [a.account_id for a in auth.accounts]
    assert [a.mask for a in auth.accounts] == ["0000"]
    assert _codes(sandbox, item_id) == [("ITEM", "NEW_ACCOUNTS_AVAILABLE")] * 2


def test_update_mode_with_account_selection_shares_the_new_account(sandbox, plaid_client, link):
    token, item_id = _instant_item_through_link(plaid_client, link)
    sandbox.control.plaid_fire_webhook(item_id, "NEW_ACCOUNTS_AVAILABLE")
    new_id = sandbox.control.plaid_item(item_id)["unshared_accounts"][0]["account_id"]

    _, start = link(
        "start", link_token=link_token(plaid_client, access_token=token, account_selection=True)
    )
    assert (start["mode"], start["account_selection"]) == ("update", True)
    session = start["link_session_id"]
    status, login = _login(link, session)
    assert status == 200
    assert login["next"] == "accounts"
    listed = [(a["mask"], a["shared"]) for a in login["accounts"]]
    assert listed == [("0000", True), ("1111", False)]
    assert not any("account_number" in a or "routing" in a for a in login["accounts"])
    shared_id = login["accounts"][0]["id"]

    status, done = link("accounts", link_session_id=session, account_ids=[shared_id, new_id])

    assert status == 200
    assert [a["mask"] for a in done["metadata"]["accounts"]] == ["0000", "1111"]
    assert set(done["metadata"]["accounts"][1]) == {
        "id",
        "name",
        "mask",
        "type",
        "subtype",
        "verification_status",
        "class_type",
    }
    assert _masks(plaid_client, token) == ["0000", "1111"]
    assert sandbox.control.plaid_item(item_id)["unshared_accounts"] == []
    # The same Item and access token: update mode never makes a new Item.
    assert _exchange(plaid_client, done["public_token"]) == (token, item_id)
    assert sandbox.control.state()["plaid"]["objects"]["items"] == 1


def test_account_selection_refuses_bad_choices_and_plain_update_mode_skips_it(
    sandbox, plaid_client, link
):
    token, item_id = _instant_item_through_link(plaid_client, link)
    sandbox.control.plaid_fire_webhook(item_id, "NEW_ACCOUNTS_AVAILABLE")
    _, start = link(
        "start", link_token=link_token(plaid_client, access_token=token, account_selection=True)
    )
    session = start["link_session_id"]
    status, early = link("accounts", link_session_id=session, account_ids=[])
    assert (status, early["error"]["error_code"]) == (400, "INVALID_FIELD")
    _login(link, session)
    for bad in ([], ["acc_unknown"], "not-a-list", [1]):
        status, answer = link("accounts", link_session_id=session, account_ids=bad)
        assert (status, answer["error"]["error_code"]) == (400, "INVALID_FIELD"), bad
    assert _masks(plaid_client, token) == ["0000"]

    # Without the flag, update mode is the re-login alone: nothing to choose, nothing shared.
    _, plain = link("start", link_token=link_token(plaid_client, access_token=token))
    assert plain["account_selection"] is False
    status, done = _login(link, plain["link_session_id"])
    assert done["done"] is True
    assert _masks(plaid_client, token) == ["0000"]


def test_link_token_update_flag_must_be_a_boolean_and_needs_an_access_token(
    sandbox, plaid_client, link
):
    token, _ = _instant_item_through_link(plaid_client, link)
    base = {
        "client_id": "ledgerline_sandbox_client",
        "secret": "ledgerline_sandbox_secret",
        "client_name": "Ledgerline",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "cus_123"},
    }
    for update in ({"account_selection_enabled": "yes"}, {"account_selection_enabled": None}, []):
        status, answer = post(
            f"{sandbox.url}/link/token/create", {**base, "access_token": token, "update": update}
        )
        assert (status, answer["error_code"]) == (400, "INVALID_FIELD"), update
    # A new link (no access_token) ignores it: Link opens as for any new link.
    new = link_token(plaid_client, account_selection=True)
    _, start = link("start", link_token=new)
    assert (start["mode"], start["account_selection"]) == ("new", False)
