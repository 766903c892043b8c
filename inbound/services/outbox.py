"""Handing stored events to the broker: the outbox relay round, the due sweep, inline dispatch.

The relay (`inbound.relay`, woken by the ingest's NOTIFY; beat as a fallback) publishes
outbox rows to Celery in small batches and marks them dispatched; with the broker down it
keeps them and tries again. It also re-publishes events still not done when their
`next_attempt_at` passes (a lost task, a due retry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from config.celery_app import app as celery_app
from inbound.models import PENDING_STATUSES, InboundEvent, OutboxEntry

logger = logging.getLogger(__name__)

# An event not done this long after it was stored or last published is published again.
REDISPATCH_AFTER = timedelta(minutes=2)
RELAY_BATCH = 500
# The NOTIFY channel the relay LISTENs on (inbound.relay).
OUTBOX_CHANNEL = "ledgerline_outbox"
# Event ids per Celery message: a message per event costs the worker more in Celery's own
# bookkeeping than the event's processing; each event still gets its own transaction.
PUBLISH_BATCH = 20


def relay_notify() -> None:
    """Wake the relay at commit (PostgreSQL); elsewhere it finds the row on its next poll."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [OUTBOX_CHANNEL])


def _runs_inline() -> bool:
    # The app's own conf, read per call (tests switch eager mode at run time); going through
    # the shared task's proxy instead costs more than the rest of the acknowledgement's Python.
    return bool(celery_app.conf.task_always_eager)


def dispatch_inline_after_commit(event_pk: int, outbox_pk: int) -> None:
    """With eager Celery nobody relays: process the event here once its row is committed."""
    if not _runs_inline():
        return

    def dispatch() -> None:
        if inbound_events_publish([event_pk]):
            OutboxEntry.objects.filter(pk=outbox_pk).update(dispatched_at=timezone.now())

    transaction.on_commit(dispatch)


def inbound_events_publish(event_pks: list[int]) -> bool:
    """Hand events to the broker in one message; False (logged) when it is unreachable.

    No retries here: the relay keeps what it could not publish and tries again on its next
    round, so a broker outage delays processing and loses nothing.
    """
    from inbound.tasks import inbound_events_process as task

    try:
        task.apply_async(args=(event_pks,), retry=False)
    except Exception as exc:  # noqa: BLE001 - any publish failure means "left for later"
        logger.warning(
            "%s inbound event(s) not published (%s); kept for later", len(event_pks), exc
        )
        return False
    return True


def _publish_in_batches(event_pks: list[int]) -> int:
    """Publish in messages of PUBLISH_BATCH ids; how many were published before a failure."""
    published = 0
    for start in range(0, len(event_pks), PUBLISH_BATCH):
        batch = event_pks[start : start + PUBLISH_BATCH]
        if not inbound_events_publish(batch):
            break
        published += len(batch)
    return published


@dataclass(frozen=True)
class RelayRound:
    published: int
    # False when the broker refused a publish: what is left waits for the next round.
    broker_ok: bool


def inbound_outbox_relay(*, now: datetime | None = None) -> RelayRound:
    """Publish up to RELAY_BATCH undispatched outbox rows, oldest first, and mark them.

    Rows are claimed with SKIP LOCKED, so two relays (the process and beat) never publish the
    same row; a crash between publish and commit publishes it again, which is harmless.
    """
    now = now or timezone.now()
    with transaction.atomic():
        entries = list(
            OutboxEntry.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "event_id")[:RELAY_BATCH]
        )
        published = _publish_in_batches([event_pk for _, event_pk in entries])
        if published:
            sent = [outbox_pk for outbox_pk, _ in entries[:published]]
            OutboxEntry.objects.filter(pk__in=sent).update(dispatched_at=now)
    return RelayRound(published=published, broker_ok=published == len(entries))


def inbound_events_redispatch_due(*, now: datetime | None = None) -> RelayRound:
    """Publish events still not done whose next attempt is due (a lost task, a due retry)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(status__in=PENDING_STATUSES, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:RELAY_BATCH]
        )
        # Pushed forward first: if this publish is lost too, the event comes round again.
        InboundEvent.objects.filter(pk__in=due).update(next_attempt_at=now + REDISPATCH_AFTER)
    published = _publish_in_batches(due)
    return RelayRound(published=published, broker_ok=published == len(due))


def inbound_events_relay(*, now: datetime | None = None) -> int:
    """One relay round (beat's fallback for the relay process): outbox, then due events."""
    outbox = inbound_outbox_relay(now=now)
    if not outbox.broker_ok:
        return outbox.published
    return outbox.published + inbound_events_redispatch_due(now=now).published
