"""The inbound pipeline's services: what other apps and the views, tasks and admin call.

- ingest: `inbound_event_ingest` stores a verified event and its outbox row once.
- outbox: the relay round and the due sweep hand stored events to Celery.
- processing: `inbound_event_process` / `inbound_events_process` apply them exactly once.
- replay: `inbound_event_replay` gives a failed or dead event fresh attempts.
- reconcile: `inbound_events_reconcile` runs every provider's registered reconciler.
- rejections: refused deliveries, counted by provider and reason.
"""

from inbound.services.ingest import IngestResult, inbound_event_ingest
from inbound.services.outbox import inbound_events_relay
from inbound.services.processing import inbound_event_process, inbound_events_process
from inbound.services.reconcile import inbound_events_reconcile
from inbound.services.rejections import webhook_rejection_count, webhook_rejection_record
from inbound.services.replay import inbound_event_replay

__all__ = [
    "IngestResult",
    "inbound_event_ingest",
    "inbound_event_process",
    "inbound_event_replay",
    "inbound_events_process",
    "inbound_events_reconcile",
    "inbound_events_relay",
    "webhook_rejection_count",
    "webhook_rejection_record",
]
