"""Inbound processor events: durable intake, exactly-once processing, relay, replay, reconcile.

The pipeline (docs/webhooks.md):
1. `inbound_event_ingest` stores a verified event under its unique (provider, event id)
   together with an outbox row. On PostgreSQL that is one statement (a data-modifying CTE:
   `INSERT ... ON CONFLICT DO NOTHING`, the outbox insert and a `NOTIFY` to the relay), so an
   acknowledgement costs one round trip and never touches the broker. A duplicate delivery
   inserts nothing, raises nothing and answers 200.
2. The relay (`relay_inbound_events`, woken by that NOTIFY; beat as a fallback) hands outbox
   rows to Celery in small batches and marks them dispatched; with the broker down it keeps
   them and tries again. It also re-publishes events still not done when their
   `next_attempt_at` passes (a lost task, a due retry).
3. `inbound_event_process` (called for each id by the thin Celery task) locks the event row
   with `SKIP LOCKED` (a duplicate task skips while another worker holds it), returns at once
   if it is done, and dispatches by type through `HANDLERS` in the same transaction that marks
   it succeeded: the domain change, its audit entry and the status commit together or not at
   all. A handler that raises rolls all of it back; the event is then marked failed with the
   error, the attempt count and an exponential-backoff retry time, and dead after
   `MAX_ATTEMPTS`.
4. Handlers lock the domain row through the payments services, which apply only forward
   transitions. A non-terminal status in a payload may be older than what we hold, so those
   handlers apply the processor's current object instead (fetched at most once per object
   per `REFETCH_COALESCE` and per worker, and only from after the event arrived).
5. `inbound_events_reconcile` (beat) lists the processor's undelivered events and ingests the
   ones we never received, through the same insert.

With eager Celery (tests, the embedded default) there is no relay: the event is processed
inline right after the commit that stored it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from compliance.actors import Actor
from compliance.services import audit_batch, audit_record
from config.card_numbers import mask_card_numbers_in
from config.celery_app import app as celery_app
from config.logging import mask_sensitive
from payments import services
from payments.gateways import gateway_named
from payments.gateways import stripe as gateway
from payments.gateways.base import AccountState, Charge
from payments.models import (
    Dispute,
    DisputeStatus,
    EventProvider,
    InboundEvent,
    InboundEventStatus,
    OutboxEntry,
    Payment,
    ProcessorAccount,
    Refund,
)
from payments.state import TERMINAL

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 4 * 3600
# An event not done this long after it was stored or last published is published again.
REDISPATCH_AFTER = timedelta(minutes=2)
RELAY_BATCH = 500
RECONCILE_WINDOW = timedelta(days=3)
RECONCILE_MAX_PAGES = 50
REFETCH_COALESCE_SECONDS = 5.0

_PENDING = (InboundEventStatus.RECEIVED, InboundEventStatus.FAILED)
_DONE = (InboundEventStatus.SUCCEEDED, InboundEventStatus.IGNORED, InboundEventStatus.DEAD)
_REJECTION_KEY = "webhooks:rejected:{provider}:{reason}"


# --- Rejections -----------------------------------------------------------------------------


def webhook_rejection_record(*, provider: str, reason: str) -> None:
    """Count and log a refused delivery by reason; never the body, header or secrets."""
    logger.warning("Refused %s webhook delivery: %s", provider, reason)
    key = _REJECTION_KEY.format(provider=provider, reason=reason)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # noqa: BLE001 - a counter outage must never turn a 400 into a 500
        logger.warning("Could not count the refused %s webhook (cache unavailable)", provider)


def webhook_rejection_count(*, provider: str, reason: str) -> int:
    value = cache.get(_REJECTION_KEY.format(provider=provider, reason=reason))
    return int(value or 0)


# --- Intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    event_pk: int | None
    created: bool


# Connected account -> merchant never changes once stored (one account per merchant, unique),
# so a hit is remembered for the life of the process; a miss is asked again next time.
_merchant_by_account: dict[str, int] = {}


def _merchant_for_account(account: str) -> int | None:
    if not account:
        return None
    cached = _merchant_by_account.get(account)
    if cached is not None:
        return cached
    merchant_id = (
        ProcessorAccount.objects.filter(processor_account_id=account)
        .values_list("merchant_id", flat=True)
        .first()
    )
    if merchant_id is not None:
        _merchant_by_account[account] = merchant_id
    return merchant_id


# PostgreSQL's jsonb holds neither U+0000 nor a lone UTF-16 surrogate, and a JSON body may
# spell both (\u0000, \ud800): such a signed event would fail to store on every delivery.
# Those characters are stored as U+FFFD instead; `body_sha256` still names what was signed.
# The body is searched first, so that a payload is only walked when it may need it.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """`value` with every string storable: U+0000 and lone surrogates replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE_CHAR.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


