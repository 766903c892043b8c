"""`/webhooks/plaid/`: the sandbox's signed webhooks, verified, stored once with the item's
merchant, and applied by re-reading Plaid through the pipeline (Celery eager in tests)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from banking.gateways.plaid.webhooks import key_cache_clear
from banking.models import PlaidItemStatus, VerificationState
from inbound.models import InboundEvent
from inbound.registry import handlers
from inbound.services import inbound_event_process
from tests.banking.linking import WEBHOOK_URL, PlaidSandbox, Received, deliver, new_session

pytestmark = pytest.mark.django_db
Deliver = Callable[[Received], tuple[int, dict[str, object]]]


@pytest.fixture
def applied(django_capture_on_commit_callbacks: Any) -> Deliver:
    """Deliver, then run what the request's commit starts (the pipeline, Celery eager)."""

    def run(hook: Received) -> tuple[int, dict[str, object]]:
        with django_capture_on_commit_callbacks(execute=True):
            return deliver(hook)

    return run


def test_every_documented_plaid_type_has_a_handler() -> None:
    for event_type in (
        "AUTH:AUTOMATICALLY_VERIFIED",
        "AUTH:VERIFICATION_EXPIRED",
        "AUTH:SMS_MICRODEPOSITS_VERIFICATION",
        "ITEM:ERROR",
        "ITEM:LOGIN_REPAIRED",
        "ITEM:PENDING_EXPIRATION",
        "ITEM:USER_PERMISSION_REVOKED",
    ):
        assert ("plaid", event_type) in handlers


def test_the_code_webhook_is_stored_once_with_the_items_merchant_and_applied(
    plaid: PlaidSandbox, applied: Deliver
) -> None:
    """Same-day code accepted: Plaid's AUTH webhook, delivered twice, verifies the account."""
    new = new_session()
    item = plaid.link(new.session, "same_day")
    new.session.refresh_from_db()
    plaid.run_link(plaid.link_token(new.session), "verify", code="ABC")
    (hook,) = plaid.signed_webhooks(item)
    assert hook.event["webhook_code"] == "SMS_MICRODEPOSITS_VERIFICATION"
    status, answer = applied(hook)
    assert (status, answer["duplicate"]) == (200, False)
    assert applied(hook)[1]["duplicate"] is True
    event = InboundEvent.objects.get()
    assert event.provider == "plaid"
    assert event.event_id == hashlib.sha256(hook.body).hexdigest()
    assert event.type == "AUTH:SMS_MICRODEPOSITS_VERIFICATION"
    assert event.account == item.item_id
    assert event.merchant_id == new.session.merchant_id
    # Eager Celery applied it after the request's commit.
    assert event.status == "succeeded"
    assert item.accounts.get().verification_state == VerificationState.VERIFIED


def test_item_error_then_login_repaired_webhooks_follow_the_item(
    plaid: PlaidSandbox, applied: Deliver
) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    plaid.for_item(item, "/sandbox/item/reset_login")
    (error,) = plaid.signed_webhooks(item)
    assert applied(error)[0] == 200
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.LOGIN_REQUIRED
    new.session.refresh_from_db()
    plaid.run_link(plaid.link_token(new.session), "update")
    repaired = plaid.signed_webhooks(item)[-1]
    assert repaired.event["webhook_code"] == "LOGIN_REPAIRED"
    assert applied(repaired)[0] == 200
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.ACTIVE


def test_an_unknown_item_is_ignored(plaid: PlaidSandbox, applied: Deliver) -> None:
    """A correctly signed webhook for an item that is not ours (another app's Link run)."""
    done = plaid.run_link(plaid.link_token(new_session().session), "instant")
    exchanged = plaid.sandbox_call("/item/public_token/exchange", public_token=done["public_token"])
    plaid.sandbox_call("/sandbox/item/reset_login", access_token=exchanged["access_token"])
    plaid.control.wait_for_webhooks(timeout=10)
    (hook,) = plaid.inbox.for_item(exchanged["item_id"])
    assert applied(hook)[0] == 200
    event = InboundEvent.objects.get()
    assert event.merchant_id is None
    assert event.status == "ignored"
    assert inbound_event_process(event_id=event.pk) == "ignored"


def test_a_tampered_sandbox_webhook_is_refused_and_nothing_stored(plaid: PlaidSandbox) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    plaid.for_item(item, "/sandbox/item/reset_login")
    (hook,) = plaid.signed_webhooks(item)
    forged = Received(hook.body.replace(b"ERROR", b"LOGIN_REPAIRED"), hook.verification)
    assert deliver(forged)[0] == 400
    stolen = Received(hook.body, hook.verification[:-4] + "AAAA")
    assert deliver(stolen)[0] == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "fault", [{"alg": "none"}, {"alg": "HS256"}, {"unknown_kid": True}, {"tamper_body": True}]
)
def test_sandbox_signature_faults_are_refused(
    plaid: PlaidSandbox, fault: dict[str, object]
) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    plaid.control.plaid_signature_faults(**fault)
    try:
        plaid.for_item(item, "/sandbox/item/reset_login")
        (hook,) = plaid.signed_webhooks(item)
    finally:
        plaid.control.plaid_signature_faults(alg="ES256", unknown_kid=False, tamper_body=False)
    assert deliver(hook)[0] == 400
    assert not InboundEvent.objects.exists()


def test_a_rotated_key_still_verifies_and_an_expired_one_does_not(plaid: PlaidSandbox) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    plaid.control.plaid_rotate_key()
    plaid.for_item(item, "/sandbox/item/reset_login")
    (hook,) = plaid.signed_webhooks(item)
    assert deliver(hook)[0] == 200
    kid = plaid.control.plaid("GET", "keys")["current"]
    plaid.control.plaid_expire_keys(kid)
    # A process that has not cached the key yet learns its expiry from Plaid and refuses.
    key_cache_clear()
    assert deliver(hook)[0] == 400
    assert InboundEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "header"),
    [(b"{}", None), (b"{}", "garbage"), (b"\xff" * 10, "a.b.c"), (b"x", "e30.e30.e30")],
)
def test_unverified_deliveries_answer_400_and_store_nothing(
    body: bytes, header: str | None
) -> None:
    headers = {"Plaid-Verification": header} if header else {}
    response = Client().post(WEBHOOK_URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_get_is_refused() -> None:
    assert Client().get(WEBHOOK_URL).status_code == 405
