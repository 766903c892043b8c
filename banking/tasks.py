"""Celery tasks for banking: thin wrappers that pick ids and call one service.

`plaid_items_reconcile_quiet` (beat) re-reads items no webhook has touched for a while:
Plaid's webhooks are the fast path, this poll is what catches the ones that never arrived.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from banking.selectors import plaid_items_sync_due
from banking.services import plaid_items_reconcile
from compliance.actors import Actor

logger = logging.getLogger(__name__)

# An item whose state was last read this long ago is re-read from Plaid.
QUIET_AFTER = timedelta(hours=6)
# Bounded per run (the task's time limit is 120 s): what is left stays due for the next run.
MAX_ITEMS_PER_RUN = 500
TIME_BUDGET_SECONDS = 60.0
BATCH_SIZE = 50


@shared_task(acks_late=True)
def plaid_items_reconcile_quiet(
    quiet_after_seconds: float = QUIET_AFTER.total_seconds(),
    max_items: int = MAX_ITEMS_PER_RUN,
) -> dict[str, int]:
    """Beat: re-read the quietest items from Plaid and apply what changed there."""
    item_ids = plaid_items_sync_due(
        synced_before=timezone.now() - timedelta(seconds=quiet_after_seconds), limit=max_items
    )
    summary = plaid_items_reconcile(
        item_ids=item_ids,
        actor=Actor.system("banking.reconcile"),
        deadline=time.monotonic() + TIME_BUDGET_SECONDS,
        batch_size=BATCH_SIZE,
    )
    if summary.failed or summary.left:
        logger.warning(
            "Plaid reconciliation: %d synced, %d changed, %d failed, %d left for the next run",
            summary.synced,
            summary.changed,
            summary.failed,
            summary.left,
        )
    return {
        "synced": summary.synced,
        "changed": summary.changed,
        "failed": summary.failed,
        "left": summary.left,
    }
