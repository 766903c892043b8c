"""Stripe event payloads read into plain data: what an event is about, and the event shape.

Verification is webhooks.py's; this module reads a stored (verified) event's JSON and builds
the same shape for an event the Events API returned, so handlers never walk Stripe's layout.
"""

from __future__ import annotations

import re
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


_BALANCE_TRANSACTION_ID = re.compile(r"^txn_[A-Za-z0-9]{1,64}$")
# A dispute carries at most its withdrawal and its reinstatement; more is not Stripe's shape.
_MAX_REFERENCED = 4


def balance_transaction_ids(obj: Mapping[str, Any]) -> list[str]:
    """The balance transactions a charge, refund or dispute names, ids or expanded objects
    (`balance_transaction`, `failure_balance_transaction`, a dispute's `balance_transactions`);
    anything not shaped like an id is left out."""
    named: list[Any] = [obj.get("balance_transaction"), obj.get("failure_balance_transaction")]
    listed = obj.get("balance_transactions")
    if isinstance(listed, list):
        named.extend(listed)
    ids = []
    for item in named:
        value = item.get("id") if isinstance(item, dict) else item
        if isinstance(value, str) and _BALANCE_TRANSACTION_ID.match(value):
            ids.append(value)
    return list(dict.fromkeys(ids))[:_MAX_REFERENCED]