# The processor's own event time is shown, never relied on (state follows the processor's
# state machine, not timestamps): a value outside 1970..2106 (32-bit Unix time) is not a time
# Stripe sends, and would not survive conversion or display, so the event is stored without it.
_PROCESSOR_TIME_RANGE = range(2**32)


def _processor_time(created: int | None, *, event_id: str) -> datetime | None:
    if created is None:
        return None
    if created not in _PROCESSOR_TIME_RANGE:
        logger.warning("Event %s has an implausible created time; stored without it", event_id)
        return None
    return datetime.fromtimestamp(created, tz=UTC)


_EVENT_FIELDS = [f for f in InboundEvent._meta.concrete_fields if not f.primary_key]


@functools.cache
def _ingest_statements(vendor: str) -> tuple[str, str]:
    """(event insert, event + outbox insert + NOTIFY) for this vendor, built once.

    The event insert is `INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id`:
    the ORM's `bulk_create(ignore_conflicts=True)` cannot say whether the row was inserted,
    and catching IntegrityError costs a savepoint and leaves an error in the server log.
    PostgreSQL and SQLite (3.35+) both speak it. The second statement (PostgreSQL) wraps it
    in a data-modifying CTE. Identifiers come from the models' own metadata; every value is a
    bound parameter.
    """
    quote = connection.ops.quote_name
    event, outbox = InboundEvent._meta, OutboxEntry._meta
    columns = ", ".join(quote(f.column) for f in _EVENT_FIELDS)
    placeholders = ", ".join(["%s"] * len(_EVENT_FIELDS))
    insert_event = (
        f"INSERT INTO {quote(event.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({quote('provider')}, {quote('event_id')}) DO NOTHING "
        f"RETURNING {quote(event.pk.column)}"
    )
    with_outbox = (
        f"WITH new_event AS ({insert_event}), "  # noqa: S608
        f"new_outbox AS (INSERT INTO {quote(outbox.db_table)} "
        f"({quote('event_id')}, {quote('created_at')}) "
        f"SELECT {quote('id')}, %s FROM new_event RETURNING {quote('id')}, {quote('event_id')}) "
        f"SELECT {quote('event_id')}, {quote('id')}, pg_notify(%s, '') FROM new_outbox"
    )
    return insert_event, with_outbox


def _store_with_outbox(event: InboundEvent) -> tuple[int, int] | None:
    """Insert the event and its outbox row atomically; (event pk, outbox pk), None if known.

    On PostgreSQL one statement does both and notifies the relay (delivered at commit): the
    request's whole durable write is a single round trip. Elsewhere (SQLite: no NOTIFY, and
    no relay to wake) two statements in one transaction.
    """
    values = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in _EVENT_FIELDS]
    insert_event, with_outbox = _ingest_statements(connection.vendor)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(with_outbox, [*values, event.received_at, OUTBOX_CHANNEL])
            row = cursor.fetchone()
            return (int(row[0]), int(row[1])) if row else None
        with transaction.atomic():
            cursor.execute(insert_event, values)
            inserted = cursor.fetchone()
            if inserted is None:
                return None
            entry = OutboxEntry.objects.create(event_id=inserted[0], created_at=event.received_at)
            return int(inserted[0]), entry.pk


