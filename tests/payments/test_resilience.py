"""Processor faults: lost answers end in one charge after reconciliation; outages open the
breaker (fast 503 with Retry-After) and a half-open probe closes it again."""

from __future__ import annotations

import time

import pytest
import stripe

from payments.exceptions import (
    CardDeclinedError,
    ProcessorOutcomeUnknownError,
    ProcessorUnavailableError,
)
from payments.gateways.stripe import resilience
from payments.models import Payment, ProcessorAccount

pytestmark = pytest.mark.django_db
BODY = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}


def _charges(control, merchant) -> int:
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    return len(control.charges(account=account))


def test_lost_answer_after_the_charge_ends_in_exactly_one_charge_after_reconciliation(
    api, merchant, sandbox_control, django_capture_on_commit_callbacks, monkeypatch
):
    """Given the processor charges and the answer is lost with no retry left, when the API
    is called, then it answers 503 outcome-unknown, the payment is processing, and the
    scheduled reconciliation settles it as succeeded with one charge."""
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    sandbox_control.fault(kind="lose_response", count=1, method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post("/api/v1/payments", BODY, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "processor_outcome_unknown"
    assert int(response["Retry-After"]) >= 1
    payment = Payment.objects.get(merchant=merchant)
    assert payment.status == "processing"
    assert callbacks, "reconciliation must be scheduled"
    for callback in callbacks:
        callback()
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.amount_captured == 2000
    assert _charges(sandbox_control, merchant) == 1


def test_a_retry_with_the_same_key_after_an_unknown_outcome_resumes_without_recharging(
    api, merchant, sandbox_control, monkeypatch
):
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    sandbox_control.fault(kind="lose_response", count=1, method="POST", path="/v1/payment_intents")
    first = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-unknown")
    assert first.status_code == 503
    second = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-unknown")
    assert second.status_code == 201, second.json()
    assert second.json()["status"] == "succeeded"
    assert Payment.objects.filter(merchant=merchant).count() == 1
    assert _charges(sandbox_control, merchant) == 1


def test_a_single_lost_answer_is_absorbed_by_the_retry(api, merchant, sandbox_control):
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    sandbox_control.fault(kind="lose_response", count=1, method="POST", path="/v1/payment_intents")
    response = api.post("/api/v1/payments", BODY, format="json")
    assert response.status_code == 201
    assert _charges(sandbox_control, merchant) == 1


def test_timeouts_that_never_reached_the_processor_are_retried(
    api, merchant, sandbox_control, monkeypatch
):
    """A read timeout is retried with the same key; while the processor still holds the key
    (409 in progress) the backoff waits, then the retry goes through: one charge."""
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    monkeypatch.setattr(resilience, "BACKOFF_INITIAL_SECONDS", 0.3)
    monkeypatch.setattr(resilience, "BACKOFF_MAX_SECONDS", 1.0)
    sandbox_control.fault(
        kind="timeout", count=1, seconds=1.6, method="POST", path="/v1/payment_intents"
    )
    response = api.post("/api/v1/payments", BODY, format="json")
    assert response.status_code == 201, response.json()
    assert _charges(sandbox_control, merchant) == 1


def test_outage_opens_the_breaker_then_a_half_open_probe_recovers(api, merchant, sandbox_control):
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    resilience.breaker_reset(fail_max=3, reset_timeout=1.0)
    sandbox_control.fault(kind="error_500", count=50)
    first = api.post("/api/v1/payments", BODY, format="json")
    assert first.status_code == 503
    assert resilience.breaker().current_state == "open"

    started = time.monotonic()
    fast = api.post("/api/v1/payments", BODY, format="json")
    elapsed = time.monotonic() - started
    assert fast.status_code == 503
    assert fast.json()["error"]["code"] == "processor_unavailable"
    assert 1 <= int(fast["Retry-After"]) <= 1
    assert elapsed < 0.5

    sandbox_control.clear_faults()
    time.sleep(1.1)
    recovered = api.post("/api/v1/payments", BODY, format="json")
    assert recovered.status_code == 201, recovered.json()
    assert resilience.breaker().current_state == "closed"


def test_declines_never_open_the_breaker(api, merchant, sandbox_control):
    resilience.breaker_reset(fail_max=2, reset_timeout=30)
    for _ in range(4):
        response = api.post(
            "/api/v1/payments",
            {**BODY, "payment_method": "pm_card_chargeDeclined"},
            format="json",
        )
        assert response.status_code == 402
    assert resilience.breaker().current_state == "closed"


def test_translation_of_sdk_errors():
    """Retryable outage errors on a mutating call are 'unknown', on a read 'unavailable'."""
    connection_error = stripe.APIConnectionError("boom")
    assert isinstance(
        resilience.translate(connection_error, mutating=True), ProcessorOutcomeUnknownError
    )
    assert isinstance(
        resilience.translate(connection_error, mutating=False), ProcessorUnavailableError
    )
    card = stripe.CardError(
        "Declined",
        None,
        "card_declined",
        http_status=402,
        json_body={
            "error": {
                "code": "card_declined",
                "decline_code": "stolen_card",
                "payment_intent": {"id": "pi_1"},
            }
        },
    )
    translated = resilience.translate(card, mutating=True)
    assert isinstance(translated, CardDeclinedError)
    assert translated.decline_code == "stolen_card"
    assert translated.processor_object_id == "pi_1"
    assert resilience.is_retryable(stripe.RateLimitError("slow", http_status=429))
    assert not resilience.is_outage(stripe.RateLimitError("slow", http_status=429))
    assert not resilience.is_retryable(card)
