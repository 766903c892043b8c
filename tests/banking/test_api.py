"""Banking API: bank-link sessions (idempotent, URL shown once) and bank accounts (read-only).

Accounts are rows here (linking itself is tested against the sandbox elsewhere): what matters
is auth, roles, validation, pagination, tenancy and that no secret ever leaves in an answer.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from api.idempotency import request_fingerprint
from api.models import IdempotencyRecord
from banking.models import (
    BankAccount,
    BankLinkSession,
    PlaidItem,
    PlaidItemStatus,
    VerificationState,
)
from banking.selectors import bank_link_session_by_token
from banking.services import link_token_hash
from banking.vault import Binding, vault_seal
from compliance.models import AuditEntry
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ACCESS_TOKEN = "access-sandbox-4b2f0c1e-api-test"
FINGERPRINT = "f" * 64
SESSIONS = "/api/v1/bank-link-sessions"
ACCOUNTS = "/api/v1/bank-accounts"


@pytest.fixture
def merchant():
    return MerchantFactory()


@pytest.fixture
def api(merchant) -> APIClient:
    return api_client_for(merchant)


def _account(merchant, *, n: int = 0, state: str = VerificationState.VERIFIED) -> BankAccount:
    customer = CustomerFactory(merchant=merchant)
    item = PlaidItem(merchant=merchant, customer=customer, item_id=f"item_{merchant.slug}_{n}")
    item.access_token = vault_seal(
        plaintext=ACCESS_TOKEN,
        binding=Binding("plaid_access_token", item.public_id, merchant.public_id, item.item_id),
    )
    item.institution_name = "First Platypus Bank"
    item.save()
    return BankAccount.objects.create(
        merchant=merchant,
        customer=customer,
        item=item,
        plaid_account_id=f"acc_{n}",
        persistent_account_id=f"persistent_{merchant.slug}_{n}",
        name="Plaid Checking",
        mask="0000",
        type="depository",
        subtype="checking",
        institution_name="First Platypus Bank",
        routing_fingerprint=FINGERPRINT,
        verification_state=state,
        verified_at=timezone.now() if state == VerificationState.VERIFIED else None,
    )


def _create(api: APIClient, body: object, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(SESSIONS, body, format="json", **headers)


# --- Authentication and roles ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("post", SESSIONS), ("get", ACCOUNTS)])
def test_without_a_key_or_with_a_bad_one_the_api_answers_401(method, path):
    anonymous = getattr(APIClient(), method)(path, {}, format="json")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer ll_sk_not_a_real_key")
    refused = getattr(bad, method)(path, {}, format="json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"
    assert not BankLinkSession.objects.exists()


def test_roles_without_manage_bank_accounts_cannot_create_sessions_but_may_read(merchant):
    customer = CustomerFactory(merchant=merchant)
    _account(merchant)
    for role in (Role.DEVELOPER, Role.ANALYST, Role.VIEWER):
        client = api_client_for(merchant, role)
        refused = _create(client, {"customer": customer.public_id})
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "permission_denied"
        assert client.get(ACCOUNTS).status_code == 200, role
    assert not BankLinkSession.objects.exists()
    assert (
        _create(api_client_for(merchant, Role.ADMIN), {"customer": customer.public_id}).status_code
        == 201
    )


# --- Creating sessions -----------------------------------------------------------------------


def test_a_created_session_answers_its_url_once_and_stores_only_the_token_hash(api, merchant):
    customer = CustomerFactory(merchant=merchant)
    response = _create(api, {"customer": customer.public_id})
    assert response.status_code == 201, response.json()
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["object"] == "bank_link_session"
    assert body["customer"] == customer.public_id
    assert body["status"] == "open"
    assert body["id"].startswith("bls_")
    prefix = "http://testserver/link/"
    assert body["url"].startswith(prefix)
    token = body["url"].removeprefix(prefix).rstrip("/")
    session = BankLinkSession.objects.get(public_id=body["id"])
    assert session.token_hash == link_token_hash(token)
    assert session.expires_at - timezone.now() > timedelta(days=6)
    # The link page finds the session by that URL's token.
    assert bank_link_session_by_token(token=token) == session
    entry = AuditEntry.objects.get(action="bank_link_session.create", target_id=session.public_id)
    assert entry.actor_kind == "api_key"
    assert entry.actor_id.startswith("key_")
    assert token not in json.dumps(entry.payload)


def test_an_idempotent_replay_creates_nothing_and_never_repeats_the_url(api, merchant):
    customer = CustomerFactory(merchant=merchant)
    first = _create(api, {"customer": customer.public_id}, key="link-1")
    second = _create(api, {"customer": customer.public_id}, key="link-1")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["url"] is None
    assert first.json()["url"]
    assert BankLinkSession.objects.count() == 1
    token = first.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    record = IdempotencyRecord.objects.get(merchant=merchant, key="link-1")
    assert token not in json.dumps(record.response_body)
    assert record.response_body["url"] is None


def test_the_same_key_with_another_body_is_422_and_a_live_key_is_409(api, merchant):
    one, two = CustomerFactory(merchant=merchant), CustomerFactory(merchant=merchant)
    assert _create(api, {"customer": one.public_id}, key="k").status_code == 201
    reused = _create(api, {"customer": two.public_id}, key="k")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    body = {"customer": one.public_id}
    IdempotencyRecord.objects.create(
        merchant=merchant,
        key="busy",
        request_method="POST",
        request_path=SESSIONS,
        request_fingerprint=request_fingerprint(method="POST", path=SESSIONS, body=body),
        locked_at=timezone.now(),
        created_at=timezone.now(),
    )
    busy = _create(api, body, key="busy")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert BankLinkSession.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "customer"),
        ({"customer": ""}, "customer"),
        ({"customer": 12}, "customer"),
        ({"customer": "pay_123"}, "customer"),
        ({"customer": "cus_" + "a" * 200}, "customer"),
        ({"customer": ["cus_x"]}, "customer"),
        ({"customer": "cus_unknown0000000000000000"}, "customer"),
        ([], None),
        ("cus_x", None),
    ],
)
def test_bad_bodies_are_400_in_the_error_shape_and_create_nothing(api, body, param):
    response = _create(api, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert not BankLinkSession.objects.exists()


def test_malformed_json_and_a_bad_idempotency_key_are_400(api, merchant):
    broken = api.post(SESSIONS, "{not json", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "parse_error"
    customer = CustomerFactory(merchant=merchant)
    bad_key = _create(api, {"customer": customer.public_id}, key="\u00e9" * 3)
    assert bad_key.status_code == 400
    assert bad_key.json()["error"]["code"] == "idempotency_key_invalid"


def test_another_merchants_customer_is_unknown(api):
    stranger = CustomerFactory()
    response = _create(api, {"customer": stranger.public_id})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "customer"
    assert not BankLinkSession.objects.exists()


# --- Reading accounts ------------------------------------------------------------------------


def test_an_account_shows_display_data_and_state_and_never_a_secret(api, merchant):
    account = _account(merchant)
    response = api.get(f"{ACCOUNTS}/{account.public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": account.public_id,
        "object": "bank_account",
        "customer": account.customer.public_id,
        "institution_name": "First Platypus Bank",
        "name": "Plaid Checking",
        "mask": "0000",
        "type": "depository",
        "subtype": "checking",
        "verification_state": "verified",
        "verification_status": "",
        "item_status": "active",
        "can_move_money": True,
        "created_at": body["created_at"],
        "verified_at": body["verified_at"],
        "disconnected_at": None,
    }
    text = response.content.decode()
    for secret in (ACCESS_TOKEN, "access-", FINGERPRINT, account.item.access_token.public_id):
        assert secret not in text
    for field in ("routing", "account_number", "access_token", "persistent_account_id"):
        assert field not in body


def test_can_move_money_is_false_unless_verified_connected_and_active(api, merchant):
    pending = _account(merchant, n=1, state=VerificationState.PENDING_MANUAL)
    broken = _account(merchant, n=2)
    PlaidItem.objects.filter(pk=broken.item_id).update(status=PlaidItemStatus.LOGIN_REQUIRED)
    gone = _account(merchant, n=3)
    BankAccount.objects.filter(pk=gone.pk).update(disconnected_at=timezone.now())
    answers = {a["id"]: a for a in api.get(ACCOUNTS, {"limit": 10}).json()["data"]}
    assert answers[pending.public_id]["can_move_money"] is False
    assert answers[broken.public_id]["can_move_money"] is False
    assert answers[broken.public_id]["item_status"] == "login_required"
    assert answers[gone.public_id]["can_move_money"] is False
    assert answers[gone.public_id]["disconnected_at"] is not None


def test_accounts_page_newest_first_with_a_cursor(api, merchant):
    made = [_account(merchant, n=n) for n in range(5)]
    now = timezone.now()
    for age, account in enumerate(made):
        BankAccount.objects.filter(pk=account.pk).update(created_at=now - timedelta(minutes=age))
    first = api.get(ACCOUNTS, {"limit": 2}).json()
    assert [a["id"] for a in first["data"]] == [made[0].public_id, made[1].public_id]
    assert first["has_more"] is True
    second = api.get(ACCOUNTS, {"limit": 2, "starting_after": made[1].public_id}).json()
    assert [a["id"] for a in second["data"]] == [made[2].public_id, made[3].public_id]
    last = api.get(ACCOUNTS, {"limit": 2, "starting_after": made[3].public_id}).json()
    assert [a["id"] for a in last["data"]] == [made[4].public_id]
    assert last["has_more"] is False


@pytest.mark.parametrize(
    ("query", "param"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit")],
)
def test_bad_list_parameters_are_400(api, query, param):
    response = api.get(ACCOUNTS, query)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_another_merchants_account_is_404_and_never_listed(api, merchant):
    mine = _account(merchant)
    theirs = _account(MerchantFactory())
    missing = api.get(f"{ACCOUNTS}/{theirs.public_id}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    assert [a["id"] for a in api.get(ACCOUNTS).json()["data"]] == [mine.public_id]
    # Their id as a cursor is simply unknown here: no rows of theirs leak through it.
    page = api.get(ACCOUNTS, {"starting_after": theirs.public_id}).json()
    assert theirs.public_id not in json.dumps(page)
    assert api.get(f"{ACCOUNTS}/ba_nope").status_code == 404


def test_the_openapi_schema_lists_the_banking_api():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    for path in (b"/api/v1/bank-link-sessions", b"/api/v1/bank-accounts/{public_id}"):
        assert path in response.content
    assert b"bank_link_sessions_create" in response.content
