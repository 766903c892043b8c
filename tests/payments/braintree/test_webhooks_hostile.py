"""Whatever reaches `/webhooks/braintree/` from the internet answers 4xx with a reason (never a
500) and stores nothing unless it is a notification signed with a connected merchant's keys;
a verified one that cannot be stored answers 503 so Braintree retries."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbound.models import InboundEvent
from payments.models import ProcessorAccount
from sandbox.client import SandboxControl

URL = "/webhooks/braintree/"
FORM = "application/x-www-form-urlencoded"


def _post(client: Client, body: bytes | str, content_type: str = FORM) -> Any:
    return client.post(URL, data=body, content_type=content_type)


@pytest.fixture
def genuine(bt_account: ProcessorAccount, bt_control: SandboxControl) -> dict[str, str]:
    return bt_control.braintree_sample_notification("check", "check_id")


def _tampered_payload(fields: dict[str, str]) -> dict[str, str]:
    xml = base64.b64decode(fields["bt_payload"]).replace(b"check", b"chuck", 1)
    return {**fields, "bt_payload": base64.encodebytes(xml).decode()}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda f: b"", "missing_fields"),
        (lambda f: urlencode({"bt_payload": f["bt_payload"]}), "missing_fields"),
        (lambda f: urlencode({"bt_signature": f["bt_signature"]}), "missing_fields"),
        (lambda f: urlencode([*f.items(), ("bt_signature", "other|abc")]), "missing_fields"),
        (lambda f: urlencode({**f, "bt_signature": "no-pipe-at-all"}), "bad_signature"),
        (lambda f: urlencode({**f, "bt_signature": "unknown_public|00ff"}), "unknown_key"),
        (
            lambda f: urlencode({**f, "bt_signature": f["bt_signature"].split("|")[0] + "|00"}),
            "mismatch",
        ),
        (lambda f: urlencode(_tampered_payload(f)), "mismatch"),
        (lambda f: urlencode({**f, "bt_payload": "%%%not base64%%%"}), "mismatch"),
        (lambda f: b"\xff\xfe\x00binary", "missing_fields"),
        (lambda f: urlencode({**f, "bt_signature": "k|" * 5000}), "too_large"),
    ],
)
def test_unverified_deliveries_are_refused_with_a_reason_and_nothing_stored(
    client: Client, genuine: dict[str, str], make: Any, reason: str
) -> None:
    response = _post(client, make(genuine))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == reason
    assert not InboundEvent.objects.exists()


def test_a_genuine_check_notification_is_stored(
    client: Client, genuine: dict[str, str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, urlencode(genuine))
    assert response.status_code == 200
    assert InboundEvent.objects.get().type == "check"


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: Client, bt_account: ProcessorAccount
) -> None:
    response = _post(client, b"bt_payload=" + b"A" * (300 * 1024))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_large"


def test_only_post_is_allowed(client: Client) -> None:
    assert client.get(URL).status_code == 405


def test_a_verified_notification_that_cannot_be_stored_answers_503(
    client: Client, genuine: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments import webhook_views

    def broken(**_: Any) -> Any:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(webhook_views, "inbound_event_ingest", broken)
    response = _post(client, urlencode(genuine))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_failed"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    signature=st.text(max_size=300),
    payload=st.text(max_size=300),
    extra=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4),
)
def test_arbitrary_form_input_never_answers_5xx(
    client: Client, genuine: dict[str, str], signature: str, payload: str, extra: dict[str, str]
) -> None:
    body = urlencode({**extra, "bt_signature": signature, "bt_payload": payload})
    assert _post(client, body).status_code in (200, 400)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=500))
def test_arbitrary_bytes_never_answer_5xx(
    client: Client, genuine: dict[str, str], raw: bytes
) -> None:
    assert _post(client, raw).status_code == 400
