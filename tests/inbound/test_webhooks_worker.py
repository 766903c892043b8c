"""With a real Celery worker process: a worker killed mid-task, and the broker down at delivery.

Given a worker SIGKILLed while it applies an event, when a new worker runs, then the event is
applied exactly once: the killed attempt's transaction died with its connection, and the
message comes back either through Redis's visibility timeout or, sooner in production (a
visibility timeout of an hour against a 2 minute sweep), through the sweeper. Given the
broker unreachable while Stripe delivers shuffled events with duplicates, every delivery is
acknowledged, and once the relay runs against the broker a worker applies each event once.

Each test starts one or two `celery worker` processes on the test database (hence
PostgreSQL, committed rows, and Redis); together they take about 20 s.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client

from compliance.models import AuditEntry
from config.celery_app import app as celery_app
from inbound.models import InboundEvent, InboundEventStatus, OutboxEntry
from inbound.services import outbox, processing
from payments.models import Payment, ProcessorAccount
from payments.state import PaymentStatus
from tests.inbound.webhook_support import (
    Relay,
    Worker,
    broker_purge,
    database_url,
    deliver,
    event_payload,
    wait_until,
)
from tests.payments.factories import PaymentFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

DONE = (InboundEventStatus.SUCCEEDED, InboundEventStatus.IGNORED)


def _processing_payment(merchant: Any, index: int) -> Payment:
    return PaymentFactory(
        merchant=merchant,
        status=PaymentStatus.PROCESSING,
        amount_captured=0,
        stripe_payment_intent_id=f"pi_worker_{index}",
    )


def _succeeded_event(payment: Payment, account: ProcessorAccount) -> dict[str, Any]:
    return event_payload(
        "payment_intent.succeeded",
        account=account.stripe_account_id,
        obj={
            "id": payment.stripe_payment_intent_id,
            "object": "payment_intent",
            "status": "succeeded",
            "amount": payment.amount,
            "amount_received": payment.amount,
            "currency": payment.currency,
            "capture_method": "automatic",
        },
    )


def _status_changes(payment: Payment) -> int:
    return AuditEntry.objects.filter(
        action="payment.status_change", target_id=payment.public_id
    ).count()


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def _a_session_waits_on_a_lock() -> bool:
    return bool(
        _count(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )


def _other_sessions() -> int:
    return _count(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


@pytest.fixture
def real_broker():
    """Publishing goes to the test Redis instead of running inline; purged before and after."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    broker_purge()
    yield
    celery_app.conf.task_always_eager = saved
    broker_purge()


