"""Audit log writes: `audit_record` for every app, and sealing (chain + signed checkpoints).

`audit_record` inserts one unchained row in the caller's transaction: no lock beyond the row
itself, so concurrent transactions never wait on each other. Sealing happens afterwards, in
commit order, in `compliance.sealer` (Celery beat in production, inline after commit in the
embedded default).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from compliance.actors import Actor
from compliance.models import AuditEntry, AuditVerification, Outcome
from compliance.payloads import clean_payload, scrub_text
from compliance.sealer import SealResult, seal_pending
from config.client_ip import client_ip_from_request

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){1,5}$")
_TARGET_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_USER_AGENT_MAX = 256


def _actor_from_request(request: Any) -> Actor:
    # An API call authenticated by key carries the ApiKey row in `request.auth`; its
    # `request.user` is a stand-in that must not be mistaken for a person.
    auth = getattr(request, "auth", None)
    key_id = getattr(auth, "public_id", None)
    if isinstance(key_id, str) and key_id.startswith("key_"):
        return Actor.for_api_key(key_id)
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor.for_user(user)
    return Actor.anonymous()


def _merchant_from_request(request: Any) -> str:
    merchant = getattr(request, "merchant", None)
    if merchant is None:
        merchant = getattr(getattr(request, "auth", None), "merchant", None)
    return str(getattr(merchant, "public_id", "") or "")


def _origin(request: Any) -> tuple[str, str, str]:
    # A DRF Request wraps the HttpRequest; the client IP helper wants the latter.
    http_request = getattr(request, "_request", request)
    ip = client_ip_from_request(http_request)
    agent = scrub_text(http_request.META.get("HTTP_USER_AGENT", ""))[:_USER_AGENT_MAX]
    request_id = str(getattr(http_request, "request_id", "") or "")[:64]
    return ip, agent, request_id


def _check_public_id(value: str, *, name: str) -> str:
    if value and not _PUBLIC_ID.match(value):
        raise ValueError(f"audit {name} must be a public id (1-64 of A-Za-z0-9_.:-), got {value!r}")
    return value


def audit_record(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: Actor | None = None,
    merchant_id: str | None = None,
    target_type: str = "",
    target_id: str = "",
    outcome: str = Outcome.SUCCESS,
    payload: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record one audit entry in the caller's transaction (it rolls back with it).

    Name people and objects only by their public ids (`usr_...`, `pay_...`): the log is never
    edited, so it must hold nothing an erasure would have to remove. The payload is scrubbed
    (see `compliance.payloads`); a payload that cannot be recorded raises AuditPayloadError.
    """
    if not _ACTION.match(action):
        raise ValueError(f"audit action must be a dotted lower-case code, got {action!r}")
    if target_type and not _TARGET_TYPE.match(target_type):
        raise ValueError(f"audit target_type must be a lower-case word, got {target_type!r}")
    if outcome not in Outcome.values:
        raise ValueError(f"audit outcome must be one of {Outcome.values}, got {outcome!r}")
    if actor is None:
        actor = _actor_from_request(request) if request is not None else Actor.anonymous()
    if merchant_id is None:
        merchant_id = _merchant_from_request(request) if request is not None else ""
    ip, user_agent, request_id = _origin(request) if request is not None else ("", "", "")
    entry = AuditEntry(
        created_at=timezone.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        merchant_public_id=_check_public_id(merchant_id, name="merchant_id")[:32],
        action=action,
        target_type=target_type,
        target_id=_check_public_id(target_id, name="target_id"),
        outcome=outcome,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        payload=clean_payload(payload),
    )
    batch = _batch.get()
    if batch is not None and batch.savepoints == list(connection.savepoint_ids):
        batch.entries.append(entry)
        return entry
    entry.save(force_insert=True)
    if settings.AUDIT_SEAL_INLINE:
        transaction.on_commit(_seal_after_commit, robust=True)
    return entry


@dataclass
class _Batch:
    # The savepoints open when the batch began: an entry recorded inside a newer one is
    # written at once, so that it rolls back with that savepoint if it does.
    savepoints: list[str | None]
    entries: list[AuditEntry] = field(default_factory=list)


_batch: ContextVar[_Batch | None] = ContextVar("audit_batch", default=None)


@contextmanager
def audit_batch() -> Iterator[None]:
    """Entries recorded in the block are inserted together, in one statement, as it ends.

    For a loop that records an entry per item in one transaction (a batch of webhook events):
    one multi-row INSERT costs far less than one per entry. Open it inside the transaction the
    entries belong to. If the block raises, nothing is inserted and the exception propagates,
    so the transaction rolls back as it would have. Entries recorded inside a nested atomic
    block (a savepoint) are not held back: they are inserted at once, so a rolled-back
    savepoint takes them with it. Entries returned while held back have no primary key yet.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_batch() must run inside the transaction of its entries")
    batch = _Batch(savepoints=list(connection.savepoint_ids))
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    if batch.entries:
        AuditEntry.objects.bulk_create(batch.entries)
        if settings.AUDIT_SEAL_INLINE:
            transaction.on_commit(_seal_after_commit, robust=True)


def _seal_after_commit() -> None:
    seal_pending(force_checkpoint=False, wait_for_lock=False)


def audit_seal(
    *, force_checkpoint: bool = True, progress: Callable[[int], None] | None = None
) -> SealResult:
    """Seal every committed entry now and (by default) sign a checkpoint over them."""
    return seal_pending(force_checkpoint=force_checkpoint, wait_for_lock=True, progress=progress)


def audit_verification_record(
    *,
    started_at: Any,
    ok: bool,
    verified: int,
    first_bad_position: int | None,
    problem: str,
    message: str,
) -> AuditVerification:
    """Keep the outcome of a verification run for the chain status."""
    return AuditVerification.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        result="intact" if ok else "broken",
        verified=verified,
        first_bad_position=first_bad_position,
        problem=problem,
        message=message[:500],
    )


# The data-request workflow lives in its own modules (it needs `audit_record` above); its
# published names are offered here with the rest of compliance's services.
from compliance.data_requests import (  # noqa: E402
    data_request_approve,
    data_request_attest,
    data_request_deadline,
    data_request_extend,
    data_request_open,
    data_request_reject,
    data_request_verify,
)
from compliance.execution import (  # noqa: E402
    data_request_execute,
    data_request_export,
    export_available,
)

__all__ = [
    "audit_batch",
    "audit_record",
    "audit_seal",
    "audit_verification_record",
    "data_request_approve",
    "data_request_attest",
    "data_request_deadline",
    "data_request_execute",
    "data_request_export",
    "data_request_extend",
    "data_request_open",
    "data_request_reject",
    "data_request_verify",
    "export_available",
]
