"""Stripe event payloads read into plain data: what an event is about, and the event shape.

Verification is webhooks.py's; this module reads a stored (verified) event's JSON and builds
the same shape for an event the Events API returned, so handlers never walk Stripe's layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.gateways.stripe.types import EventData


def event_object(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The object the event is about (`data.object`); ValueError when it has none with an id."""
    data = payload.get("data") if isinstance(payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError("event has no data.object with an id")
    return obj


def event_payload(item: EventData, account: str) -> dict[str, Any]:
    """A listed event as a webhook carries it: the fields we rely on, under the same names."""
    return {
        "id": item.id,
        "object": "event",
        "type": item.type,
        "created": item.created,
        "account": account or None,
        "data": {"object": item.data_object},
    }
