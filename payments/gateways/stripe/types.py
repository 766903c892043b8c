"""Stripe's events as plain data, for the inbound pipeline's reconciliation.

The neutral dataclasses the services see (charges, refunds, customers) are in
`payments.gateways.base`; these stay Stripe's because only Stripe's event code reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventData:
    id: str
    type: str
    created: int
    account: str = ""
    data_object: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    events: list[EventData]
    has_more: bool
