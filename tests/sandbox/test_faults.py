"""Processor faults: timeouts, 5xx, 429 and lost responses, as a resilient client sees them."""

from __future__ import annotations

import time
import uuid

import pytest
import stripe

from sandbox.client import ControlAPIError
from tests.sandbox.conftest import CONFIRMED_PI as PI
from tests.sandbox.conftest import SANDBOX_KEY


def client_for(sandbox, *, retries: int = 0, timeout: float = 5) -> stripe.StripeClient:
    return stripe.StripeClient(
        SANDBOX_KEY,
        base_addresses={"api": sandbox.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def test_timeout_fault_has_no_effect(sandbox):
    sandbox.control.add_fault("timeout", path="/v1/payment_intents", seconds=1.5)
    with pytest.raises(stripe.APIConnectionError):
        client_for(sandbox, timeout=0.5).v1.payment_intents.create(params=PI)
    sandbox.sandbox.services.webhooks.wait_idle(2)
    assert sandbox.control.count("charge") == 0


def test_lost_response_charged_once_and_a_retry_with_the_key_recovers_it(sandbox):
    sandbox.control.add_fault("lose_response", path="/v1/payment_intents")
    key = str(uuid.uuid4())
    with pytest.raises(stripe.APIConnectionError):
        client_for(sandbox).v1.payment_intents.create(params=PI, options={"idempotency_key": key})
    assert sandbox.control.count("charge") == 1  # the money moved although the client saw an error
    recovered = client_for(sandbox).v1.payment_intents.create(
        params=PI, options={"idempotency_key": key}
    )
    assert recovered.status == "succeeded"
    assert recovered.last_response.headers["Idempotent-Replayed"] == "true"
    assert sandbox.control.count("charge") == 1


def test_sdk_retries_after_a_lost_response_without_charging_twice(sandbox):
    sandbox.control.add_fault("lose_response", path="/v1/payment_intents")
    pi = client_for(sandbox, retries=2).v1.payment_intents.create(params=PI)
    assert pi.status == "succeeded"
    assert sandbox.control.count("charge") == 1


def test_rate_limit_is_429_and_not_stored(sandbox):
    sandbox.control.add_fault("rate_limit_429", count=2, path="/v1/customers")
    client = client_for(sandbox)
    key = str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError) as caught:
            client.v1.customers.create(params={}, options={"idempotency_key": key})
        assert caught.value.http_status == 429
    assert client.v1.customers.create(params={}, options={"idempotency_key": key}).id.startswith(
        "cus_"
    )


def test_fault_count_is_consumed_then_calls_succeed(sandbox):
    sandbox.control.add_fault("error_500", count=2, method="GET", path="/v1/customers")
    client = client_for(sandbox)
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.list()
    assert client.v1.customers.list().data == []
    assert sandbox.control.request("GET", "faults")["faults"] == []


def test_faults_only_hit_matching_paths(sandbox):
    sandbox.control.add_fault("error_500", path="/v1/refunds")
    assert client_for(sandbox).v1.customers.list().data == []
    assert len(sandbox.control.request("GET", "faults")["faults"]) == 1


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "timeout", "count": 0},
        {"kind": "latency", "seconds": -1},
        {"kind": "error_500", "path": 5},
    ],
)
def test_bad_fault_specs_are_refused(sandbox, spec):
    with pytest.raises(ControlAPIError) as caught:
        sandbox.control.request("POST", "faults", spec)
    assert caught.value.status == 400


def test_500_after_acting_charges_and_the_key_replays_the_500(sandbox):
    """The processor charges, then answers 500 and keeps the 500 under the key (as Stripe
    does): a retry with the key gets the 500 again; only listing shows the charge."""
    sandbox.control.add_fault("error_500_after", path="/v1/payment_intents")
    key = str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            client_for(sandbox).v1.payment_intents.create(
                params=PI, options={"idempotency_key": key}
            )
        assert caught.value.http_status == 500
    assert sandbox.control.count("charge") == 1


def test_timeout_after_acting_charges_and_a_retry_with_the_key_recovers_it(sandbox):
    sandbox.control.add_fault("timeout_after", path="/v1/payment_intents", seconds=1.0)
    key = str(uuid.uuid4())
    with pytest.raises(stripe.APIConnectionError):
        client_for(sandbox, timeout=0.5).v1.payment_intents.create(
            params=PI, options={"idempotency_key": key}
        )
    assert sandbox.control.count("charge") == 1
    time.sleep(0.7)  # the processor holds the key until its slow request ends (409 before)
    recovered = client_for(sandbox).v1.payment_intents.create(
        params=PI, options={"idempotency_key": key}
    )
    assert recovered.status == "succeeded"
    assert sandbox.control.count("charge") == 1
