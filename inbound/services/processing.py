"""Applying stored events exactly once in effect, one at a time or a message's batch at once.

`inbound_event_process` (called for each id by the thin Celery task) locks the event row
with `SKIP LOCKED` (a duplicate task skips while another worker holds it), returns at once if
it is done, and dispatches through the handler registered for its (provider, type)
(`inbound.registry`) in the same transaction that marks it succeeded: the domain change, its
audit entry and the status commit together or not at all. A handler that raises rolls all of
it back; the event is then marked failed with the error, the attempt count and an
exponential-backoff retry time, and dead after `MAX_ATTEMPTS`. A batch goes through the same
handlers (their batch form when they offer one), never around them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from compliance.actors import Actor
from compliance.services import audit_record
from config.logging import mask_sensitive
from inbound.models import PENDING_STATUSES, InboundEvent, InboundEventStatus
from inbound.registry import BatchApply, FetchingHandler, handler_for
from inbound.services.ingest import merchant_for_account

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 4 * 3600

_PENDING = PENDING_STATUSES


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)))


def _error_text(exc: BaseException) -> str:
    # Exceptions from drivers may quote values; the masking filter's rules apply here as well.
    return mask_sensitive(f"{type(exc).__name__}: {exc}")[:500]


_OUTCOME_FIELDS = [
    "status",
    "merchant",
    "last_error",
    "attempts",
    "processed_at",
    "next_attempt_at",
]


def _merchant_resolve(event: InboundEvent) -> None:
    if event.merchant_id is None and event.account:
        # The processor account may have been stored after the event arrived.
        event.merchant_id = merchant_for_account(provider=event.provider, account=event.account)


def _outcome_set(event: InboundEvent, note: str | None) -> None:
    """Mark an applied event done: ignored with the handler's note, else succeeded."""
    event.status = InboundEventStatus.IGNORED if note else InboundEventStatus.SUCCEEDED
    event.last_error = (note or "")[:500]
    event.attempts += 1
    event.processed_at = timezone.now()
    event.next_attempt_at = None


def _fetch(event: InboundEvent) -> Any:
    """The processor read the event's handler needs (None if it needs none); no transaction."""
    handler = handler_for(event)
    if not isinstance(handler, FetchingHandler):
        return None
    _merchant_resolve(event)
    return handler.fetch(event)


def _fetch_pending(event_ids: list[int]) -> dict[int, Any]:
    """Run the processor reads of these events that are still pending, outside any transaction.

    Returns {event pk: what was read} for the pending events, in pk order. An event whose
    read failed is recorded failed (retried with backoff) and left out. A done event is left
    out; one another worker is applying is read here too (a read changes nothing), and the
    lock taken to apply it decides who does.
    """
    pending = InboundEvent.objects.filter(pk__in=event_ids, status__in=_PENDING).order_by("pk")
    fetched: dict[int, Any] = {}
    for event in pending:
        try:
            fetched[event.pk] = _fetch(event)
        except Exception as exc:  # noqa: BLE001 - a failed read is recorded, then retried
            _record_failure(event_id=event.pk, exc=exc)
    return fetched


def _apply(event: InboundEvent, fetched: Any) -> None:
    """Dispatch a locked, pending event and set its outcome; the caller's transaction saves it."""
    _merchant_resolve(event)
    handler = handler_for(event)
    note: str | None
    if handler is None:
        note = "unhandled event type"
    elif isinstance(handler, FetchingHandler):
        note = handler.apply(event, fetched)
    else:
        note = handler(event)
    _outcome_set(event, note)


def inbound_event_process(*, event_id: int) -> str:
    """Apply one stored event exactly once in effect; returns the status it was left in.

    Called with no transaction open (the processor read runs first, outside one).
    """
    fetched = _fetch_pending([event_id])
    if event_id not in fetched:
        # Done, missing, or its read failed (recorded): say where it stands.
        status = InboundEvent.objects.filter(pk=event_id).values_list("status", flat=True).first()
        return status or "skipped"
    return _apply_one(event_id=event_id, fetched=fetched[event_id])


def _apply_one(*, event_id: int, fetched: Any) -> str:
    """Lock a pending event and apply it in one transaction with what its handler read."""
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
            )
            if event is None:
                # Missing, or another worker holds it right now: that worker finishes it (or,
                # if it dies, the broker redelivers its message).
                return "skipped"
            if event.status not in _PENDING:
                return event.status
            _apply(event, fetched)
            event.save(update_fields=_OUTCOME_FIELDS)
            return event.status
    except Exception as exc:  # noqa: BLE001 - every handler failure is recorded, then retried
        return _record_failure(event_id=event_id, exc=exc)


