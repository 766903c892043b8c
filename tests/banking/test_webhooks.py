"""`/webhooks/plaid/`: verified, stored once with its merchant, handled by re-reading Plaid."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from django.test import Client

from banking import services
from banking.gateways.plaid.webhooks import key_cache_clear
from banking.models import VerificationState
from compliance.actors import Actor
from payments.models import InboundEvent
from payments.webhooks import HANDLERS, inbound_event_process
from tests.banking.linking import PUBLIC_TOKEN, account, plaid, script_exchange, script_item
from tests.banking.plaid_stub import PlaidStub
from tests.banking.webhook_signing import SigningKey, webhook_body
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/webhooks/plaid/"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    key_cache_clear()
    with plaid(monkeypatch) as running:
        yield running
    key_cache_clear()


@pytest.fixture
def key(stub: PlaidStub) -> SigningKey:
    signing = SigningKey("kid-hook")
    stub.answer("/webhook_verification_key/get", {"key": signing.jwk(), "request_id": "r"})
    return signing


def _deliver(key: SigningKey, body: bytes) -> tuple[int, dict[str, object]]:
    response = Client().post(
        URL, body, content_type="application/json", headers={"Plaid-Verification": key.sign(body)}
    )
    return response.status_code, response.json()


def test_every_documented_plaid_type_has_a_handler() -> None:
    for event_type in ("AUTH:AUTOMATICALLY_VERIFIED", "ITEM:ERROR", "ITEM:LOGIN_REPAIRED"):
        assert ("plaid", event_type) in HANDLERS


def test_a_verified_webhook_is_stored_once_with_the_items_merchant_and_applied(
    stub: PlaidStub, key: SigningKey
) -> None:
    customer = CustomerFactory()
    new = services.bank_link_session_create(
        merchant=customer.merchant, customer=customer, actor=Actor.system("tests")
    )
    script_exchange(stub)
    script_item(stub, accounts=[account(status="pending_automatic_verification")], numbers=False)
    item = services.bank_link_complete(session=new.session, public_token=PUBLIC_TOKEN, metadata={})
    # The payload claims nothing we use: the handler re-reads Plaid.
    body = webhook_body("AUTH", "AUTOMATICALLY_VERIFIED", item.item_id, account_id="acc_1")
    status, answer = _deliver(key, body)
    assert (status, answer["duplicate"]) == (200, False)
    assert _deliver(key, body)[1]["duplicate"] is True
    event = InboundEvent.objects.get()
    assert event.provider == "plaid"
    assert event.event_id == hashlib.sha256(body).hexdigest()
    assert event.type == "AUTH:AUTOMATICALLY_VERIFIED"
    assert event.account == item.item_id
    assert event.merchant_id == customer.merchant_id
    script_item(stub, accounts=[account(status="automatically_verified")])
    assert inbound_event_process(event_id=event.pk) == "succeeded"
    assert item.accounts.get().verification_state == VerificationState.VERIFIED


def test_an_unknown_item_is_ignored(key: SigningKey) -> None:
    body = webhook_body("ITEM", "ERROR", "item_nobody")
    assert _deliver(key, body)[0] == 200
    event = InboundEvent.objects.get()
    assert event.merchant_id is None
    assert inbound_event_process(event_id=event.pk) == "ignored"


@pytest.mark.parametrize(
    ("body", "header"),
    [(b"{}", None), (b"{}", "garbage"), (b"\xff" * 10, "a.b.c"), (b"x", "e30.e30.e30")],
)
def test_unverified_deliveries_answer_400_and_store_nothing(
    body: bytes, header: str | None
) -> None:
    headers = {"Plaid-Verification": header} if header else {}
    response = Client().post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_get_is_refused() -> None:
    assert Client().get(URL).status_code == 405
