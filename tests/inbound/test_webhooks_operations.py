"""Operating the pipeline: merchants read their events over the API; staff replay in the admin.

Given stored events of two merchants, when a key lists or reads events, then it sees only its
own merchant's, newest first with cursor pagination; given failed and dead events, when staff
with the replay permission (or a superuser) replay them in the admin, then each is applied once
and the replay is audited, while staff without it cannot.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.utils import timezone

from accounts.roles import Role
from compliance.models import AuditEntry
from inbound.models import InboundEvent, InboundEventStatus
from tests.factories import MerchantFactory, UserFactory, verified_client
from tests.inbound.webhook_support import (
    event_payload,
)
from tests.payments.conftest import api_client_for

pytestmark = pytest.mark.django_db


def _event(merchant, *, status=InboundEventStatus.SUCCEEDED, age_seconds=0, **fields):
    payload = event_payload(fields.pop("type", "payment_intent.succeeded"))
    return InboundEvent.objects.create(
        provider="stripe",
        event_id=payload["id"],
        type=payload["type"],
        merchant=merchant,
        payload=payload,
        status=status,
        received_at=timezone.now() - timedelta(seconds=age_seconds),
        **fields,
    )


def test_events_list_is_scoped_to_the_keys_merchant_newest_first_with_cursor():
    mine, theirs = MerchantFactory(), MerchantFactory()
    events = [_event(mine, age_seconds=100 - i) for i in range(5)]
    _event(theirs)
    api = api_client_for(mine)
    first = api.get("/api/v1/events", {"limit": 3}).json()
    assert [e["id"] for e in first["data"]] == [e.public_id for e in events[::-1][:3]]
    assert first["has_more"] is True
    second = api.get(
        "/api/v1/events", {"limit": 3, "starting_after": first["data"][-1]["id"]}
    ).json()
    assert [e["id"] for e in second["data"]] == [e.public_id for e in events[::-1][3:]]
    assert second["has_more"] is False
    item = first["data"][0]
    assert set(item) >= {
        "id",
        "type",
        "status",
        "attempts",
        "outcome",
        "received_at",
        "processed_at",
    }


def test_events_filter_by_status_and_type():
    merchant = MerchantFactory()
    failed = _event(
        merchant,
        status=InboundEventStatus.FAILED,
        last_error="KeyError: 'charges' at inbound/services/processing.py:120",
        attempts=2,
    )
    _event(merchant, type="account.updated")
    api = api_client_for(merchant)
    response = api.get("/api/v1/events", {"status": "failed"})
    data = response.json()["data"]
    assert [(e["id"], e["attempts"], e["outcome"]["code"]) for e in data] == [
        (failed.public_id, 2, "processing_retrying")
    ]
    assert "retried automatically" in data[0]["outcome"]["message"]
    # The exception text is for platform staff, never in a merchant's answer.
    assert "KeyError" not in response.content.decode()
    assert len(api.get("/api/v1/events", {"type": "account.updated"}).json()["data"]) == 1
    assert api.get("/api/v1/events", {"status": "nope"}).status_code == 400


def test_event_detail_of_another_merchant_is_404():
    mine, theirs = MerchantFactory(), MerchantFactory()
    own, other = _event(mine), _event(theirs)
    api = api_client_for(mine)
    assert api.get(f"/api/v1/events/{own.public_id}").json()["id"] == own.public_id
    assert api.get(f"/api/v1/events/{other.public_id}").status_code == 404
    assert api.get("/api/v1/events", {"starting_after": other.public_id}).status_code == 400


def test_roles_without_developer_access_cannot_read_events():
    merchant = MerchantFactory()
    assert api_client_for(merchant, Role.VIEWER).get("/api/v1/events").status_code == 403
    assert api_client_for(merchant, Role.DEVELOPER).get("/api/v1/events").status_code == 200


def _replay_in_admin(client, *events):
    return client.post(
        "/admin/inbound/inboundevent/",
        {"action": "replay", "_selected_action": [e.pk for e in events]},
        follow=True,
    )


@pytest.mark.django_db(transaction=True)
def test_staff_with_the_permission_replay_failed_and_dead_events_once_audited():
    merchant = MerchantFactory()
    dead = _event(merchant, status=InboundEventStatus.DEAD, type="customer.created", attempts=8)
    done = _event(merchant, status=InboundEventStatus.SUCCEEDED)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *AuthPermission.objects.filter(codename__in=("view_inboundevent", "replay_inboundevent"))
    )
    client = verified_client(staff)

    response = _replay_in_admin(client, dead, done)
    assert response.status_code == 200
    dead.refresh_from_db()
    done.refresh_from_db()
    # Published after commit and (eagerly) processed: an unknown type ends ignored.
    assert dead.status == InboundEventStatus.IGNORED
    assert done.status == InboundEventStatus.SUCCEEDED
    replays = AuditEntry.objects.filter(action="inbound_event.replay")
    assert list(replays.values_list("target_id", "actor_kind")) == [(dead.public_id, "user")]
    # Replaying again changes nothing: it is no longer failed or dead.
    _replay_in_admin(client, dead)
    assert replays.count() == 1


def test_staff_without_the_permission_cannot_replay():
    merchant = MerchantFactory()
    dead = _event(merchant, status=InboundEventStatus.DEAD)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(AuthPermission.objects.get(codename="view_inboundevent"))
    client = verified_client(staff)
    page = client.get("/admin/inbound/inboundevent/")
    assert page.status_code == 200
    assert b"Replay selected" not in page.content
    _replay_in_admin(client, dead)
    dead.refresh_from_db()
    assert dead.status == InboundEventStatus.DEAD
    assert not AuditEntry.objects.filter(action="inbound_event.replay").exists()


def test_superusers_see_the_events_and_the_replay_action():
    merchant = MerchantFactory()
    _event(merchant, status=InboundEventStatus.FAILED)
    client = verified_client(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/inbound/inboundevent/")
    assert page.status_code == 200
    assert b"Replay selected failed or dead events" in page.content