def inbound_event_ingest(
    *,
    provider: str,
    event_id: str,
    event_type: str,
    account: str,
    payload: Mapping[str, Any],
    body: bytes | None = None,
    processor_created: int | None = None,
) -> IngestResult:
    """Store an event and its outbox row once; the relay (or, eager, this process) runs it."""
    if body is None or _UNSTORABLE_ESCAPE.search(body):
        payload = _storable(payload)
    # The signature was checked on the raw body; what is stored has any card number the
    # processor echoed back (a description, metadata) masked (PCI DSS 3.4).
    payload = mask_card_numbers_in(payload)
    now = timezone.now()
    event = InboundEvent(
        provider=provider,
        event_id=event_id,
        type=event_type,
        account=account,
        merchant_id=_merchant_for_account(account),
        payload=dict(payload),
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else "",
        received_at=now,
        next_attempt_at=now + REDISPATCH_AFTER,
        processor_created=_processor_time(processor_created, event_id=event_id),
    )
    stored = _store_with_outbox(event)
    if stored is None:
        return IngestResult(event_pk=None, created=False)
    _dispatch_inline_after_commit(*stored)
    return IngestResult(event_pk=stored[0], created=True)


# --- Handing events to the broker -----------------------------------------------------------

# The NOTIFY channel the relay LISTENs on (payments.relay).
OUTBOX_CHANNEL = "ledgerline_outbox"
# Event ids per Celery message: a message per event costs the worker more in Celery's own
# bookkeeping than the event's processing; each event still gets its own transaction.
PUBLISH_BATCH = 20


def _relay_notify() -> None:
    """Wake the relay at commit (PostgreSQL); elsewhere it finds the row on its next poll."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [OUTBOX_CHANNEL])


def _runs_inline() -> bool:
    # The app's own conf, read per call (tests switch eager mode at run time); going through
    # the shared task's proxy instead costs more than the rest of the acknowledgement's Python.
    return bool(celery_app.conf.task_always_eager)


def _dispatch_inline_after_commit(event_pk: int, outbox_pk: int) -> None:
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
    from payments.tasks import inbound_events_process as task

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


# --- Processing -----------------------------------------------------------------------------


class EventNotReadyError(Exception):
    """The event refers to something not stored yet; retried with backoff."""


@dataclass(frozen=True)
class FetchingHandler:
    """A handler that reads the processor before it applies an event.

    `fetch` runs with no database transaction open: a processor call inside one would hold
    the event's row lock (and, on SQLite, the whole database's write lock) for as long as the
    network takes. `apply` then runs in the event's transaction with what `fetch` returned and
    returns a note (the event is ignored) or None. What was read may be a moment old by then:
    every apply is forward-only, so an older read never moves anything back. A `fetch` that
    raises leaves the event failed with its next attempt set, like a handler that raises.
    """

    fetch: Callable[[InboundEvent], Any]
    apply: Callable[[InboundEvent, Any], str | None]


Handler = Callable[[InboundEvent], str | None] | FetchingHandler


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
        # The connected account may have been stored after the event arrived.
        event.merchant_id = _merchant_for_account(event.account)


def _outcome_set(event: InboundEvent, note: str | None) -> None:
    """Mark an applied event done: ignored with the handler's note, else succeeded."""
    event.status = InboundEventStatus.IGNORED if note else InboundEventStatus.SUCCEEDED
    event.last_error = (note or "")[:500]
    event.attempts += 1
    event.processed_at = timezone.now()
    event.next_attempt_at = None


def _fetch(event: InboundEvent) -> Any:
    """The processor read the event's handler needs (None if it needs none); no transaction."""
    handler = HANDLERS.get((event.provider, event.type))
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
    handler = HANDLERS.get((event.provider, event.type))
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
    """Apply a batch's locked events in the caller's transaction.

    Final payment events (the bulk of any busy stream) go first: their payments are locked by
    one query and their audit entries inserted by one statement, instead of a query and an
    insert per event. The other events then go through their handlers one by one, which lock
    what they change themselves and so read what the first group wrote. Order within a batch
    does not matter: every change is forward-only, whatever order the events come in.
    """
    finals: dict[int, Charge] = {}
    for event in events:
        _merchant_resolve(event)
        intent = _final_intent(event)
        if intent is not None:
            finals[event.pk] = intent
    if finals:
        locked = _payments_lock_by_intent({intent.id for intent in finals.values()})
        with audit_batch():
            for event in events:
                intent = finals.get(event.pk)
                if intent is not None:
                    note = _final_intent_apply(event, intent, prelocked=locked.get(intent.id))
                    _outcome_set(event, note)
    for event in events:
        if event.pk not in finals:
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
            _audit_event(event, action="inbound_event.dead_letter", outcome="failure")
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


