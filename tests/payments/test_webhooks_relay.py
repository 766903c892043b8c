"""The relay, the sweeper and reconciliation: nothing acknowledged is ever lost.

Given the broker down while Stripe delivers, the deliveries are still acknowledged at once and
processed once the relay runs with the broker back; given a lost task or a due retry, the
sweeper publishes the event again; given events Stripe never managed to deliver, the
reconciliation job lists them from the Events API and ingests them through the same insert.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from config.celery_app import app as celery_app
from payments import webhooks
from payments.models import (
    InboundEvent,
    InboundEventStatus,
    OutboxEntry,
    Payment,
    ProcessorAccount,
)
from payments.state import PaymentStatus
from tests.payments.webhook_support import (
    deliver,
    event_payload,
    fresh_publisher,  # noqa: F401 - autouse
)

pytestmark = pytest.mark.django_db(transaction=True)


def _reset_broker_pools() -> None:
    # Dropped, not closed: kombu keeps a process-wide pool per broker URL and would hand the
    # closed one back when the URL is restored.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """A broker nobody listens on (connection refused), with eager execution off."""
    saved = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    _reset_broker_pools()
    webhooks.broker_cooldown_reset()

    def back() -> None:
        # "Back" for these tests is an in-process worker: the task runs where it is published.
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
        _reset_broker_pools()
        webhooks.broker_cooldown_reset()

    yield back
    back()


def test_broker_down_all_acknowledged_at_once_then_processed_after_the_relay(broker_down):
    client = Client()
    payloads = [event_payload("customer.created") for _ in range(20)]
    statuses, seconds = [], []
    for payload in payloads:
        started = time.monotonic()
        statuses.append(deliver(client, payload).status_code)
        seconds.append(time.monotonic() - started)
    assert statuses == [200] * 20
    # Only the first delivery finds out the broker is down; the rest do not try it again.
    assert sorted(seconds)[-2] < 0.5, seconds
    assert InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).count() == 20
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == 20

    later = timezone.now() + webhooks.RELAY_GRACE
    # Still down: the relay publishes nothing and marks nothing.
    assert webhooks.inbound_events_relay(now=later) == 0
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == 20

    broker_down()
    assert webhooks.inbound_events_relay(now=later) == 20
    assert InboundEvent.objects.filter(status=InboundEventStatus.IGNORED).count() == 20
    assert not OutboxEntry.objects.filter(dispatched_at__isnull=True).exists()
    # A second run finds nothing left to publish.
    assert webhooks.inbound_events_relay(now=later) == 0


def test_the_relay_leaves_fresh_outbox_rows_to_the_request_that_wrote_them(broker_down):
    deliver(Client(), event_payload())
    broker_down()
    assert webhooks.inbound_events_relay() == 0
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == 1


def test_a_lost_task_is_published_again_once_its_event_is_due(monkeypatch):
    from payments import tasks

    # The publish "succeeds" but the message never reaches a worker (a broker restart).
    with monkeypatch.context() as patch:
        patch.setattr(tasks.inbound_event_process, "apply_async", lambda *a, **k: None)
        deliver(Client(), event_payload(event_id="evt_lost"))
    event = InboundEvent.objects.get(event_id="evt_lost")
    assert event.status == InboundEventStatus.RECEIVED
    assert OutboxEntry.objects.get(event=event).dispatched_at is not None
    assert webhooks.inbound_events_relay() == 0  # not due yet
    due = timezone.now() + webhooks.REDISPATCH_AFTER + timedelta(seconds=1)
    assert webhooks.inbound_events_relay(now=due) == 1
    event.refresh_from_db()
    assert event.status == InboundEventStatus.IGNORED


def test_a_failed_event_is_retried_when_its_backoff_has_passed(monkeypatch):
    calls: list[str] = []

    def flaky(event):
        calls.append(event.event_id)
        if len(calls) == 1:
            raise ConnectionError("processor unreachable")

    monkeypatch.setitem(webhooks.HANDLERS, ("stripe", "customer.created"), flaky)
    deliver(Client(), event_payload(event_id="evt_flaky"))
    event = InboundEvent.objects.get(event_id="evt_flaky")
    assert event.status == InboundEventStatus.FAILED
    assert webhooks.inbound_events_relay(now=timezone.now() + timedelta(seconds=5)) == 0
    assert webhooks.inbound_events_relay(now=event.next_attempt_at) == 1
    event.refresh_from_db()
    assert event.status == InboundEventStatus.SUCCEEDED
    assert event.attempts == 2
    assert calls == ["evt_flaky", "evt_flaky"]


@pytest.fixture
def undelivered_webhooks(sandbox_control):
    """Stripe tries to deliver to an endpoint that never gets anything (every event dropped)."""
    url = sandbox_control.url
    requests.post(
        f"{url}/_sandbox/stripe/webhook", json={"url": "http://127.0.0.1:9/"}, timeout=5
    ).raise_for_status()
    requests.post(
        f"{url}/_sandbox/webhooks", json={"faults": {"drop_fraction": 1.0}}, timeout=5
    ).raise_for_status()
    yield
    requests.post(
        f"{url}/_sandbox/webhooks", json={"faults": {"drop_fraction": 0.0}}, timeout=5
    ).raise_for_status()
    requests.post(f"{url}/_sandbox/stripe/webhook", json={"url": None}, timeout=5)


def test_reconciliation_ingests_events_that_never_arrived_once(api, merchant, undelivered_webhooks):
    response = api.post(
        "/api/v1/payments",
        {"amount": 1800, "currency": "gbp", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 201
    payment = Payment.objects.get(public_id=response.json()["id"])
    # Our row missed the outcome (as if the API answer had been lost too).
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.PROCESSING)
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id

    ingested = webhooks.inbound_events_reconcile()
    assert ingested >= 3
    succeeded = InboundEvent.objects.get(type="payment_intent.succeeded", account=account)
    assert succeeded.merchant == merchant
    assert succeeded.status == InboundEventStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    # A second run (or the late webhook) finds them all known: nothing new.
    assert webhooks.inbound_events_reconcile() == 0
    assert InboundEvent.objects.filter(type="payment_intent.succeeded").count() == 1