def _outcomes_save(events: list[InboundEvent]) -> None:
    """Save applied events with one UPDATE per distinct outcome (usually one in all).

    `bulk_update`'s CASE expressions cost more Python per row than applying the event did.
    """
    groups: dict[tuple[str, str, int | None], list[int]] = {}
    for event in events:
        groups.setdefault((event.status, event.last_error, event.merchant_id), []).append(event.pk)
    now = timezone.now()
    for (status, last_error, merchant_id), pks in groups.items():
        InboundEvent.objects.filter(pk__in=pks).update(
            status=status,
            last_error=last_error,
            merchant_id=merchant_id,
            attempts=F("attempts") + 1,
            processed_at=now,
            next_attempt_at=None,
        )


def inbound_events_process(*, event_ids: list[int]) -> None:
    """Apply a message's events in one transaction; if anything fails, each in its own.

    The handlers' processor reads run first, each with no transaction open; an event whose
    read failed is recorded failed and left out of the batch.

    One transaction for the batch saves each event its own BEGIN, lock query, UPDATE and
    COMMIT (flushed to disk): under load that halves the statements per event. The batch is
    all or nothing, like a single event: a handler that raises (or a deadlock with another
    batch) rolls it all back, and then every event is applied in a transaction of its own,
    so the failure is recorded against its event only and the others still succeed once.
    Events another worker holds are skipped, and done ones are left alone, as one by one.
    """
    fetched = _fetch_pending(event_ids)
    if len(fetched) > 1:
        try:
            with transaction.atomic():
                events = list(
                    InboundEvent.objects.select_for_update(skip_locked=True)
                    .filter(pk__in=list(fetched), status__in=_PENDING)
                    .order_by("pk")
                )
                _batch_apply(events, fetched)
                _outcomes_save(events)
            return
        except Exception as exc:  # noqa: BLE001 - each event is retried alone just below
            logger.info(
                "A batch of %s inbound events is applied one by one (%s)",
                len(fetched),
                type(exc).__name__,
            )
    for event_id, read in fetched.items():
        _apply_one(event_id=event_id, fetched=read)


def _batch_apply(events: list[InboundEvent], fetched: Mapping[int, Any]) -> None:
    """Apply a batch's locked events in the caller's transaction, through their handlers.

    Events whose handler has a batch form (`FetchingHandler.apply_many`: payments' handler
    of `payment_intent.*`, the bulk of any busy stream, locks their payments by one query and
    inserts their audit entries by one statement) go first, one call per handler. The other
    events then go through their handlers one by one, which lock what they change themselves
    and so read what the first group wrote. Order within a batch does not matter otherwise:
    every change is forward-only, whatever order the events come in.
    """
    batched: dict[int, tuple[BatchApply, list[InboundEvent]]] = {}
    one_by_one: list[InboundEvent] = []
    for event in events:
        _merchant_resolve(event)
        handler = handler_for(event)
        apply_many = handler.apply_many if isinstance(handler, FetchingHandler) else None
        if apply_many is not None:
            batched.setdefault(id(handler), (apply_many, []))[1].append(event)
        else:
            one_by_one.append(event)
    for apply_many, group in batched.values():
        notes = apply_many([(event, fetched.get(event.pk)) for event in group])
        for event, note in zip(group, notes, strict=True):
            _outcome_set(event, note)
    for event in one_by_one:
        _apply(event, fetched.get(event.pk))


def _record_failure(*, event_id: int, exc: BaseException) -> str:
    error = _error_text(exc)
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status not in _PENDING:
            return event.status if event is not None else "skipped"
        event.attempts += 1
        event.last_error = error
        if event.attempts >= MAX_ATTEMPTS:
            event.status = InboundEventStatus.DEAD
            event.next_attempt_at = None
            inbound_event_audit(event, action="inbound_event.dead_letter", outcome="failure")
            logger.error(
                "Inbound event %s (%s) dead after %s attempts: %s",
                event.public_id,
                event.type,
                event.attempts,
                error,
            )
        else:
            event.status = InboundEventStatus.FAILED
            event.next_attempt_at = timezone.now() + _backoff(event.attempts)
            logger.warning(
                "Inbound event %s (%s) failed, attempt %s: %s",
                event.public_id,
                event.type,
                event.attempts,
                error,
            )
        event.save(update_fields=["status", "last_error", "attempts", "next_attempt_at"])
        return event.status


def _merchant_public_id(event: InboundEvent) -> str:
    return event.merchant.public_id if event.merchant_id is not None and event.merchant else ""


def inbound_event_audit(
    event: InboundEvent,
    *,
    action: str,
    outcome: str = "success",
    actor: Actor | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    audit_record(
        action=action,
        actor=actor or Actor.webhook(event.provider),
        merchant_id=_merchant_public_id(event),
        target_type="event",
        target_id=event.public_id,
        outcome=outcome,
        payload={"type": event.type, "attempts": event.attempts, **(extra or {})},
    )
