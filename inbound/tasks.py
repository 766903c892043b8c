"""Celery tasks of the inbound pipeline: thin, taking event ids and calling one service each.

Beat runs `inbound_events_relay` (every 5 s) and `inbound_events_reconcile` (every 15 min):
`CELERY_BEAT_SCHEDULE` in config/settings/base.py.
"""

from __future__ import annotations

from typing import TypedDict

from celery import shared_task

from inbound import services


class _ProcessOptions(TypedDict):
    acks_late: bool
    reject_on_worker_lost: bool
    time_limit: int
    soft_time_limit: int
    ignore_result: bool


# Shared by the task and its alias under its old name (below).
_PROCESS_OPTIONS = _ProcessOptions(
    acks_late=True,
    reject_on_worker_lost=True,
    # Up to PUBLISH_BATCH events, each of which may wait on one processor call.
    time_limit=300,
    soft_time_limit=270,
    ignore_result=True,
)


@shared_task(**_PROCESS_OPTIONS)
def inbound_events_process(event_ids: list[int]) -> int:
    """Apply stored events; safe to run twice (done ones are skipped).

    A batch, not one id per message: Celery's bookkeeping per message costs the worker more
    than applying an event (inbound.services.processing.inbound_events_process says how a
    batch is applied). Killed midway, nothing of the open transaction remains and the
    redelivered message applies what is not done.
    """
    services.inbound_events_process(event_ids=[int(event_id) for event_id in event_ids])
    return len(event_ids)


@shared_task(name="payments.tasks.inbound_events_process", **_PROCESS_OPTIONS)
def inbound_events_process_published_before_the_move(event_ids: list[int]) -> int:
    """`inbound_events_process` under the name it had in payments.

    Messages published before the pipeline moved out of payments carry that name; a worker
    of this version still applies them rather than refusing them as unregistered (the
    sweeper would bring their events round again, but 2 minutes later).
    """
    return int(inbound_events_process(event_ids))


@shared_task(ignore_result=True)
def inbound_events_relay() -> int:
    """Beat: the fallback for the relay process (`relay_inbound_events`): outbox and due events."""
    return services.inbound_events_relay()


@shared_task(acks_late=True, ignore_result=True, time_limit=600, soft_time_limit=540)
def inbound_events_reconcile() -> int:
    """Beat: ingest processor events that were never delivered to us."""
    return services.inbound_events_reconcile()
