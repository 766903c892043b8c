"""The Developers page lists the merchant's own inbound processor events, filterable by status."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from inbound.models import InboundEvent, InboundEventStatus
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db
PAGE = reverse("developers")


def _event(merchant, event_id: str, status: str, error: str = "") -> InboundEvent:  # type: ignore[no-untyped-def]
    return InboundEvent.objects.create(
        provider="stripe",
        event_id=event_id,
        type="payment_intent.succeeded",
        merchant=merchant,
        payload={},
        status=status,
        attempts=2 if error else 1,
        last_error=error,
    )


def test_developers_page_shows_own_events_with_status_attempts_and_error():
    mine = member(Role.DEVELOPER)
    other = member(Role.OWNER)
    ok = _event(mine.merchant, "evt_ok", InboundEventStatus.SUCCEEDED)
    failed = _event(mine.merchant, "evt_bad", InboundEventStatus.FAILED, "handler exploded")
    foreign = _event(other.merchant, "evt_foreign", InboundEventStatus.SUCCEEDED)

    body = verified_client(mine.user).get(PAGE).content.decode()

    assert ok.public_id in body
    assert failed.public_id in body
    # Merchants read a code and a sentence; the exception text stays with platform staff.
    assert "processing_retrying" in body
    assert "handler exploded" not in body
    assert foreign.public_id not in body


def test_event_status_filter_narrows_and_garbage_is_ignored():
    mine = member(Role.OWNER)
    ok = _event(mine.merchant, "evt_ok", InboundEventStatus.SUCCEEDED)
    dead = _event(mine.merchant, "evt_dead", InboundEventStatus.DEAD, "gave up")
    client = verified_client(mine.user)

    only_dead = client.get(PAGE, {"event_status": "dead"}).content.decode()
    assert dead.public_id in only_dead
    assert ok.public_id not in only_dead

    garbage = client.get(PAGE, {"event_status": "<script>"})
    assert garbage.status_code == 200
    assert ok.public_id in garbage.content.decode()


def test_roles_without_developer_access_do_not_see_events():
    viewer = member(Role.VIEWER)
    _event(viewer.merchant, "evt_ok", InboundEventStatus.SUCCEEDED)
    assert verified_client(viewer.user).get(PAGE).status_code == 403


@pytest.mark.parametrize(
    ("status", "stored", "code", "sentence"),
    [
        (
            InboundEventStatus.FAILED,
            "IntegrityError: duplicate key value violates unique constraint payments_secret",
            "processing_retrying",
            "retried automatically",
        ),
        (
            InboundEventStatus.FAILED,
            "EventNotReadyError: payment pi_123 not stored yet",
            "waiting_for_related_object",
            "has not reached Ledgerline yet",
        ),
        (
            InboundEventStatus.DEAD,
            "RuntimeError: Traceback (most recent call last)",
            "processing_stopped",
            "stopped retrying after 2 attempts",
        ),
        (
            InboundEventStatus.IGNORED,
            "unhandled event type",
            "event_type_not_used",
            "This is normal",
        ),
    ],
)
def test_event_outcomes_are_codes_and_sentences_never_exception_text(
    status, stored, code, sentence
):
    mine = member(Role.DEVELOPER)
    _event(mine.merchant, "evt_x", status, stored)
    body = verified_client(mine.user).get(PAGE).content.decode()
    assert f"<code>{code}</code>" in body
    assert sentence in body
    assert stored not in body
    assert "Error" not in body.split('<h2 id="events-title">')[1]
