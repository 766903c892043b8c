"""Helpers for the webhook tests: signed Stripe deliveries and event payloads."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
from django.test import Client

from payments import webhooks
from payments.gateways.stripe.webhooks import signature_header

CURRENT_SECRET = "whsec_test_current"
PREVIOUS_SECRET = "whsec_test_previous"
URL = "/webhooks/stripe/"
_ids = itertools.count(1)


def event_payload(
    event_type: str = "customer.created",
    *,
    obj: dict[str, Any] | None = None,
    account: str | None = "acct_test",
    event_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{next(_ids)}_{time.monotonic_ns()}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "account": account,
        "api_version": "2026-10-28.endive",
        "data": {"object": obj or {"id": f"cus_{next(_ids)}", "object": "customer"}},
    }


def signed(
    body: bytes, *, secrets: tuple[str, ...] = (CURRENT_SECRET,), at: int | None = None
) -> str:
    return signature_header(body=body, secrets=secrets, timestamp=at)


def deliver(
    client: Client,
    payload: dict[str, Any] | bytes,
    *,
    secrets: tuple[str, ...] = (CURRENT_SECRET,),
    at: int | None = None,
    header: str | None = None,
) -> Any:
    """POST a delivery as Stripe does: the raw body and its Stripe-Signature header."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = header if header is not None else signed(body, secrets=secrets, at=at)
    return client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sig)


def sandbox_events(control: Any, *, account: str, event_type: str | None = None) -> list[dict]:
    """The sandbox's events on a connected account, oldest first (what Stripe would send)."""
    params: dict[str, Any] = {"limit": 100}
    if event_type:
        params["type"] = event_type
    return list(reversed(control.api_get("/v1/events", account=account, **params)["data"]))


@pytest.fixture(autouse=True)
def fresh_publisher():
    """Each test starts with the broker presumed up (the cooldown is per process)."""
    webhooks.broker_cooldown_reset()
    yield
    webhooks.broker_cooldown_reset()