def _audit_event(
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


def inbound_event_replay(*, event: InboundEvent, actor: Actor) -> bool:
    """Give a failed or dead event a fresh set of attempts and publish it (staff action)."""
    with transaction.atomic():
        locked = (
            InboundEvent.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .get(pk=event.pk)
        )
        if locked.status not in (InboundEventStatus.FAILED, InboundEventStatus.DEAD):
            return False
        previous = locked.status
        now = timezone.now()
        locked.status = InboundEventStatus.RECEIVED
        locked.attempts = 0
        locked.next_attempt_at = now + REDISPATCH_AFTER
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        outbox = OutboxEntry.objects.create(event=locked, created_at=now)
        _relay_notify()
        _audit_event(locked, action="inbound_event.replay", actor=actor, extra={"from": previous})
        _dispatch_inline_after_commit(locked.pk, outbox.pk)
    return True


# --- Relay and sweeper ----------------------------------------------------------------------


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
            .filter(status__in=_PENDING, next_attempt_at__lte=now)
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


# --- Reconciliation -------------------------------------------------------------------------


def _stripe_payload(item: gateway.EventData, account: str) -> dict[str, Any]:
    # The Events API gives the same event a webhook carries; we keep the fields we rely on.
    return {
        "id": item.id,
        "object": "event",
        "type": item.type,
        "created": item.created,
        "account": account or None,
        "data": {"object": item.data_object},
    }


def inbound_events_reconcile(*, window: timedelta = RECONCILE_WINDOW) -> int:
    """Ingest events Stripe could not deliver to us (platform and every connected account)."""
    created_gte = int((timezone.now() - window).timestamp())
    accounts: list[str] = [
        "",
        *ProcessorAccount.objects.order_by("pk").values_list("processor_account_id", flat=True),
    ]
    ingested = 0
    for account in accounts:
        starting_after: str | None = None
        for _ in range(RECONCILE_MAX_PAGES):
            page = gateway.events_list(
                created_gte=created_gte,
                starting_after=starting_after,
                delivery_success=False,
                account=account or None,
            )
            for item in page.events:
                event_account = item.account or account
                result = inbound_event_ingest(
                    provider=EventProvider.STRIPE,
                    event_id=item.id,
                    event_type=item.type,
                    account=event_account,
                    payload=_stripe_payload(item, event_account),
                    processor_created=item.created or None,
                )
                ingested += int(result.created)
            if not page.has_more or not page.events:
                break
            starting_after = page.events[-1].id
    if ingested:
        logger.info("Reconciliation ingested %s missed Stripe events", ingested)
    return ingested


# --- Stripe handlers ------------------------------------------------------------------------


def _object(event: InboundEvent) -> dict[str, Any]:
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError("event has no data.object with an id")
    return obj


def _actor(event: InboundEvent) -> Actor:
    return Actor.webhook(event.provider)


_refetched: dict[str, tuple[float, Charge]] = {}
_refetch_lock = threading.Lock()


def _intent_now(*, event: InboundEvent, account: str, intent_id: str) -> Charge:
    """The intent as the processor holds it now, fetched at most once per coalescing window.

    A fetch is reused only if it happened after this event was received, so it is never older
    than the event it stands in for.
    """
    received = event.received_at.timestamp()
    with _refetch_lock:
        hit = _refetched.get(intent_id)
    if hit is not None and hit[0] >= received and time.time() - hit[0] < REFETCH_COALESCE_SECONDS:
        return hit[1]
    fetched_at = time.time()
    intent = gateway_named(_STRIPE).charge_retrieve(account=account, charge=intent_id)
    with _refetch_lock:
        if len(_refetched) > 10_000:
            _refetched.clear()
        _refetched[intent_id] = (fetched_at, intent)
    return intent


def _payment_for(
    merchant_id: int,
    *,
    intent_id: str,
    metadata: Mapping[str, Any] | None = None,
    among: QuerySet[Payment] | None = None,
) -> Payment | None:
    payments = (Payment.objects if among is None else among).filter(merchant_id=merchant_id)
    payment = payments.filter(processor_payment_id=intent_id).first() if intent_id else None
    if payment is None and metadata:
        # The intent's answer may not be stored yet (the event can beat the API response).
        public_id = metadata.get("ledgerline_payment")
        if isinstance(public_id, str) and public_id:
            payment = payments.filter(
                Q(processor_payment_id="") | Q(processor_payment_id=intent_id),
                public_id=public_id,
            ).first()
    return payment


def _final_intent(event: InboundEvent) -> Charge | None:
    """The intent of a payment_intent event whose payload is final, else None.

    Final (succeeded, canceled) means the payload is the truth and can be applied as it
    stands. Anything this cannot read is left to the event's handler, which reports it.
    """
    handler = HANDLERS.get((event.provider, event.type))
    if event.merchant_id is None or handler is not _ON_PAYMENT_INTENT:
        return None
    try:
        intent = gateway.charge_from_dict(_object(event))
    except (ValueError, TypeError, AttributeError):
        return None
    return intent if intent.status in TERMINAL else None


def _payments_lock_by_intent(intent_ids: set[str]) -> dict[str, Payment]:
    """Lock the payments of these intents in one query (pk order), keyed by intent id."""
    payments = services.payments_for_update().filter(processor_payment_id__in=intent_ids)
    return {payment.processor_payment_id: payment for payment in payments.order_by("pk")}


def _final_intent_apply(
    event: InboundEvent, intent: Charge, *, prelocked: Payment | None = None
) -> str | None:
    """Apply a final intent to its payment, locked by the batch (`prelocked`) or here."""
    if event.merchant_id is None:
        return "no merchant for this account"
    locked = (
        prelocked if prelocked is not None and prelocked.merchant_id == event.merchant_id else None
    )
    if locked is None:
        # Found by intent id within the merchant, or by our metadata when the event beat the
        # API answer that would have stored the intent id: one query finds and locks it.
        locked = _payment_for(
            event.merchant_id,
            intent_id=intent.id,
            metadata={"ledgerline_payment": intent.reference},
            among=services.payments_for_update(),
        )
    if locked is None:
        return "not a Ledgerline payment"
    services.payment_apply_to_locked(locked=locked, charge=intent, actor=_actor(event))
    return None


@dataclass(frozen=True)
class _PaymentRead:
    """A payment of ours and its intent as the processor holds it now."""

    payment: Payment
    intent: Charge


def _payment_intent_fetch(event: InboundEvent) -> _PaymentRead | None:
    """A non-final intent's payment and the intent now; None when there is nothing to read."""
    obj = _object(event)
    if event.merchant_id is None or gateway.charge_from_dict(obj).status in TERMINAL:
        return None
    payment = _payment_for(event.merchant_id, intent_id=obj["id"], metadata=obj.get("metadata"))
    if payment is None:
        return None
    # Not final: the payload may be older than what we hold; the processor's now is applied.
    intent = _intent_now(event=event, account=event.account, intent_id=obj["id"])
    return _PaymentRead(payment=payment, intent=intent)


def _payment_intent_apply(event: InboundEvent, read: _PaymentRead | None) -> str | None:
    obj = _object(event)
    if event.merchant_id is None:
        return "no merchant for this account"
    intent = gateway.charge_from_dict(obj)
    if intent.status in TERMINAL:
        return _final_intent_apply(event, intent)
    if read is None:
        return "not a Ledgerline payment"
    services.payment_apply_processor_state(
        payment=read.payment, charge=read.intent, actor=_actor(event)
    )
    return None


def _charge_refunded_fetch(event: InboundEvent) -> _PaymentRead | None:
    obj = _object(event)
    intent_id = obj.get("payment_intent")
    if event.merchant_id is None or not isinstance(intent_id, str) or not intent_id:
        return None
    payment = _payment_for(event.merchant_id, intent_id=intent_id)
    if payment is None:
        return None
    intent = _intent_now(event=event, account=event.account, intent_id=intent_id)
    return _PaymentRead(payment=payment, intent=intent)


def _charge_refunded_apply(event: InboundEvent, read: _PaymentRead | None) -> str | None:
    obj = _object(event)
    intent_id = obj.get("payment_intent")
    if event.merchant_id is None:
        return "no merchant for this account"
    if not isinstance(intent_id, str) or not intent_id:
        return "charge without a payment intent"
    if read is None:
        return "not a Ledgerline payment"
    refunds = (obj.get("refunds") or {}).get("data") or []
    for raw in refunds:
        if isinstance(raw, dict):
            _refund_apply(event.merchant_id, raw)
    services.payment_apply_processor_state(
        payment=read.payment, charge=read.intent, actor=_actor(event)
    )
    return None


def _refund_apply(merchant_id: int, raw: Mapping[str, Any]) -> bool:
    data = gateway.refund_from_dict(raw)
    refunds = Refund.objects.filter(merchant_id=merchant_id)
    refund = refunds.filter(processor_refund_id=data.id).first() if data.id else None
    if refund is None:
        public_id = (raw.get("metadata") or {}).get("ledgerline_refund")
        if isinstance(public_id, str) and public_id:
            refund = refunds.filter(
                public_id=public_id, processor_refund_id__in=("", data.id)
            ).first()
    if refund is None:
        return False
    services.refund_apply_processor_state(
        refund=refund,
        status=data.status,
        processor_refund_id=data.id,
        failure_reason=data.failure_reason,
    )
    return True


def _on_refund_updated(event: InboundEvent) -> str | None:
    if event.merchant_id is None:
        return "no merchant for this account"
    applied = _refund_apply(event.merchant_id, _object(event))
    return None if applied else "not a Ledgerline refund"


# A dispute moves needs_response -> under_review -> won/lost (warnings alike); never back.
_DISPUTE_RANK: dict[str, int] = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: 0,
    DisputeStatus.NEEDS_RESPONSE: 0,
    DisputeStatus.WARNING_UNDER_REVIEW: 1,
    DisputeStatus.UNDER_REVIEW: 1,
    DisputeStatus.WARNING_CLOSED: 2,
    DisputeStatus.WON: 2,
    DisputeStatus.LOST: 2,
}


