"""Celery tasks of compliance: thin wrappers around one service each."""

from __future__ import annotations

from celery import shared_task

from compliance.execution import data_request_execute
from compliance.personal_data import ProcessorPendingError
from compliance.services import audit_seal


@shared_task(name="compliance.tasks.audit_seal_task", acks_late=True, ignore_result=True)
def audit_seal_task() -> int:
    """Beat runs this every 30 s: seal what committed and sign a checkpoint over it.

    Forcing the checkpoint at every run keeps the unsigned tail under a minute old.
    """
    return audit_seal(force_checkpoint=True).sealed


@shared_task(
    name="compliance.tasks.data_request_execute_task",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ProcessorPendingError,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=None,
)
def data_request_execute_task(data_request_id: int) -> None:
    """Execute (or resume) an approved data request; a processor outage retries with backoff
    until every system is done (the request completes only then)."""
    data_request_execute(data_request_id=data_request_id)
