"""Inbound processor events: one pipeline for every provider (docs/webhooks.md).

Published surface: `inbound.registry` (apps register their event handlers and reconcilers
from `AppConfig.ready()`), `inbound.services` (ingest, process, relay, replay, reconcile,
refusal counters), `inbound.views` (the building blocks of a provider's webhook view) and
`inbound.models`. The app knows no provider's objects: payments and banking register with it.
"""