def dispute_apply_processor_state(
    *, payment: Payment, data: Mapping[str, Any], actor: Actor
) -> Dispute | None:
    """Create or move a dispute forward from the processor's object; audited."""
    status = data.get("status")
    amount = data.get("amount")
    if status not in _DISPUTE_RANK or not isinstance(amount, int) or amount <= 0:
        raise ValueError("dispute object without a known status or a positive amount")
    due = (data.get("evidence_details") or {}).get("due_by")
    due_by = datetime.fromtimestamp(due, tz=UTC) if isinstance(due, int) else None
    with transaction.atomic():
        # The payment lock serialises every change to this payment's disputes.
        locked_payment = (
            Payment.objects.select_for_update().select_related("merchant").get(pk=payment.pk)
        )
        dispute = (
            Dispute.objects.select_for_update().filter(processor_dispute_id=data["id"]).first()
        )
        previous = dispute.status if dispute is not None else ""
        if dispute is None:
            dispute = Dispute(
                merchant=locked_payment.merchant,
                payment=locked_payment,
                processor_dispute_id=data["id"],
                currency=str(data.get("currency") or locked_payment.currency).lower(),
            )
        elif _DISPUTE_RANK[status] < _DISPUTE_RANK[dispute.status] or (
            _DISPUTE_RANK[dispute.status] == 2 and status != dispute.status
        ):
            return dispute
        dispute.status = status
        dispute.amount = amount
        dispute.reason = str(data.get("reason") or "")[:64]
        dispute.evidence_due_by = due_by
        dispute.save()
        if previous != status:
            audit_record(
                action="dispute.create" if not previous else "dispute.status_change",
                actor=actor,
                merchant_id=locked_payment.merchant.public_id,
                target_type="dispute",
                target_id=dispute.public_id,
                payload={
                    "payment": locked_payment.public_id,
                    "from": previous,
                    "to": status,
                    "amount": amount,
                    "currency": dispute.currency,
                },
            )
    return dispute