@pytest.fixture
def workers(tmp_path: Path, real_broker: None) -> Iterator[Callable[..., Worker]]:
    """Start real workers with `workers(visibility_timeout=...)`; all stopped at the end."""
    started: list[Worker] = []

    def start(
        *, visibility_timeout: int | None = None, pool: str = "solo", conn_max_age: int = 0
    ) -> Worker:
        worker = Worker(
            tmp_path, visibility_timeout=visibility_timeout, pool=pool, conn_max_age=conn_max_age
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def account(merchant) -> ProcessorAccount:
    # A new id per test: the account -> merchant lookup is remembered for the process's life.
    return ProcessorAccount.objects.create(
        merchant=merchant, stripe_account_id=f"acct_worker_{uuid.uuid4().hex[:12]}"
    )


@pytest.fixture
def row_holder():
    """Another session that can hold a row locked; always let go (the flush would wait on it)."""
    holder = psycopg.connect(database_url())
    yield holder
    holder.close()


def _other_session_pids() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {int(pid) for (pid,) in cursor.fetchall()}


def test_a_worker_keeps_its_database_session_from_task_to_task(merchant, account, workers):
    """Celery's Django fixup closes every connection around every task; ours follow
    CONN_MAX_AGE instead, as requests do (a new PostgreSQL backend per task cost more CPU than
    applying the task's events)."""
    workers(conn_max_age=600)
    seen: set[int] = set()
    for index in range(4):
        payment = _processing_payment(merchant, index)
        assert deliver(Client(), _succeeded_event(payment, account)).status_code == 200
        assert outbox.inbound_events_relay() == 1
        wait_until(
            lambda payment=payment: _status_changes(payment) == 1,
            seconds=15,
            what="the worker to apply the event",
        )
        # Between tasks the worker's session is still there, and it is the same one.
        sessions = _other_session_pids()
        assert len(sessions) == 1
        seen |= sessions
    assert len(seen) == 1


@pytest.mark.parametrize("recovery", ["visibility_timeout", "sweeper"])
def test_a_worker_killed_mid_task_leaves_the_event_applied_exactly_once(
    recovery, merchant, account, workers, row_holder
):
    payment = _processing_payment(merchant, 1)
    first = workers()
    # Given the payment row held by another session, the worker's handler blocks on it with
    # the event row locked and its transaction open: mid-task.
    row_holder.execute("SELECT 1 FROM payments_payment WHERE id = %s FOR UPDATE", [payment.pk])
    assert deliver(Client(), _succeeded_event(payment, account)).status_code == 200
    assert outbox.inbound_events_relay() == 1
    event = InboundEvent.objects.get(type="payment_intent.succeeded")
    wait_until(_a_session_waits_on_a_lock, seconds=15, what="the worker to block mid-task")

    # When the worker is killed and the row let go, its transaction dies with its connection.
    first.kill()
    row_holder.rollback()
    row_holder.close()
    wait_until(lambda: _other_sessions() == 0, seconds=15, what="the orphaned session to end")
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEventStatus.RECEIVED, 0)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PROCESSING

    if recovery == "visibility_timeout":
        # The unacknowledged message is handed out again once its visibility timeout passes.
        workers(visibility_timeout=1)
    else:
        # Production's timeout is an hour: the new worker does not get the message back ...
        second = workers()
        time.sleep(1)  # a restored message would be taken at once
        assert second.received() == 0
        event.refresh_from_db()
        assert event.status == InboundEventStatus.RECEIVED
        # ... the sweeper publishes the event again once it is due (2 minutes after arrival).
        due = event.received_at + outbox.REDISPATCH_AFTER + timedelta(seconds=1)
        assert outbox.inbound_events_relay(now=due) == 1

    # Then the event is applied once, by one attempt (the killed one left no trace).
    wait_until(
        lambda: InboundEvent.objects.get(pk=event.pk).status in DONE,
        seconds=30,
        what="the event to be processed after the restart",
    )
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEventStatus.SUCCEEDED, 1)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED
    assert _status_changes(payment) == 1
    # A further redelivery finds it done: still one effect.
    assert processing.inbound_event_process(event_id=event.pk) == InboundEventStatus.SUCCEEDED
    assert _status_changes(payment) == 1


def test_a_killed_pool_child_is_replaced_and_its_event_applied_exactly_once(
    merchant, account, workers, row_holder
):
    payment = _processing_payment(merchant, 2)
    worker = workers(pool="prefork")
    row_holder.execute("SELECT 1 FROM payments_payment WHERE id = %s FOR UPDATE", [payment.pk])
    assert deliver(Client(), _succeeded_event(payment, account)).status_code == 200
    assert outbox.inbound_events_relay() == 1
    event = InboundEvent.objects.get(type="payment_intent.succeeded")
    wait_until(_a_session_waits_on_a_lock, seconds=15, what="the pool child to block mid-task")
    (first_child,) = worker.pool_children()

    # The OOM killer takes the pool child; the parent lives on and starts another.
    worker.kill_pool_child()
    wait_until(
        lambda: worker.pool_children() not in ([], [first_child]),
        seconds=15,
        what="the parent to replace its pool child",
    )
    assert "WorkerLostError" in worker.log()
    row_holder.rollback()
    row_holder.close()
    wait_until(lambda: _other_sessions() <= 1, seconds=15, what="the orphaned session to end")

    # With reject_on_worker_lost the parent requeued the message at once: the new child gets
    # it again. If it came while the orphaned session still held the event row, the child
    # skipped it, and the sweeper (2 minutes on) brings it round.
    wait_until(lambda: worker.received() >= 2, seconds=15, what="the message to come back")
    if InboundEvent.objects.get(pk=event.pk).status not in DONE:
        due = event.received_at + outbox.REDISPATCH_AFTER + timedelta(seconds=1)
        outbox.inbound_events_relay(now=due)
    wait_until(
        lambda: InboundEvent.objects.get(pk=event.pk).status in DONE,
        seconds=30,
        what="the event to be applied after the child was replaced",
    )
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEventStatus.SUCCEEDED, 1)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED
    assert _status_changes(payment) == 1


