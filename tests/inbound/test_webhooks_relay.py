"""The relay, the sweeper and reconciliation: nothing acknowledged is ever lost.

Given the broker down while Stripe delivers, the deliveries are still acknowledged at once and
processed once the relay runs with the broker back; given a lost task or a due retry, the
sweeper publishes the event again; given events Stripe never managed to deliver, the
reconciliation job lists them from the Events API and ingests them through the same insert.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.celery_app import app as celery_app
from inbound import registry
from inbound import tasks as inbound_tasks
from inbound.models import InboundEvent, InboundEventStatus, OutboxEntry
from inbound.relay import run_relay
from inbound.services import outbox, reconcile
from payments.models import Payment, ProcessorAccount
from payments.state import PaymentStatus
from tests.factories import MerchantFactory
from tests.inbound.webhook_support import (
    deliver,
    event_payload,
    wait_until,
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

    def back() -> None:
        # "Back" for these tests is an in-process worker: the task runs where it is published.
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
        _reset_broker_pools()

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
    # The request never waits on the broker: it does not even try it.
    assert max(seconds) < 0.5, seconds
    assert InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).count() == 20
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == 20

    # Still down: the relay publishes nothing and marks nothing.
    assert outbox.inbound_events_relay() == 0
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == 20

    broker_down()
    assert outbox.inbound_events_relay() == 20
    assert InboundEvent.objects.filter(status=InboundEventStatus.IGNORED).count() == 20
    assert not OutboxEntry.objects.filter(dispatched_at__isnull=True).exists()
    # A second run finds nothing left to publish.
    assert outbox.inbound_events_relay() == 0


def _no_publishing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the request published to the broker")

    monkeypatch.setattr(inbound_tasks.inbound_events_process, "apply_async", refuse)


@pytest.mark.postgres
def test_an_acknowledgement_is_one_statement_and_never_touches_the_broker(broker_down, monkeypatch):
    _no_publishing(monkeypatch)
    merchant = MerchantFactory()
    # A new account id per run: the process remembers account -> merchant for its life.
    account = f"acct_one_trip_{uuid.uuid4().hex[:12]}"
    ProcessorAccount.objects.create(merchant=merchant, stripe_account_id=account)
    # The first event of an account looks its merchant up once; the process remembers it.
    deliver(Client(), event_payload(account=account))
    payload = event_payload(event_id="evt_one_trip", account=account)
    with CaptureQueriesContext(connection) as queries:
        assert deliver(Client(), payload).status_code == 200
    assert len(queries) == 1, [q["sql"][:80] for q in queries]
    assert "pg_notify" in queries[0]["sql"]
    event = InboundEvent.objects.get(event_id="evt_one_trip")
    assert OutboxEntry.objects.filter(event=event, dispatched_at__isnull=True).count() == 1
    # A duplicate is the same single statement, inserting nothing.
    with CaptureQueriesContext(connection) as queries:
        assert deliver(Client(), payload).status_code == 200
    assert len(queries) == 1
    assert OutboxEntry.objects.filter(event=event).count() == 1
    assert event.merchant == merchant


def test_a_batch_is_published_as_messages_of_at_most_publish_batch_ids(broker_down, monkeypatch):
    messages: list[list[int]] = []
    monkeypatch.setattr(
        inbound_tasks.inbound_events_process,
        "apply_async",
        lambda args, **kwargs: messages.append(list(args[0])),
    )
    count = outbox.PUBLISH_BATCH * 2 + 3
    for _ in range(count):
        deliver(Client(), event_payload())
    assert outbox.inbound_events_relay() == count
    assert [len(m) for m in messages] == [outbox.PUBLISH_BATCH] * 2 + [3]
    stored = set(InboundEvent.objects.values_list("pk", flat=True))
    assert sorted(pk for m in messages for pk in m) == sorted(stored)


@pytest.mark.postgres
def test_the_relay_process_wakes_on_the_commit_not_on_its_poll(broker_down, monkeypatch):
    published: list[int] = []

    def publish(event_pks: list[int]) -> bool:
        published.extend(event_pks)
        return True

    monkeypatch.setattr(outbox, "inbound_events_publish", publish)
    stop = threading.Event()
    # A poll far longer than the wait below: only the NOTIFY can wake the relay in time.
    relay = threading.Thread(
        target=run_relay, kwargs={"poll_seconds": 60.0, "should_stop": stop.is_set}
    )
    relay.start()
    try:
        time.sleep(0.5)  # let it drain the (empty) outbox and block in its wait
        deliver(Client(), event_payload(event_id="evt_wake"))
        event = InboundEvent.objects.get(event_id="evt_wake")
        wait_until(lambda: event.pk in published, seconds=20, what="the relay to publish")
    finally:
        stop.set()
        # Wake it once more so it sees the stop flag without waiting out its poll.
        deliver(Client(), event_payload())
        relay.join(timeout=30)
    assert not relay.is_alive()
    assert OutboxEntry.objects.get(event=event).dispatched_at is not None


def test_a_lost_task_is_published_again_once_its_event_is_due(monkeypatch):
    # The publish "succeeds" but the message never reaches a worker (a broker restart).
    with monkeypatch.context() as patch:
        patch.setattr(inbound_tasks.inbound_events_process, "apply_async", lambda *a, **k: None)
        deliver(Client(), event_payload(event_id="evt_lost"))
    event = InboundEvent.objects.get(event_id="evt_lost")
    assert event.status == InboundEventStatus.RECEIVED
    assert OutboxEntry.objects.get(event=event).dispatched_at is not None
    assert outbox.inbound_events_relay() == 0  # not due yet
    due = timezone.now() + outbox.REDISPATCH_AFTER + timedelta(seconds=1)
    assert outbox.inbound_events_relay(now=due) == 1
    event.refresh_from_db()
    assert event.status == InboundEventStatus.IGNORED


def test_a_failed_event_is_retried_when_its_backoff_has_passed(monkeypatch):
    calls: list[str] = []

    def flaky(event):
        calls.append(event.event_id)
        if len(calls) == 1:
            raise ConnectionError("processor unreachable")

    monkeypatch.setitem(registry._handlers, ("stripe", "customer.created"), flaky)
    deliver(Client(), event_payload(event_id="evt_flaky"))
    event = InboundEvent.objects.get(event_id="evt_flaky")
    assert event.status == InboundEventStatus.FAILED
    assert outbox.inbound_events_relay(now=timezone.now() + timedelta(seconds=5)) == 0
    assert outbox.inbound_events_relay(now=event.next_attempt_at) == 1
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

    ingested = reconcile.inbound_events_reconcile()
    assert ingested >= 3
    succeeded = InboundEvent.objects.get(type="payment_intent.succeeded", account=account)
    assert succeeded.merchant == merchant
    assert succeeded.status == InboundEventStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    # A second run (or the late webhook) finds them all known: nothing new.
    assert reconcile.inbound_events_reconcile() == 0
    assert InboundEvent.objects.filter(type="payment_intent.succeeded").count() == 1
