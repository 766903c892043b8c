"""What processors send back is stored with card numbers masked (PCI DSS 3.4): decline
messages and texts through the Stripe gateway, stored idempotent answers, Plaid webhooks."""

from __future__ import annotations

import json

import pytest
import stripe

from api.idempotency import idempotent_execute
from api.models import IdempotencyRecord
from config.card_numbers import MASK, card_number_lengths_in
from inbound.models import EventProvider, InboundEvent
from inbound.services import inbound_event_ingest
from payments.gateways.stripe.api import intent_from_dict
from payments.gateways.stripe.resilience import translate

pytestmark = pytest.mark.django_db

VISA = "4012888888881881"


def test_a_stripe_decline_message_echoing_a_card_number_is_masked():
    error = stripe.CardError(
        message="declined",
        param="number",
        code="card_declined",
        json_body={"error": {"message": f"Card {VISA} was declined.", "code": "card_declined"}},
    )
    translated = translate(error, mutating=True)
    assert translated.message == f"Card {MASK} was declined."


def test_a_payment_intent_echoing_card_numbers_maps_to_masked_fields():
    intent = intent_from_dict(
        {
            "id": "pi_1",
            "status": "requires_payment_method",
            "last_payment_error": {"message": f"Your card number {VISA} is incorrect."},
            "metadata": {"note": f"{VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}"},
        }
    )
    assert intent.failure_message == f"Your card number {MASK} is incorrect."
    assert intent.metadata == {"note": MASK}


def test_a_stored_idempotent_answer_has_card_numbers_masked(merchant):
    result = idempotent_execute(
        merchant=merchant,
        key="key-echo-1",
        method="POST",
        path="/api/v1/payments",
        body={"amount": 100},
        operation=lambda record: (201, {"failure_message": f"card {VISA} declined"}),
    )
    assert result.status == 201
    stored = IdempotencyRecord.objects.get(merchant=merchant, key="key-echo-1").response_body
    assert stored == {"failure_message": f"card {MASK} declined"}


def test_a_plaid_webhook_echoing_a_card_number_is_stored_masked():
    payload = {
        "webhook_type": "ITEM",
        "webhook_code": "ERROR",
        "item_id": "item-1",
        "error": {"display_message": f"card {VISA}", "numbers": [int(VISA)]},
    }
    body = json.dumps(payload).encode()
    result = inbound_event_ingest(
        provider=EventProvider.PLAID,
        event_id="plaid-echo-1",
        event_type="ITEM.ERROR",
        account="",
        payload=payload,
        body=body,
    )
    assert result.created
    stored = InboundEvent.objects.get(event_id="plaid-echo-1").payload
    assert card_number_lengths_in(stored) == []
    assert stored["error"] == {"display_message": f"card {MASK}", "numbers": [MASK]}
