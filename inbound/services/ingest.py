"""Durable intake: a verified event and its outbox row stored once, in one round trip.

On PostgreSQL one statement (a data-modifying CTE: `INSERT ... ON CONFLICT DO NOTHING`, the
outbox insert and a `NOTIFY` to the relay), so an acknowledgement costs one round trip and
never touches the broker. A duplicate delivery inserts nothing, raises nothing and answers
200. With eager Celery (tests) the event is processed inline right after its commit.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from config.card_numbers import mask_card_numbers_in
from inbound.models import InboundEvent, OutboxEntry
from inbound.registry import merchant_lookups
from inbound.services.outbox import (
    OUTBOX_CHANNEL,
    REDISPATCH_AFTER,
    dispatch_inline_after_commit,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    event_pk: int | None
    created: bool


# A processor account -> merchant never changes once stored (one account per merchant,
# unique), so a hit is remembered for the life of the process; a miss is asked again next time.
_merchant_by_account: dict[tuple[str, str], int] = {}


def merchant_for_account(*, provider: str, account: str) -> int | None:
    """The merchant of `provider`'s `account`, through the lookup the provider's app registered."""
    if not account:
        return None
    cached = _merchant_by_account.get((provider, account))
    if cached is not None:
        return cached
    lookup = merchant_lookups.get(provider)
    merchant_id = lookup(account) if lookup is not None else None
    if merchant_id is not None:
        _merchant_by_account[(provider, account)] = merchant_id
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
        merchant_id=merchant_for_account(provider=provider, account=account),
        payload=dict(payload),
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else "",
        received_at=now,
        next_attempt_at=now + REDISPATCH_AFTER,
        processor_created=_processor_time(processor_created, event_id=event_id),
    )
    stored = _store_with_outbox(event)
    if stored is None:
        return IngestResult(event_pk=None, created=False)
    dispatch_inline_after_commit(*stored)
    return IngestResult(event_pk=stored[0], created=True)
