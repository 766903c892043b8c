"""Celery tasks of the API plumbing: the beat's idempotency-key purge."""

from __future__ import annotations

from celery import shared_task

from api.idempotency import idempotency_records_purge as purge


@shared_task
def idempotency_records_purge() -> int:
    """Beat: forget idempotency keys after 24 hours, as the API contract promises."""
    return purge()
