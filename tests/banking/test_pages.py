"""Bank pages: the merchant's Bank accounts page and the customer's /link/<token>/ page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from banking import services
from banking.models import BankLinkSession, BankLinkSessionStatus, VerificationState
from compliance.actors import Actor
from tests.banking.linking import (
    ACCESS_TOKEN,
    ACCOUNT_NUMBER,
    PUBLIC_TOKEN,
    account,
    plaid,
    script_exchange,
    script_item,
)
from tests.banking.plaid_stub import PlaidStub
from tests.factories import member, verified_client
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    with plaid(monkeypatch) as running:
        yield running


def _new_session() -> services.NewBankLinkSession:
    customer = CustomerFactory()
    return services.bank_link_session_create(
        merchant=customer.merchant, customer=customer, actor=Actor.system("tests")
    )


def _post(client: Client, path: str, body: object) -> tuple[int, dict[str, object]]:
    response = client.post(path, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_merchant_creates_a_session_and_sees_its_url_once() -> None:
    customer = CustomerFactory()
    owner = member(Role.OWNER, customer.merchant)
    client = verified_client(owner.user, merchant=customer.merchant)
    response = client.post(reverse("bank-link-session-create"), {"customer": customer.public_id})
    assert response.status_code == 200
    session = BankLinkSession.objects.get()
    assert "/link/" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = client.get(reverse("bank-accounts")).content.decode()
    assert "/link/" not in again
    assert session.token_hash not in again


def test_a_viewer_sees_accounts_but_cannot_create_sessions() -> None:
    customer = CustomerFactory()
    viewer = member(Role.VIEWER, customer.merchant)
    client = verified_client(viewer.user, merchant=customer.merchant)
    assert client.get(reverse("bank-accounts")).status_code == 200
    response = client.post(reverse("bank-link-session-create"), {"customer": customer.public_id})
    assert response.status_code == 403
    assert not BankLinkSession.objects.exists()


def test_another_merchants_customer_gets_a_form_error() -> None:
    owner = member(Role.OWNER)
    other = CustomerFactory()
    client = verified_client(owner.user, merchant=owner.merchant)
    response = client.post(reverse("bank-link-session-create"), {"customer": other.public_id})
    assert response.status_code == 400
    assert not BankLinkSession.objects.exists()


def test_the_link_page_loads_link_from_the_sandbox_origin_with_a_widened_csp(
    stub: PlaidStub,
) -> None:
    new = _new_session()
    stub.answer("/link/token/create", {"link_token": "link-sandbox-xyz", "expiration": "x"})
    response = Client().get(new.path)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="{stub.url}/link/v2/stable/link-initialize.js"' in html
    assert "banking/link.js" in html
    assert stub.url in response["Content-Security-Policy"]
    sent = stub.calls("/link/token/create")[0]
    assert sent["webhook"].endswith("/webhooks/plaid/")


def test_linking_then_pending_code_shows_attempts_left_and_no_secrets(stub: PlaidStub) -> None:
    new = _new_session()
    client = Client()
    script_exchange(stub)
    script_item(stub, accounts=[account(status="pending_manual_verification")], numbers=False)
    status, body = _post(
        client,
        new.path,
        {"action": "success", "public_token": PUBLIC_TOKEN, "metadata": {"institution": {}}},
    )
    assert (status, body["ok"]) == (200, True)
    stub.answer("/link/token/create", {"link_token": "link-sandbox-upd", "expiration": "x"})
    page = client.get(new.path).content.decode()
    assert "3 attempts left" in page
    assert "Continue with your bank" in page
    assert stub.calls("/link/token/create")[0]["access_token"] == ACCESS_TOKEN
    for secret in (ACCESS_TOKEN, ACCOUNT_NUMBER, PUBLIC_TOKEN):
        assert secret not in page


def test_an_instantly_verified_link_shows_the_account_as_verified(stub: PlaidStub) -> None:
    new = _new_session()
    script_exchange(stub)
    script_item(stub)
    client = Client()
    _post(client, new.path, {"action": "success", "public_token": PUBLIC_TOKEN})
    page = client.get(new.path).content.decode()
    assert VerificationState.VERIFIED.label in page
    assert new.session.merchant.bank_accounts.get().verification_state == "verified"


def test_an_expired_link_answers_410() -> None:
    new = _new_session()
    BankLinkSession.objects.filter(pk=new.session.pk).update(expires_at=timezone.now())
    assert Client().get(new.path).status_code == 410


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"action": 1}', b'{"action": "success"}', b'{"action": "x"}'],
)
def test_garbage_posts_answer_4xx(body: bytes) -> None:
    new = _new_session()
    response = Client().post(new.path, body, content_type="application/json")
    assert 400 <= response.status_code < 500
    new.session.refresh_from_db()
    assert new.session.status == BankLinkSessionStatus.OPEN


@pytest.mark.parametrize("token", ["x", "a" * 43, "%00", "a" * 300])
def test_unknown_tokens_answer_404(token: str) -> None:
    assert Client().get(f"/link/{token}/").status_code == 404
