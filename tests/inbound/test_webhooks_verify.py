"""Stripe webhook verification and the durable acknowledgement.

Given deliveries signed (or not) as Stripe signs them, when they reach `/webhooks/stripe/`,
then verified events are stored once with an outbox row and answered 200, and anything else is
answered 400 with a distinct reason code, counted, and leaves nothing stored.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.test import Client

from inbound.models import InboundEvent, InboundEventStatus, OutboxEntry
from inbound.services import webhook_rejection_count
from payments.gateways.stripe.webhooks import (
    Reason,
    SignatureError,
    signature_header,
    verify_event,
)
from tests.inbound.webhook_support import (
    CURRENT_SECRET,
    PREVIOUS_SECRET,
    URL,
    deliver,
    event_payload,
)

SECRETS = (CURRENT_SECRET, PREVIOUS_SECRET)


def _body(**kwargs) -> bytes:
    return json.dumps(event_payload(**kwargs)).encode()


# --- verify_event, the pure check -----------------------------------------------------------


def test_a_valid_signature_is_accepted_and_the_event_parsed_once():
    body = _body(event_type="payment_intent.succeeded", account="acct_123")
    event = verify_event(
        body=body, header=signature_header(body=body, secrets=[CURRENT_SECRET]), secrets=SECRETS
    )
    assert event.type == "payment_intent.succeeded"
    assert event.account == "acct_123"
    assert event.payload["data"]["object"]["object"] == "customer"


def test_the_previous_secret_is_accepted_during_rotation():
    body = _body()
    header = signature_header(body=body, secrets=[PREVIOUS_SECRET])
    assert verify_event(body=body, header=header, secrets=SECRETS).id


def test_one_matching_v1_among_several_is_enough():
    body = _body()
    header = signature_header(body=body, secrets=["whsec_unknown", CURRENT_SECRET])
    assert verify_event(body=body, header=header, secrets=SECRETS).id


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda body, header: (body.replace(b"customer", b"kustomer"), header), Reason.MISMATCH),
        (lambda body, header: (body, None), Reason.MISSING_HEADER),
        (lambda body, header: (body, ""), Reason.MISSING_HEADER),
        (lambda body, header: (body, header.split(",")[0]), Reason.NO_V1),
        (lambda body, header: (body, header.replace("v1=", "v0=")), Reason.NO_V1),
        (lambda body, header: (body, header.split(",", 1)[1]), Reason.BAD_HEADER),
        (lambda body, header: (body, "t=abc,v1=00"), Reason.BAD_HEADER),
        (lambda body, header: (body, header + ",t=1"), Reason.BAD_HEADER),
        (lambda body, header: (body, "garbage"), Reason.BAD_HEADER),
        (lambda body, header: (body, "t=1," + "v1=0," * 2000), Reason.BAD_HEADER),
    ],
    ids=[
        "tampered-body",
        "no-header",
        "empty-header",
        "no-v1",
        "only-v0",
        "no-timestamp",
        "bad-timestamp",
        "two-timestamps",
        "garbage",
        "huge-header",
    ],
)
def test_each_failure_has_its_own_reason(mutate, reason):
    body = _body()
    body, header = mutate(body, signature_header(body=body, secrets=[CURRENT_SECRET]))
    with pytest.raises(SignatureError) as caught:
        verify_event(body=body, header=header, secrets=SECRETS)
    assert caught.value.reason == reason


def test_a_wrong_secret_is_a_mismatch():
    body = _body()
    header = signature_header(body=body, secrets=["whsec_attacker"])
    with pytest.raises(SignatureError) as caught:
        verify_event(body=body, header=header, secrets=SECRETS)
    assert caught.value.reason == Reason.MISMATCH


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-301, Reason.STALE_TIMESTAMP), (301, Reason.FUTURE_TIMESTAMP), (-299, None), (299, None)],
)
def test_timestamps_are_accepted_within_300_seconds_either_way(offset, reason):
    now = 1_800_000_000
    body = _body()
    header = signature_header(body=body, secrets=[CURRENT_SECRET], timestamp=now + offset)
    if reason is None:
        assert verify_event(body=body, header=header, secrets=SECRETS, now=now).id
        return
    with pytest.raises(SignatureError) as caught:
        verify_event(body=body, header=header, secrets=SECRETS, now=now)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", Reason.BAD_JSON),
        (b"\xff\xfe\x00", Reason.BAD_JSON),
        (b"[1, 2]", Reason.BAD_EVENT),
        (b'{"id": 5, "type": "x"}', Reason.BAD_EVENT),
        (b'{"id": "evt_1"}', Reason.BAD_EVENT),
        (b'{"id": "evt_\\u0000", "type": "customer.created"}', Reason.BAD_EVENT),
        (b'{"id": "evt_1", "type": "customer.\\ud800"}', Reason.BAD_EVENT),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(body, reason):
    header = signature_header(body=body, secrets=[CURRENT_SECRET])
    with pytest.raises(SignatureError) as caught:
        verify_event(body=body, header=header, secrets=SECRETS)
    assert caught.value.reason == reason


def test_no_configured_secret_refuses_everything():
    body = _body()
    header = signature_header(body=body, secrets=[CURRENT_SECRET])
    with pytest.raises(SignatureError) as caught:
        verify_event(body=body, header=header, secrets=["", ""])
    assert caught.value.reason == Reason.NOT_CONFIGURED


# --- The endpoint ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_verified_delivery_is_stored_with_its_outbox_row_and_answered_200(
    django_capture_on_commit_callbacks,
):
    client = Client()
    payload = event_payload("customer.created", account="acct_unknown")
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    event = InboundEvent.objects.get(event_id=payload["id"])
    assert event.provider == "stripe"
    assert event.type == "customer.created"
    assert event.account == "acct_unknown"
    assert event.merchant is None
    assert event.payload == payload
    assert event.public_id.startswith("evt_")
    assert len(event.body_sha256) == 64
    outbox = OutboxEntry.objects.get(event=event)
    # After commit the event was published (eager Celery here: processed at once) and the
    # outbox row marked dispatched; an unknown type is ignored, not failed.
    assert outbox.dispatched_at is not None
    assert event.status == InboundEventStatus.IGNORED
    assert event.last_error == "unhandled event type"


@pytest.mark.django_db
def test_a_duplicate_delivery_answers_200_and_stores_nothing_more(caplog):
    client = Client()
    payload = event_payload()
    caplog.set_level(logging.DEBUG)
    first = deliver(client, payload)
    second = deliver(client, payload)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert InboundEvent.objects.filter(event_id=payload["id"]).count() == 1
    assert OutboxEntry.objects.count() == 1
    assert "IntegrityError" not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secrets": ("whsec_attacker",)}, Reason.MISMATCH),
        ({"at": int(time.time()) - 3600}, Reason.STALE_TIMESTAMP),
        ({"at": int(time.time()) + 3600}, Reason.FUTURE_TIMESTAMP),
        ({"header": ""}, Reason.MISSING_HEADER),
        ({"header": "t=1700000000"}, Reason.NO_V1),
    ],
)
def test_a_refused_delivery_is_400_with_its_reason_counted_and_nothing_stored(
    kwargs, reason, caplog
):
    client = Client()
    before = webhook_rejection_count(provider="stripe", reason=reason)
    caplog.set_level(logging.WARNING)
    response = deliver(client, event_payload(), **kwargs)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == reason
    assert webhook_rejection_count(provider="stripe", reason=reason) == before + 1
    assert InboundEvent.objects.count() == 0
    assert OutboxEntry.objects.count() == 0
    assert CURRENT_SECRET not in caplog.text
    assert reason in caplog.text


@pytest.mark.django_db
def test_a_tampered_body_is_refused():
    client = Client()
    payload = event_payload()
    body = json.dumps(payload).encode()
    header = signature_header(body=body, secrets=[CURRENT_SECRET])
    tampered = body.replace(b'"customer"', b'"charge"')
    response = deliver(client, tampered, header=header)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.MISMATCH
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_signed_bad_json_is_400_bad_json():
    response = deliver(Client(), b'{"id": "evt_1", "type": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.BAD_JSON


@pytest.mark.django_db
def test_an_oversized_body_is_refused_before_it_is_read():
    response = deliver(Client(), b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.TOO_LARGE


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [b"", b"\x00" * 50, b"null", '{"id": "\u00e9"}'.encode(), b"\xc3\x28"]
)
@pytest.mark.parametrize(
    "header",
    [None, "", "t=", "t=\u0661\u0662", "v1=", "t=1,v1=zz", ",,,,", "t=99999999999999999999"],
)
def test_garbage_never_causes_a_500(body, header):
    client = Client()
    extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header}
    response = client.post(URL, data=body, content_type="application/json", **extra)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "stored"),
    [("a\u0000b", "a\ufffdb"), ("\ud800x", "\ufffdx"), ("\U0001f600 ok", "\U0001f600 ok")],
)
def test_a_signed_event_with_text_no_database_can_hold_is_stored_not_lost(text, stored):
    """U+0000 and a lone surrogate (which JSON can spell) cannot go into PostgreSQL's jsonb:
    stored as U+FFFD, not a 500 on every delivery until Stripe gives up."""
    payload = event_payload()
    payload["data"]["object"]["name"] = text
    payload["data"]["object"]["metadata"] = {text: [text]}
    body = json.dumps(payload).encode()
    assert deliver(Client(), body).status_code == 200
    event = InboundEvent.objects.get(event_id=payload["id"])
    assert event.payload["data"]["object"]["name"] == stored
    assert event.payload["data"]["object"]["metadata"] == {stored: [stored]}


@pytest.mark.django_db
def test_only_post_is_allowed_and_no_csrf_token_is_needed():
    client = Client(enforce_csrf_checks=True)
    assert client.get(URL).status_code == 405
    assert deliver(client, event_payload()).status_code == 200


@pytest.mark.django_db
def test_connect_events_are_routed_to_the_merchant_by_account():
    from payments.models import ProcessorAccount
    from tests.factories import MerchantFactory

    merchant = MerchantFactory()
    ProcessorAccount.objects.create(merchant=merchant, stripe_account_id="acct_routed")
    payload = event_payload(account="acct_routed")
    assert deliver(Client(), payload).status_code == 200
    assert InboundEvent.objects.get(event_id=payload["id"]).merchant == merchant
