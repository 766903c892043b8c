"""Reconciliation: every provider's reconciler pulls the events it never delivered to us.

Each app that owns a provider registers its reconciler (`inbound.registry.register_reconciler`);
a reconciler lists what the processor could not deliver and ingests it through the same
insert as a webhook (`inbound_event_ingest`: known ids are skipped).
"""

from __future__ import annotations

import logging

from inbound.registry import reconcilers

logger = logging.getLogger(__name__)


def inbound_events_reconcile() -> int:
    """Run every provider's reconciler; how many missed events were ingested in all.

    One provider's failure (its processor down) does not keep the others from running; the
    first failure is raised once all have run, so the task is seen to fail.
    """
    ingested = 0
    failure: Exception | None = None
    for provider, reconciler in reconcilers.items():
        try:
            ingested += reconciler()
        except Exception as exc:  # noqa: BLE001 - raised below, after the other providers
            logger.warning("Reconciling %s events failed (%s)", provider, type(exc).__name__)
            failure = failure or exc
    if failure is not None:
        raise failure
    return ingested