def _on_dispute(event: InboundEvent) -> str | None:
    obj = _object(event)
    if event.merchant_id is None:
        return "no merchant for this account"
    intent_id = obj.get("payment_intent")
    charge_id = obj.get("charge")
    payment = (
        _payment_for(event.merchant_id, intent_id=intent_id) if isinstance(intent_id, str) else None
    )
    if payment is None and isinstance(charge_id, str) and charge_id:
        payment = Payment.objects.filter(
            merchant_id=event.merchant_id, processor_charge_id=charge_id
        ).first()
    if payment is None:
        return "not a Ledgerline payment"
    dispute_apply_processor_state(payment=payment, data=obj, actor=_actor(event))
    return None


@dataclass(frozen=True)
class _AccountRead:
    account: ProcessorAccount
    data: AccountState


def _account_updated_fetch(event: InboundEvent) -> _AccountRead | None:
    obj = _object(event)
    account = (
        ProcessorAccount.objects.select_related("merchant")
        .filter(processor_account_id=obj["id"])
        .first()
    )
    if account is None:
        return None
    # Updates arrive out of order; the account as it is now is the only safe thing to apply.
    return _AccountRead(
        account=account,
        data=gateway_named(account.processor).account_retrieve(
            account=account.processor_account_id
        ),
    )


