"""Idempotent requests behave as Stripe documents them."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import stripe

from tests.sandbox.conftest import make_client


def no_retry(sandbox) -> stripe.StripeClient:
    return make_client(sandbox.url, max_network_retries=0)


def test_replay_returns_the_same_body_and_marks_it(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    params = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "payment_method_types": ["card"],
    }
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    again = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert again.last_response.body == first.last_response.body
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    assert sandbox.control.count("charge") == 1


def test_a_stored_card_decline_is_replayed_without_a_second_attempt(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    params = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
        "payment_method_types": ["card"],
    }
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert sandbox.control.count("charge") == 1


def test_validation_errors_are_not_stored(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"bogus": "1"}, options={"idempotency_key": key})
    customer = client.v1.customers.create(
        params={"email": "ok@example.com"}, options={"idempotency_key": key}
    )
    assert customer.email == "ok@example.com"


def test_same_key_on_another_endpoint_is_an_idempotency_error(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    client.v1.customers.create(params={}, options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd"}, options={"idempotency_key": key}
        )
    assert "same endpoint" in caught.value.user_message


def test_server_error_is_stored_and_replayed(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    sandbox.control.add_fault("error_500", path="/v1/customers")
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            client.v1.customers.create(
                params={"email": "x@example.com"}, options={"idempotency_key": key}
            )
        assert caught.value.http_status == 500
    assert sandbox.control.count("customer") == 0


def test_key_in_flight_answers_409(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    sandbox.control.add_fault("latency", path="/v1/customers", seconds=1.0)
    first: dict[str, object] = {}

    def slow() -> None:
        first["customer"] = client.v1.customers.create(params={}, options={"idempotency_key": key})

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        for _ in range(100):  # until the slow request holds the key
            if len(sandbox.sandbox.stripe.idempotency):
                break
            time.sleep(0.01)
        with pytest.raises(stripe.APIError) as caught:
            client.v1.customers.create(params={}, options={"idempotency_key": key})
        assert caught.value.http_status == 409
        assert caught.value.json_body["error"]["code"] == "idempotency_key_in_use"
    finally:
        thread.join()
    assert first["customer"]


def test_sdk_retries_a_409_until_the_first_request_finishes(sandbox):
    """The SDK retries 409s by itself; with the same key it then receives the stored result."""
    client = make_client(sandbox.url, max_network_retries=3)
    key = str(uuid.uuid4())
    sandbox.control.add_fault("latency", path="/v1/customers", seconds=0.6)
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                client.v1.customers.create(params={}, options={"idempotency_key": key}).id
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert sandbox.control.count("customer") == 1


def test_keys_are_scoped_per_account(sandbox):
    client = no_retry(sandbox)
    account = client.v1.accounts.create(params={"type": "express"})
    key = str(uuid.uuid4())
    platform_customer = client.v1.customers.create(
        params={"email": "p@example.com"}, options={"idempotency_key": key}
    )
    connected_customer = client.v1.customers.create(
        params={"email": "c@example.com"},
        options={"idempotency_key": key, "stripe_account": account.id},
    )
    assert platform_customer.id != connected_customer.id


def test_keys_expire_after_24_hours(sandbox):
    client = no_retry(sandbox)
    key = str(uuid.uuid4())
    first = client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": key}
    )
    sandbox.control.advance_clock(23 * 3600)
    assert (
        client.v1.customers.create(
            params={"email": "a@example.com"}, options={"idempotency_key": key}
        ).id
        == first.id
    )
    sandbox.control.advance_clock(3600)
    fresh = client.v1.customers.create(
        params={"email": "b@example.com"}, options={"idempotency_key": key}
    )
    assert fresh.id != first.id


def test_overlong_key_is_refused(sandbox):
    with pytest.raises(stripe.InvalidRequestError):
        no_retry(sandbox).v1.customers.create(params={}, options={"idempotency_key": "k" * 256})
