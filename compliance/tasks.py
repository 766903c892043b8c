"""Celery tasks of compliance: thin wrappers around one service each."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from compliance.execution import data_request_execute, data_requests_stalled
from compliance.personal_data import ProcessorPendingError
from compliance.retention import retention_apply
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
    # Bounded so an eager run (tests) cannot recurse forever; after the last retry the beat
    # sweep below picks the request up again, so an outage of any length still ends.
    max_retries=12,
)
def data_request_execute_task(data_request_id: int) -> None:
    """Execute (or resume) an approved data request; a processor outage retries with backoff
    until every system is done (the request completes only then)."""
    data_request_execute(data_request_id=data_request_id)


@shared_task(name="compliance.tasks.data_requests_resume_task", ignore_result=True)
def data_requests_resume_task() -> int:
    """Beat: hand stalled approved or executing requests back to the execution task."""
    stalled = data_requests_stalled(older_than=timedelta(minutes=15))
    for pk in stalled:
        data_request_execute_task.delay(pk)
    return len(stalled)


@shared_task(name="compliance.tasks.retention_apply_task", acks_late=True, ignore_result=True)
def retention_apply_task() -> int:
    """Beat, daily: apply the retention policies; returns how many records changed."""
    return sum(run.applied for run in retention_apply())