def _account_updated_apply(event: InboundEvent, read: _AccountRead | None) -> str | None:
    if read is None:
        return "not a Ledgerline connected account"
    account, data = read.account, read.data
    before = (account.charges_enabled, account.payouts_enabled, account.details_submitted)
    updated = services.processor_account_apply(
        account=account,
        charges_enabled=data.charges_enabled,
        payouts_enabled=data.payouts_enabled,
        details_submitted=data.details_submitted,
    )
    after = (updated.charges_enabled, updated.payouts_enabled, updated.details_submitted)
    if before != after:
        audit_record(
            action="merchant.processor_account_update",
            actor=_actor(event),
            merchant_id=account.merchant.public_id,
            target_type="merchant",
            target_id=account.merchant.public_id,
            payload={
                "charges_enabled": updated.charges_enabled,
                "payouts_enabled": updated.payouts_enabled,
                "details_submitted": updated.details_submitted,
            },
        )
    return None


_ON_PAYMENT_INTENT = FetchingHandler(fetch=_payment_intent_fetch, apply=_payment_intent_apply)
_STRIPE = EventProvider.STRIPE
HANDLERS: dict[tuple[str, str], Handler] = {
    (_STRIPE, "payment_intent.succeeded"): _ON_PAYMENT_INTENT,
    (_STRIPE, "payment_intent.payment_failed"): _ON_PAYMENT_INTENT,
    (_STRIPE, "payment_intent.canceled"): _ON_PAYMENT_INTENT,
    (_STRIPE, "payment_intent.amount_capturable_updated"): _ON_PAYMENT_INTENT,
    (_STRIPE, "payment_intent.requires_action"): _ON_PAYMENT_INTENT,
    (_STRIPE, "payment_intent.processing"): _ON_PAYMENT_INTENT,
    (_STRIPE, "charge.refunded"): FetchingHandler(
        fetch=_charge_refunded_fetch, apply=_charge_refunded_apply
    ),
    (_STRIPE, "charge.refund.updated"): _on_refund_updated,
    (_STRIPE, "charge.dispute.created"): _on_dispute,
    (_STRIPE, "charge.dispute.updated"): _on_dispute,
    (_STRIPE, "charge.dispute.closed"): _on_dispute,
    (_STRIPE, "account.updated"): FetchingHandler(
        fetch=_account_updated_fetch, apply=_account_updated_apply
    ),
}