def test_the_relay_process_and_a_worker_apply_every_delivery_once(
    merchant, account, workers, tmp_path
):
    """Production's path: the request only commits; the relay process, woken by the NOTIFY,
    publishes; the worker applies. Nothing runs in the test process but the deliveries."""
    payments = [_processing_payment(merchant, 100 + index) for index in range(30)]
    events = [_succeeded_event(payment, account) for payment in payments]
    rng = random.Random(8)
    deliveries = events + [rng.choice(events) for _ in range(len(events) * 3 // 7)]
    rng.shuffle(deliveries)
    worker = workers()
    relay = Relay(tmp_path)
    try:
        client = Client()
        assert [deliver(client, payload).status_code for payload in deliveries] == [200] * len(
            deliveries
        )
        wait_until(
            lambda: InboundEvent.objects.exclude(status__in=DONE).count() == 0,
            seconds=60,
            what="the relay and the worker to apply every event",
        )
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {
        (InboundEventStatus.SUCCEEDED, 1)
    }
    assert [_status_changes(payment) for payment in payments] == [1] * len(payments)
    assert not OutboxEntry.objects.filter(dispatched_at__isnull=True).exists()
    # Published in batches: fewer messages than events.
    assert 0 < worker.received() < len(events)


def _broker_unreachable() -> None:
    # Dropped, not closed: kombu keeps a process-wide pool per broker URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_broker_down_during_delivery_then_a_real_worker_applies_every_event_once(
    merchant, account, workers, settings
):
    payments = [_processing_payment(merchant, index) for index in range(40)]
    events = [_succeeded_event(payment, account) for payment in payments]
    rng = random.Random(6)
    # 30% of the deliveries are duplicates, and the order is shuffled.
    deliveries = events + [rng.choice(events) for _ in range(len(events) * 3 // 7)]
    rng.shuffle(deliveries)
    worker = workers()

    real_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nobody listens: connection refused
    _broker_unreachable()
    try:
        client = Client()
        statuses = [deliver(client, payload).status_code for payload in deliveries]
    finally:
        celery_app.conf.broker_url = real_url
        _broker_unreachable()

    # Every delivery acknowledged, each event stored once, nothing handed to the worker.
    assert statuses == [200] * len(deliveries)
    assert InboundEvent.objects.count() == len(events)
    assert OutboxEntry.objects.filter(dispatched_at__isnull=True).count() == len(events)
    assert worker.received() == 0

    # With the broker back, the relay publishes the outbox and the worker drains it.
    assert outbox.inbound_events_relay() == len(events)
    wait_until(
        lambda: InboundEvent.objects.exclude(status__in=DONE).count() == 0,
        seconds=60,
        what="the worker to process every relayed event",
    )
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {
        (InboundEventStatus.SUCCEEDED, 1)
    }
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == len(payments)
    assert [_status_changes(payment) for payment in payments] == [1] * len(payments)
    assert not OutboxEntry.objects.filter(dispatched_at__isnull=True).exists()
