"""The API's `Idempotency-Key` layer: one stored answer per (merchant, key), never two effects.

After Brandur Leach's "Implementing Stripe-like idempotency keys in Postgres":
- the first request inserts the record (unique per merchant and key) holding a lock lease;
- a request with the same key and another fingerprint (method, path, canonical body) gets 422
  `idempotency_key_reused`; while the lease is held, 409 `idempotency_key_in_use`;
- the operation moves the record's recovery point in the same transaction as its own writes
  (`started` -> `object_created` -> `finished`); a request that crashed or lost the processor's
  answer releases (or times out) the lease without finishing, and the next request with the
  key resumes from the recovery point with the object already created, where the processor
  idempotency key derived from that object makes a repeated call harmless;
- the final answer (success, or a client error such as a decline) is stored and replayed with
  `Idempotent-Replayed: true`. Records are purged after 24 hours.

Each durable commit costs a WAL flush, so a create that opts in (`claim_with_object=True`)
claims a new key in the transaction that creates its object, and stores its answer in the
transaction that saves the processor's answer (`idempotency_finish`): two commits, not four.
The key is still claimed before the processor is called; a concurrent request with the same
key blocks on the unique index until the winner commits, then finds the lease held (409).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Merchant
from api.exceptions import (
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    application_error_body,
)
from api.models import IdempotencyRecord, RecoveryPoint
from config.card_numbers import contains_card_number, mask_card_numbers_in
from config.exceptions import ApplicationError
from config.free_text import CARD_NUMBER_CODE

# Longer than the slowest processor call with its retries, so a live request keeps its key.
LOCK_LEASE = timedelta(seconds=90)
RETENTION = timedelta(hours=24)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# Errors after which the same request may succeed: the attempt is not final, so not stored.
_RETRYABLE_STATUSES = frozenset({409, 429, 503})


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: Any
    replayed: bool


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """SHA-256 over method, path and the body as canonical JSON (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    for part in (method.upper(), path, canonical):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def validate_key(key: str) -> str:
    if not _KEY_RE.match(key):
        raise InvalidRequestError(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            code="idempotency_key_invalid",
            param="Idempotency-Key",
        )
    if contains_card_number(key):
        raise InvalidRequestError(
            "Idempotency-Key looks like a card number; use a random value such as a UUID.",
            code=CARD_NUMBER_CODE,
            param="Idempotency-Key",
        )
    return key


class _KeyClaimedConcurrentlyError(Exception):
    """A deferred claim lost the race for its key; the object's transaction rolled back."""


def _acquire(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str, defer: bool
) -> IdempotencyRecord | IdempotentResponse:
    """Insert or lock the record; a finished one answers with its stored response instead.

    With `defer`, a key not seen yet gives an unsaved record, inserted later by
    `idempotency_mark_object_created` inside the transaction that creates the object.
    """
    now = timezone.now()
    record = IdempotencyRecord(
        merchant=merchant,
        key=key,
        request_method=method,
        request_path=path,
        request_fingerprint=fingerprint,
        locked_at=now,
        created_at=now,
    )
    if defer:
        if not IdempotencyRecord.objects.filter(merchant=merchant, key=key).exists():
            return record
    else:
        try:
            with transaction.atomic():
                record.save(force_insert=True)
                return record
        except IntegrityError:
            pass
    return _acquire_existing(
        merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint
    )


def _acquire_existing(
    *, merchant: Merchant, key: str, method: str, path: str, fingerprint: str
) -> IdempotencyRecord | IdempotentResponse:
    """Lock the stored record of a key: replay, refuse (409/422) or take over its lease."""
    now = timezone.now()
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(merchant=merchant, key=key)
        if record.created_at <= now - RETENTION:
            # An expired key is a new key (the purge task has simply not run yet).
            record.request_method = method
            record.request_path = path
            record.request_fingerprint = fingerprint
            record.recovery_point = RecoveryPoint.STARTED
            record.target_type = record.target_public_id = ""
            record.response_status = None
            record.response_body = None
            record.locked_at = now
            record.created_at = now
            record.save()
            return record
        if (
            record.request_fingerprint != fingerprint
            or record.request_method != method
            or record.request_path != path
        ):
            raise IdempotencyKeyReusedError()
        if record.recovery_point == RecoveryPoint.FINISHED and record.response_status:
            return IdempotentResponse(
                status=record.response_status, body=record.response_body, replayed=True
            )
        if record.locked_at is not None and record.locked_at > now - LOCK_LEASE:
            raise IdempotencyKeyInUseError()
        record.locked_at = now
        record.save(update_fields=["locked_at", "updated_at"])
        return record


def idempotency_mark_object_created(
    record: IdempotencyRecord | None, *, target_type: str, public_id: str
) -> None:
    """Call inside the transaction that creates the object: the two commit together.

    A deferred (unsaved) record is inserted here. If another request claimed the key first,
    the insert waits for it to commit and fails; the error leaves the caller's transaction, so
    the object is rolled back with it and `idempotent_execute` answers as for a held key.
    """
    if record is None:
        return
    if record._state.adding:
        record.recovery_point = RecoveryPoint.OBJECT_CREATED
        record.target_type = target_type
        record.target_public_id = public_id
        try:
            record.save(force_insert=True)
        except IntegrityError as exc:
            raise _KeyClaimedConcurrentlyError(record.key) from exc
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        recovery_point=RecoveryPoint.OBJECT_CREATED,
        target_type=target_type,
        target_public_id=public_id,
        updated_at=timezone.now(),
    )
    record.recovery_point = RecoveryPoint.OBJECT_CREATED
    record.target_type = target_type
    record.target_public_id = public_id


