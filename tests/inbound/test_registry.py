"""The registries: filled by the apps at start-up, read-only after, and the one place a batch
finds an event type's behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from inbound import registry
from inbound.models import InboundEvent, InboundEventStatus
from inbound.services import ingest, processing, reconcile
from payments.models import ProcessorAccount
from tests.factories import MerchantFactory
from tests.inbound.webhook_support import event_payload


def test_a_registration_after_start_up_is_refused() -> None:
    with pytest.raises(registry.RegistryClosedError):
        registry.register(provider="stripe", event_type="customer.created", handler=lambda e: None)
    with pytest.raises(registry.RegistryClosedError):
        registry.register_reconciler(provider="plaid", reconciler=lambda: 0)
    assert ("stripe", "customer.created") not in registry.handlers
    assert "plaid" not in registry.reconcilers


def test_a_second_handler_for_a_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # As while the apps start: the registry is still open.
    monkeypatch.setattr(registry.apps, "ready", False)
    with pytest.raises(ImproperlyConfigured, match="already has a handler"):
        registry.register(
            provider="stripe", event_type="payment_intent.succeeded", handler=lambda e: None
        )
    with pytest.raises(ImproperlyConfigured, match="already has a reconciler"):
        registry.register_reconciler(provider="stripe", reconciler=lambda: 0)


def test_the_registries_cannot_be_written_through_their_public_views() -> None:
    with pytest.raises(TypeError):
        registry.handlers[("stripe", "x")] = lambda e: None  # type: ignore[index]


def test_the_apps_registered_their_handlers_and_processors_their_reconcilers() -> None:
    from banking.event_handlers import PLAID_TYPES
    from banking.stripe_fallback import SETUP_INTENT_EVENTS

    stripe_types = {t for provider, t in registry.handlers if provider == "stripe"}
    assert {"payment_intent.succeeded", "charge.refunded", "account.updated"} <= stripe_types
    assert set(SETUP_INTENT_EVENTS) <= stripe_types
    assert {("plaid", t) for t in PLAID_TYPES} <= set(registry.handlers)
    braintree_types = {t for provider, t in registry.handlers if provider == "braintree"}
    assert {"transaction_settled", "dispute_opened", "disbursement"} <= braintree_types
    assert set(registry.reconcilers) == {"stripe", "braintree"}


@pytest.mark.django_db
def test_a_batch_applies_events_only_through_their_registered_handler(
    stored_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Final payment_intent events: what the batch does is whatever the registry holds."""
    seen: list[str] = []

    def plain(event: InboundEvent) -> str | None:
        seen.append(event.event_id)
        return "replaced handler"

    monkeypatch.setitem(registry._handlers, ("stripe", "payment_intent.succeeded"), plain)
    # Final events of a merchant's payments: the kind the batch once applied around the table.
    ProcessorAccount.objects.create(merchant=MerchantFactory(), processor_account_id="acct_reg")
    payloads = [
        event_payload(
            "payment_intent.succeeded",
            account="acct_reg",
            obj={"id": f"pi_reg_{n}", "object": "payment_intent", "status": "succeeded"},
        )
        for n in range(3)
    ]
    pks = [
        ingest.inbound_event_ingest(
            provider="stripe", event_id=p["id"], event_type=p["type"], account="acct_reg", payload=p
        ).event_pk
        for p in payloads
    ]
    processing.inbound_events_process(event_ids=[pk for pk in pks if pk is not None])
    assert sorted(seen) == sorted(p["id"] for p in payloads)
    assert set(InboundEvent.objects.values_list("status", "last_error")) == {
        (InboundEventStatus.IGNORED, "replaced handler")
    }


@pytest.mark.django_db
def test_a_batch_form_gets_all_its_events_in_one_call(
    stored_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def apply_many(batch: Sequence[tuple[InboundEvent, Any]]) -> list[str | None]:
        calls.append([event.event_id for event, _ in batch])
        return [None if read == "read" else "not read" for _, read in batch]

    handler = registry.FetchingHandler(
        fetch=lambda event: "read", apply=lambda event, read: "alone", apply_many=apply_many
    )
    monkeypatch.setitem(registry._handlers, ("stripe", "customer.created"), handler)
    payloads = [event_payload("customer.created", account=None) for _ in range(4)]
    pks = [
        ingest.inbound_event_ingest(
            provider="stripe", event_id=p["id"], event_type=p["type"], account="", payload=p
        ).event_pk
        for p in payloads
    ]
    processing.inbound_events_process(event_ids=[pk for pk in pks if pk is not None])
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted(p["id"] for p in payloads)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {
        InboundEventStatus.SUCCEEDED
    }
    # One event alone goes through `apply`, the same handler's single form.
    lone = event_payload("customer.created", account=None)
    result = ingest.inbound_event_ingest(
        provider="stripe", event_id=lone["id"], event_type=lone["type"], account="", payload=lone
    )
    assert result.event_pk is not None
    processing.inbound_events_process(event_ids=[result.event_pk])
    assert InboundEvent.objects.get(pk=result.event_pk).last_error == "alone"


def test_reconcile_runs_every_provider_and_raises_the_first_failure_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []

    def failing() -> int:
        ran.append("stripe")
        raise ConnectionError("processor down")

    def working() -> int:
        ran.append("other")
        return 2

    monkeypatch.setattr(reconcile, "reconcilers", {"stripe": failing, "other": working})
    with pytest.raises(ConnectionError):
        reconcile.inbound_events_reconcile()
    assert ran == ["stripe", "other"]
    monkeypatch.setattr(reconcile, "reconcilers", {"other": working})
    assert reconcile.inbound_events_reconcile() == 2
