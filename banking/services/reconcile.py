"""Reconciling quiet items: re-read from Plaid what webhooks may have missed, in batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from banking.exceptions import PlaidAuthenticationError
from banking.models import PlaidItem
from banking.services.sync import plaid_item_sync
from compliance.actors import Actor
from config.exceptions import ApplicationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileSummary:
    synced: int
    changed: int
    failed: int
    left: int


def plaid_items_reconcile(
    *, item_ids: Sequence[int], actor: Actor, deadline: float | None = None, batch_size: int = 50
) -> ReconcileSummary:
    """Re-read quiet items from Plaid (`plaid_item_sync`), catching what webhooks missed.

    Items are loaded in batches; one item's failure is logged (item id and error code only)
    and the rest go on. Plaid refusing our own keys stops the run, since every call would
    fail the same way. Nothing new starts after `deadline` (time.monotonic()); the items
    left stay due for the next run.
    """
    ids = list(item_ids)
    synced = changed = failed = 0
    for start in range(0, len(ids), batch_size):
        batch = PlaidItem.objects.select_related("merchant", "customer", "access_token").filter(
            pk__in=ids[start : start + batch_size]
        )
        for item in batch.order_by("synced_at", "pk"):
            if deadline is not None and time.monotonic() >= deadline:
                return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)
            try:
                result = plaid_item_sync(item=item, actor=actor)
            except PlaidAuthenticationError:
                logger.error("Plaid refused our API keys; reconciliation stopped")
                failed += 1
                return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)
            except ApplicationError as exc:
                failed += 1
                logger.warning("Reconciling Plaid item %s failed: %s", item.public_id, exc.code)
                continue
            except Exception:
                # One item's bug must not stop the others; the traceback names no token
                # (and the log filter masks any that slipped in).
                failed += 1
                logger.exception("Reconciling Plaid item %s failed unexpectedly", item.public_id)
                continue
            synced += 1
            changed += int(bool(result.changed))
    return ReconcileSummary(synced, changed, failed, len(ids) - synced - failed)
