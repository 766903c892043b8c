"""Validly signed Stripe deliveries that no Stripe event looks like, and unforeseen failures.

Given a body signed with our secret but holding what the security review sent (NaN,
Infinity, a `created` out of any range, nesting thousands deep), when it reaches
`/webhooks/stripe/`, then the answer is never a 500: what cannot be parsed or stored is
refused with a reason code (logged, nothing stored), and a `created` no time can hold is
stored as no time. And whatever fails unforeseen inside the view answers 400 (before the
event is verified) or 503 (a verified event not stored, so Stripe retries), never 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client

from inbound import views as inbound_views
from inbound.models import InboundEvent, OutboxEntry
from payments import webhook_views
from payments.gateways.stripe.webhooks import Reason
from tests.inbound.webhook_support import deliver, event_payload

pytestmark = pytest.mark.django_db


def _client() -> Client:
    # A 500 is answered as a 500 here, as it would be to Stripe, instead of raised.
    return Client(raise_request_exception=False)


def _with_field(value_json: str) -> tuple[dict[str, Any], bytes]:
    """An event whose data.object carries `value_json` as written (not Python's spelling)."""
    payload = event_payload()
    body = json.dumps(payload).encode()
    marker = b'"object": "customer"'
    return payload, body.replace(marker, marker + b', "weird": ' + value_json.encode())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_a_signed_event_with_a_number_json_cannot_hold_is_refused_as_bad_json(
    literal: str, caplog: pytest.LogCaptureFixture
) -> None:
    """NaN and Infinity are not JSON, and 1e400 is no double: no database stores them, and
    Stripe never sends them. 400 bad_json, logged, nothing stored (was a 500 storing it)."""
    caplog.set_level(logging.WARNING)
    _, body = _with_field(literal)
    response = deliver(_client(), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.BAD_JSON
    assert "bad_json" in caplog.text
    assert not InboundEvent.objects.exists()
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("depth", [65, 900, 5000])
def test_a_signed_event_nested_too_deep_is_refused_as_too_deep(depth: int) -> None:
    """Deeper than 64 levels is no Stripe event; at 5,000 json.loads raised RecursionError."""
    _, body = _with_field("[" * depth + "]" * depth)
    response = deliver(_client(), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.TOO_DEEP
    assert not InboundEvent.objects.exists()


def test_a_signed_event_nested_to_the_limit_is_stored() -> None:
    # The event object, data and data.object take three levels of the 64.
    payload, body = _with_field("[" * 61 + "]" * 61)
    assert deliver(_client(), body).status_code == 200
    assert InboundEvent.objects.filter(event_id=payload["id"]).exists()


@pytest.mark.parametrize("created", [10**20, -(10**12), -1, 2**32, 2**64])
def test_a_signed_event_with_an_impossible_created_is_stored_without_that_time(
    created: int, caplog: pytest.LogCaptureFixture
) -> None:
    """`created` is shown, never relied on: the event is kept (Stripe sent it, signed) and
    the time left empty. 1e20 raised OverflowError and -1e12 ValueError: 500s."""
    caplog.set_level(logging.WARNING)
    payload = event_payload()
    payload["created"] = created
    response = deliver(_client(), payload)
    assert response.status_code == 200
    event = InboundEvent.objects.get(event_id=payload["id"])
    assert event.processor_created is None
    assert event.payload["created"] == created
    assert "implausible created time" in caplog.text


def test_a_plausible_created_is_kept() -> None:
    payload = event_payload(created=1_800_000_000)
    assert deliver(_client(), payload).status_code == 200
    stored = InboundEvent.objects.get(event_id=payload["id"]).processor_created
    assert stored is not None
    assert int(stored.timestamp()) == 1_800_000_000


def test_a_signature_header_with_a_non_ascii_v1_is_refused_not_a_500() -> None:
    """A WSGI header is Latin-1: `v1=é` reached hmac.compare_digest, which raises TypeError."""
    response = deliver(_client(), event_payload(), header="t=1800000000,v1=\u00e9\u00e9")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == Reason.BAD_HEADER


# --- The guard: one place for what nobody foresaw -------------------------------------------


def test_a_verified_event_that_cannot_be_stored_answers_503_and_is_stored_on_the_retry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database fails while storing a signed event: 503 store_failed, logged with the
    cause, so Stripe delivers again; the redelivery is stored once."""
    payload = event_payload()
    body = json.dumps(payload).encode()
    real_ingest = webhook_views.inbound_event_ingest

    def database_down(**kwargs: Any) -> Any:
        raise DatabaseError("connection to server lost")

    monkeypatch.setattr(webhook_views, "inbound_event_ingest", database_down)
    caplog.set_level(logging.WARNING)
    response = deliver(_client(), body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == inbound_views.STORE_FAILED
    assert "could not be stored" in caplog.text
    assert "connection to server lost" in caplog.text
    assert not InboundEvent.objects.exists()

    monkeypatch.setattr(webhook_views, "inbound_event_ingest", real_ingest)
    retried = deliver(_client(), body)
    assert retried.status_code == 200
    assert InboundEvent.objects.filter(event_id=payload["id"]).count() == 1


def test_an_unforeseen_failure_before_verification_answers_400_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(webhook_views, "verify_event", broken)
    caplog.set_level(logging.WARNING)
    response = deliver(_client(), event_payload())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == inbound_views.UNVERIFIABLE
    assert "RuntimeError" in caplog.text
    assert not InboundEvent.objects.exists()
