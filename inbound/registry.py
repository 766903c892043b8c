"""Who handles which inbound event, and who reconciles which provider: the apps say so here.

The pipeline knows no provider's objects. An app that owns events registers, from its
`AppConfig.ready()`, one handler per (provider, event type), at most one reconciler per
provider, and how the merchant of a provider's account is found:

    from inbound.registry import FetchingHandler, register, register_reconciler

    register(provider="stripe", event_type="charge.refunded", handler=on_charge_refunded)
    register_reconciler(provider="stripe", reconciler=stripe_events_reconcile)

A registry is a dict behind these functions: filled while the apps start, read-only once they
have (a registration after start-up, or a second one for the same key, raises), so a reader
who finds the `register` call for a type has found everything that type does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from inbound.models import InboundEvent

# A plain handler applies the event inside its transaction and returns a note (the event is
# then `ignored` with that note) or None (`succeeded`).
PlainHandler = Callable[[InboundEvent], str | None]
# A handler's batch form: (event, what its fetch read) pairs in, one note per event out.
BatchApply = Callable[[Sequence[tuple[InboundEvent, Any]]], list[str | None]]


class EventNotReadyError(Exception):
    """The event refers to something not stored yet; retried with backoff."""


@dataclass(frozen=True)
class FetchingHandler:
    """A handler that reads the processor before it applies an event.

    `fetch` runs with no database transaction open: a processor call inside one would hold
    the event's row lock (and, on SQLite, the whole database's write lock) for as long as the
    network takes. `apply` then runs in the event's transaction with what `fetch` returned and
    returns a note (the event is ignored) or None. What was read may be a moment old by then:
    every apply is forward-only, so an older read never moves anything back. A `fetch` that
    raises leaves the event failed with its next attempt set, like a handler that raises.

    `apply_many`, when given, is the same behaviour for a batch: the pipeline hands it every
    event of a batch this handler serves (locked, pending, with what `fetch` read for each) in
    the batch's transaction, and takes one note per event, in order. It exists so that a
    handler can take its locks once per batch instead of once per event; it must change
    what `apply` would change, event by event.
    """

    fetch: Callable[[InboundEvent], Any]
    apply: Callable[[InboundEvent, Any], str | None]
    apply_many: BatchApply | None = None


Handler = PlainHandler | FetchingHandler
# Pulls the provider's events that were never delivered and ingests them; returns how many.
Reconciler = Callable[[], int]
# The merchant (pk) whose processor account an event names, or None when it is not ours.
MerchantLookup = Callable[[str], int | None]


class RegistryClosedError(ImproperlyConfigured):
    """A registration after the apps started: the registries are read-only by then."""


_handlers: dict[tuple[str, str], Handler] = {}
_reconcilers: dict[str, Reconciler] = {}
_merchant_lookups: dict[str, MerchantLookup] = {}

# Read-only views for the pipeline (and for anyone who wants to list what is handled).
handlers: Mapping[tuple[str, str], Handler] = MappingProxyType(_handlers)
reconcilers: Mapping[str, Reconciler] = MappingProxyType(_reconcilers)
merchant_lookups: Mapping[str, MerchantLookup] = MappingProxyType(_merchant_lookups)


def _check_open(what: str) -> None:
    if apps.ready:
        raise RegistryClosedError(
            f"{what} registered after start-up; register from AppConfig.ready()."
        )


def register(*, provider: str, event_type: str, handler: Handler) -> None:
    """Make `handler` the one handler of `provider`'s `event_type` events."""
    _check_open(f"Handler for {provider} {event_type}")
    key = (provider, event_type)
    if key in _handlers:
        raise ImproperlyConfigured(f"{provider} {event_type} already has a handler.")
    _handlers[key] = handler


def register_reconciler(*, provider: str, reconciler: Reconciler) -> None:
    """Make `reconciler` the one that pulls `provider`'s missed events (beat, every 15 min)."""
    _check_open(f"Reconciler for {provider}")
    if provider in _reconcilers:
        raise ImproperlyConfigured(f"{provider} already has a reconciler.")
    _reconcilers[provider] = reconciler


def register_merchant_lookup(*, provider: str, lookup: MerchantLookup) -> None:
    """Make `lookup` the one that finds the merchant of `provider`'s account field (ingest).

    A merchant found is remembered for the life of the process (an account belongs to one
    merchant for good); a miss is asked again next time.
    """
    _check_open(f"Merchant lookup for {provider}")
    if provider in _merchant_lookups:
        raise ImproperlyConfigured(f"{provider} already has a merchant lookup.")
    _merchant_lookups[provider] = lookup


def handler_for(event: InboundEvent) -> Handler | None:
    return _handlers.get((event.provider, event.type))