def idempotency_claim_target(
    record: IdempotencyRecord | None, *, target_type: str, public_id: str
) -> bool:
    """For an operation on an existing object (a capture, a cancel): True if an earlier
    attempt with this key already reached the point of calling the processor for it.

    Otherwise marks the object on the record (committed before the processor call), so a
    retry after a lost answer knows to read the object back before acting again.
    """
    if record is None:
        return False
    if record.target_public_id == public_id and record.target_type == target_type:
        return True
    idempotency_mark_object_created(record, target_type=target_type, public_id=public_id)
    return False


def idempotency_finish(record: IdempotencyRecord | None, *, status: int, body: Any) -> None:
    """Store the final answer; call inside the transaction that saves the operation's outcome.

    Committing the answer with the outcome saves a commit, and there is no moment where the
    outcome is saved but the key would still resume. The record must already be in the
    database (its object was created); `idempotent_execute` then does not store it again.
    """
    if record is None or record._state.adding:
        return
    _finish(record, status=status, body=body)


def _finish(record: IdempotencyRecord, *, status: int, body: Any) -> None:
    # The answer may carry what the processor said (a decline message): never store a card
    # number it echoed.
    body = mask_card_numbers_in(body)
    if record._state.adding:
        # A deferred claim that ended before creating anything: store the answer as a new
        # record; if a concurrent request has claimed the key meanwhile, its record stands.
        record.recovery_point = RecoveryPoint.FINISHED
        record.response_status = status
        record.response_body = body
        record.locked_at = None
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            pass
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        recovery_point=RecoveryPoint.FINISHED,
        response_status=status,
        response_body=body,
        locked_at=None,
        updated_at=timezone.now(),
    )
    record.recovery_point = RecoveryPoint.FINISHED
    record.response_status = status
    record.response_body = body


def _release(record: IdempotencyRecord) -> None:
    if record._state.adding:
        return  # a deferred claim never reached the database: there is no lease to free
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_at=None, updated_at=timezone.now())


def _retryable(exc: ApplicationError) -> bool:
    return exc.status_code in _RETRYABLE_STATUSES or exc.status_code >= 500


def _render(exc: ApplicationError, renderer: Callable[[ApplicationError], Any] | None) -> Any:
    if renderer is not None:
        return renderer(exc)
    return application_error_body(exc)


Operation = Callable[[IdempotencyRecord | None], tuple[int, Any]]


def idempotent_execute(
    *,
    merchant: Merchant,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    operation: Operation,
    error_renderer: Callable[[ApplicationError], Any] | None = None,
    claim_with_object: bool = False,
) -> IdempotentResponse:
    """Run `operation` at most once to completion per (merchant, key).

    Without a key (None: no header) the operation simply runs; an empty key is invalid.
    `operation(record)` returns (status, body); it receives the record (or None) to mark
    recovery points and to resume from them.
    Application errors that are final (4xx other than 409/429) are stored and replayed like
    successes; retryable ones leave the record resumable and propagate.

    `claim_with_object=True` is for operations that always call
    `idempotency_mark_object_created` in their first transaction, before any side effect
    outside our database: a new key is claimed there rather than in a commit of its own.
    """
    if key is None:
        try:
            status, data = operation(None)
        except ApplicationError as exc:
            if _retryable(exc):
                raise
            return IdempotentResponse(
                status=exc.status_code, body=_render(exc, error_renderer), replayed=False
            )
        return IdempotentResponse(status=status, body=data, replayed=False)
    validate_key(key)
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    acquired = _acquire(
        merchant=merchant,
        key=key,
        method=method,
        path=path,
        fingerprint=fingerprint,
        defer=claim_with_object,
    )
    if isinstance(acquired, IdempotentResponse):
        return acquired
    try:
        return _run(acquired, operation, error_renderer)
    except _KeyClaimedConcurrentlyError:
        # Nothing of ours was committed; answer as the winner's record says (409 while it
        # runs), exactly as if this request had arrived second.
        acquired = _acquire_existing(
            merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint
        )
        if isinstance(acquired, IdempotentResponse):
            return acquired
        return _run(acquired, operation, error_renderer)


def _run(
    record: IdempotencyRecord,
    operation: Operation,
    error_renderer: Callable[[ApplicationError], Any] | None,
) -> IdempotentResponse:
    try:
        status, data = operation(record)
    except ApplicationError as exc:
        if _retryable(exc):
            _release(record)
            raise
        rendered = _render(exc, error_renderer)
        _finish(record, status=exc.status_code, body=rendered)
        return IdempotentResponse(status=exc.status_code, body=rendered, replayed=False)
    except BaseException:
        # A bug or an interrupted worker: keep the recovery point, free the key for a retry.
        _release(record)
        raise
    if record.recovery_point != RecoveryPoint.FINISHED:
        # The operation did not store its answer with its outcome (`idempotency_finish`).
        _finish(record, status=status, body=data)
    return IdempotentResponse(status=status, body=data, replayed=False)


_IN_FLIGHT_POLL_SECONDS = 0.2


def idempotent_execute_waiting(*, wait_seconds: float, **kwargs: Any) -> IdempotentResponse:
    """`idempotent_execute` for a person's double submit: while the first request with the key
    is still running (409 in use), poll until its answer is stored, then replay it.

    Raises `IdempotencyKeyInUseError` if the first request is still running after
    `wait_seconds`.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return idempotent_execute(**kwargs)
        except IdempotencyKeyInUseError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_IN_FLIGHT_POLL_SECONDS)


def idempotency_records_purge(*, now: Any = None) -> int:
    """Delete records older than the 24-hour retention; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted
