"""audit_record: what an entry holds, where its defaults come from, and what it refuses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import RequestFactory

from compliance.actors import Actor
from compliance.models import AuditEntry, Outcome
from compliance.payloads import REDACTED, AuditPayloadError
from compliance.services import audit_record

pytestmark = pytest.mark.django_db


def _user(public_id: str = "usr_alice") -> SimpleNamespace:
    return SimpleNamespace(public_id=public_id, is_authenticated=True, email="alice@example.com")


def test_records_every_field_given_explicitly():
    entry = audit_record(
        action="payment.refund.created",
        actor=Actor.system("reconciliation"),
        merchant_id="mer_abc",
        target_type="payment",
        target_id="pay_123",
        outcome=Outcome.FAILURE,
        payload={"amount": 500, "currency": "eur"},
    )
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor_kind, stored.actor_id) == ("system", "reconciliation")
    assert stored.merchant_public_id == "mer_abc"
    assert (stored.target_type, stored.target_id) == ("payment", "pay_123")
    assert stored.outcome == "failure"
    assert stored.payload == {"amount": 500, "currency": "eur"}
    assert stored.created_at.utcoffset().total_seconds() == 0


def test_request_supplies_actor_merchant_and_origin():
    request = RequestFactory().post(
        "/x", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 400, REMOTE_ADDR="203.0.113.9"
    )
    request.user = _user()
    request.merchant = SimpleNamespace(public_id="mer_demo")
    request.request_id = "req_0123456789"
    entry = audit_record(action="auth.login.succeeded", request=request)
    assert (entry.actor_kind, entry.actor_id) == ("user", "usr_alice")
    assert entry.merchant_public_id == "mer_demo"
    assert entry.ip == "203.0.113.9"
    assert entry.request_id == "req_0123456789"
    assert entry.user_agent.startswith("Mozilla/5.0")
    assert len(entry.user_agent) == 256


def test_api_key_request_is_recorded_as_the_key_not_as_a_user():
    request = RequestFactory().post("/api/v1/payments")
    key = SimpleNamespace(public_id="key_live1", merchant=SimpleNamespace(public_id="mer_k"))
    # DRF sets both: a principal standing in for the user, and the key in `auth`.
    request.user = SimpleNamespace(public_id="key_live1", is_authenticated=True)
    request.auth = key
    request.merchant = None
    entry = audit_record(action="payment.created", request=request)
    assert (entry.actor_kind, entry.actor_id) == ("api_key", "key_live1")
    assert entry.merchant_public_id == "mer_k"


def test_explicit_actor_and_merchant_override_the_request():
    request = RequestFactory().get("/")
    request.user = _user()
    request.merchant = SimpleNamespace(public_id="mer_demo")
    entry = audit_record(
        action="team.role.changed",
        request=request,
        actor=Actor.webhook("stripe"),
        merchant_id="mer_other",
    )
    assert (entry.actor_kind, entry.actor_id, entry.merchant_public_id) == (
        "webhook",
        "stripe",
        "mer_other",
    )


def test_anonymous_request_records_an_anonymous_actor():
    request = RequestFactory().post("/accounts/login/")
    request.user = SimpleNamespace(is_authenticated=False)
    entry = audit_record(action="auth.login.failed", request=request, outcome=Outcome.FAILURE)
    assert (entry.actor_kind, entry.actor_id) == ("anonymous", "")


def test_entry_rolls_back_with_the_callers_transaction():
    def business_transaction() -> None:
        with transaction.atomic():
            audit_record(action="payment.refund.created", actor=Actor.system("t"))
            raise RuntimeError("business failure")

    with pytest.raises(RuntimeError, match="business failure"):
        business_transaction()
    assert not AuditEntry.objects.exists()


def test_secrets_card_numbers_and_emails_never_reach_the_table():
    entry = audit_record(
        action="api_key.created",
        actor=Actor.system("t"),
        payload={
            "password": "hunter2",
            "api_key": "ll_sk_abcdefghijkl",
            "stripe": {"client_secret": "pi_1_secret_2"},
            "note": "card 4242 4242 4242 4242 by bob@example.com with sk_test_abcdefgh",
            "card_last4": "4242",
            "card_brand": "visa",
        },
    )
    stored = AuditEntry.objects.get(pk=entry.pk).payload
    assert stored["password"] == REDACTED
    assert stored["api_key"] == REDACTED
    assert stored["stripe"]["client_secret"] == REDACTED
    assert "4242 4242" not in stored["note"]
    assert "bob@example.com" not in stored["note"]
    assert "sk_test_abcdefgh" not in stored["note"]
    assert stored["card_last4"] == "4242"
    assert stored["card_brand"] == "visa"


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 1.5},
        {"when": object()},
        {"big": 2**60},
        {"nested": {"a": {"b": {"c": {"d": 1}}}}},
        {"text": "x" * 600},
        {"bad key": 1},
        {"k" + str(i): "v" * 500 for i in range(20)},
    ],
    ids=["float", "object", "big-int", "too-deep", "long-string", "bad-key", "too-big"],
)
def test_payloads_that_cannot_be_recorded_are_refused(payload):
    with pytest.raises(AuditPayloadError):
        audit_record(action="payment.created", actor=Actor.system("t"), payload=payload)
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": "Payment Created"},
        {"action": "payment"},
        {"action": "payment.created", "outcome": "maybe"},
        {"action": "payment.created", "target_id": "alice@example.com"},
        {"action": "payment.created", "merchant_id": "mer x"},
        {"action": "payment.created", "target_type": "Payment"},
    ],
)
def test_malformed_codes_and_ids_are_refused(kwargs):
    with pytest.raises(ValueError, match="audit"):
        audit_record(actor=Actor.system("t"), **kwargs)


def test_actor_refuses_emails_and_unknown_kinds():
    with pytest.raises(ValueError, match="pseudonymous"):
        Actor.for_user(SimpleNamespace(public_id="alice@example.com"))
    with pytest.raises(ValueError, match="unknown audit actor kind"):
        Actor(kind="robot", id="r1")
    with pytest.raises(ValueError, match="needs an id"):
        Actor.system("")
    assert str(Actor.anonymous()) == "anonymous"
    assert Actor.for_user(_user("usr_x")) == Actor(kind="user", id="usr_x")
