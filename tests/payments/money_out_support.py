"""Helpers for the money-out tests: a sandbox of their own, its events delivered to Ledgerline.

The money tests move the sandbox clock by weeks, so they run on a sandbox of their own rather
than the session's (whose other tests expect today's clock): `money_sandbox` and
`money_control` in tests/payments/conftest.py.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import requests
import stripe

from inbound.models import EventProvider, InboundEvent
from inbound.services import inbound_event_ingest, inbound_event_process
from tests.payments.conftest import SECRET_KEY, SandboxControl

DISPUTE_FEE = 1500


def sdk(url: str) -> stripe.StripeClient:
    """The processor's own client, for what a merchant does at the processor directly."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": url, "files": url})


def deliver_events(url: str, *, account: str, seen: set[str] | None = None) -> int:
    """The connected account's events not in `seen`, oldest first, ingested and processed as
    the webhook pipeline does (a known event id is skipped too); how many were new.

    Called after each step of a history, as webhooks arrive: the processor keeps events for 30
    days only, so a history that moves its clock by weeks cannot be delivered at the end."""
    seen = set() if seen is None else seen
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        response = requests.get(
            f"{url}/v1/events",
            params=params,
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Stripe-Account": account},
            timeout=10,
        )
        response.raise_for_status()
        page = response.json()
        fresh = [event for event in page["data"] if event["id"] not in seen]
        events.extend(fresh)
        if not page["has_more"] or not page["data"] or len(fresh) < len(page["data"]):
            break
        params["starting_after"] = page["data"][-1]["id"]
    new = 0
    for event in reversed(events):
        seen.add(event["id"])
        result = inbound_event_ingest(
            provider=EventProvider.STRIPE,
            event_id=event["id"],
            event_type=event["type"],
            account=account,
            payload={**event, "account": account},
            processor_created=event.get("created"),
        )
        if result.event_pk is not None:
            inbound_event_process(event_id=result.event_pk)
            new += 1
    return new


def failed_events(*, retries: int = 3) -> list[tuple[str, str]]:
    """Events still failed after `retries` more attempts (as the pipeline's sweep retries them:
    on a loaded machine a processor read can time out), with their errors."""
    for _ in range(retries):
        failed = list(InboundEvent.objects.filter(status="failed").values_list("pk", flat=True))
        if not failed:
            break
        for pk in failed:
            inbound_event_process(event_id=pk)
    return list(
        InboundEvent.objects.filter(status__in=("failed", "dead")).values_list("type", "last_error")
    )


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def card_fee(amount: int) -> int:
    """The processor's card fee, computed here on its own terms (2.9% + 30, half up)."""
    return _half_up(Decimal(amount) * Decimal("0.029")) + 30


def processor_totals(url: str, *, account: str) -> dict[str, int]:
    """Payouts still standing plus the balance, per currency, as the processor reports them."""
    client = sdk(url)
    options: Any = {"stripe_account": account}
    held: dict[str, int] = defaultdict(int)
    found = client.v1.balance.retrieve(options=options)
    for funds in [*found.available, *found.pending]:
        held[funds.currency] += funds.amount
    payouts = client.v1.payouts.list(params={"limit": 100}, options=options)
    for payout in payouts.auto_paging_iter():
        if payout.status not in ("failed", "canceled"):
            held[payout.currency] += payout.amount
    return dict(held)


def control_actions(control: SandboxControl) -> Any:
    """The sandbox's control client (clock, object actions) for `control`'s sandbox."""
    from sandbox.client import SandboxControl as ControlClient

    return ControlClient(control.url)
