"""Signed webhooks: what the sandbox posts, how it retries, and its fault switches."""

from __future__ import annotations

import itertools
import time

import pytest
import stripe

from tests.sandbox.conftest import CONFIRMED_PI as PI
from tests.sandbox.conftest import WEBHOOK_SECRET, make_client


def settle(handle) -> None:
    assert handle.control.wait_for_webhooks(10)


def test_events_are_signed_so_the_sdk_verifies_them(hooked):
    handle, receiver = hooked
    pi = make_client(handle.url).v1.payment_intents.create(params=PI)
    settle(handle)
    types = []
    for item in receiver.received:
        event = stripe.Webhook.construct_event(
            item.body, item.headers["stripe-signature"], WEBHOOK_SECRET
        )
        types.append(event.type)
    assert types == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    assert receiver.events()[-1]["data"]["object"]["id"] == pi.id


def test_every_active_secret_signs_during_rotation(receiver):
    from sandbox.server import start_in_thread

    with start_in_thread(
        webhook_url=receiver.url, webhook_secrets=["whsec_new", "whsec_old"]
    ) as handle:
        make_client(handle.url).v1.customers.create(params={})
        settle(handle)
    header = receiver.received[0].headers["stripe-signature"]
    assert header.count("v1=") == 2
    for secret in ("whsec_new", "whsec_old"):
        stripe.WebhookSignature.verify_header(receiver.received[0].body.decode(), header, secret)


def test_connected_account_events_name_the_account(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    account = client.v1.accounts.create(params={"type": "express"})
    client.v1.customers.create(params={}, options={"stripe_account": account.id})
    platform_customer = client.v1.customers.create(params={})
    settle(handle)
    by_type = {(e["type"], e["data"]["object"]["id"]): e for e in receiver.events()}
    assert by_type[("account.updated", account.id)]["account"] == account.id
    connected = [
        e for e in receiver.events() if e["type"] == "customer.created" and e.get("account")
    ]
    assert connected[0]["account"] == account.id
    assert "account" not in by_type[("customer.created", platform_customer.id)]


def test_failed_deliveries_are_retried_until_accepted(hooked):
    handle, receiver = hooked
    receiver.statuses[:] = [500, 503]
    make_client(handle.url).v1.customers.create(params={})
    settle(handle)
    assert len(receiver.received) == 3
    outcomes = [d["outcome"] for d in handle.control.deliveries()]
    assert outcomes == ["retrying", "retrying", "delivered"]


def test_retries_stop_after_max_attempts_and_event_stays_undelivered(hooked):
    handle, receiver = hooked
    receiver.statuses[:] = [500] * 10
    client = make_client(handle.url)
    client.v1.customers.create(params={})
    settle(handle)
    assert len(receiver.received) == 4  # max_attempts in the fixture
    failed = client.v1.events.list(params={"delivery_success": False})
    assert [e.type for e in failed.data] == ["customer.created"]
    assert failed.data[0].pending_webhooks == 1
    assert client.v1.events.list(params={"delivery_success": True}).data == []


def test_retry_backoff_grows(hooked):
    handle, receiver = hooked
    receiver.statuses[:] = [500, 500, 500]
    make_client(handle.url).v1.customers.create(params={})
    settle(handle)
    times = [d["at"] for d in handle.control.deliveries()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1] > gaps[0] * 1.5


def test_duplicate_fault_delivers_each_event_n_times(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"duplicate": 3})
    make_client(handle.url).v1.customers.create(params={})
    settle(handle)
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 3
    assert len(set(ids)) == 1


def test_shuffle_fault_reorders_events(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"shuffle": True, "shuffle_window_seconds": 0.5, "seed": 7})
    client = make_client(handle.url)
    created = [client.v1.customers.create(params={}).id for _ in range(8)]
    settle(handle)
    delivered = [e["data"]["object"]["id"] for e in receiver.events()]
    assert sorted(delivered) == sorted(created)
    assert delivered != created


def test_delay_fault_holds_events_back(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"delay_seconds": 0.5})
    started = time.monotonic()
    make_client(handle.url).v1.customers.create(params={})
    time.sleep(0.2)
    assert receiver.received == []
    settle(handle)
    assert time.monotonic() - started >= 0.5
    assert len(receiver.received) == 1


def test_drop_fault_loses_events_which_stay_pending(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"drop_fraction": 1.0})
    client = make_client(handle.url)
    client.v1.customers.create(params={})
    settle(handle)
    assert receiver.received == []
    assert client.v1.events.list(params={"delivery_success": False}).data[0].pending_webhooks == 1


def test_stale_timestamp_fault_fails_verification(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"stale_timestamp": True})
    make_client(handle.url).v1.customers.create(params={})
    settle(handle)
    item = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(item.body, item.headers["stripe-signature"], WEBHOOK_SECRET)
    stripe.Webhook.construct_event(
        item.body, item.headers["stripe-signature"], WEBHOOK_SECRET, tolerance=4000
    )


def test_wrong_secret_fault_fails_verification(hooked):
    handle, receiver = hooked
    handle.control.webhooks(faults={"wrong_secret": True})
    make_client(handle.url).v1.customers.create(params={})
    settle(handle)
    item = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(item.body, item.headers["stripe-signature"], WEBHOOK_SECRET)


def test_resend_delivers_an_event_again(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    client.v1.customers.create(params={})
    settle(handle)
    event_id = receiver.events()[0]["id"]
    handle.control.stripe_action("events", event_id, "resend")
    settle(handle)
    assert [e["id"] for e in receiver.events()] == [event_id, event_id]


def test_dispute_helper_sends_charge_dispute_created(hooked):
    handle, receiver = hooked
    pi = make_client(handle.url).v1.payment_intents.create(params=PI)
    handle.control.stripe_action(
        "charges", str(pi.latest_charge), "dispute", {"reason": "product_not_received"}
    )
    settle(handle)
    dispute = next(e for e in receiver.events() if e["type"] == "charge.dispute.created")
    assert dispute["data"]["object"]["reason"] == "product_not_received"


def test_refund_sends_charge_refunded_with_previous_attributes(hooked):
    handle, receiver = hooked
    client = make_client(handle.url)
    pi = client.v1.payment_intents.create(params=PI)
    client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 400})
    settle(handle)
    refunded = next(e for e in receiver.events() if e["type"] == "charge.refunded")
    assert refunded["data"]["object"]["amount_refunded"] == 400
    assert refunded["data"]["previous_attributes"]["amount_refunded"] == 0


def test_events_older_than_30_days_are_gone(sandbox):
    client = make_client(sandbox.url)
    client.v1.customers.create(params={})
    event_id = client.v1.events.list().data[0].id
    sandbox.control.advance_clock(31 * 24 * 3600)
    assert client.v1.events.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event_id)


def test_webhook_endpoint_can_be_set_at_runtime(sandbox, receiver):
    sandbox.control.set_stripe_webhook(receiver.url, ["whsec_runtime"])
    make_client(sandbox.url).v1.customers.create(params={})
    settle(sandbox)
    item = receiver.received[0]
    stripe.Webhook.construct_event(item.body, item.headers["stripe-signature"], "whsec_runtime")


def test_the_events_a_call_causes_leave_only_after_its_answer(receiver):
    """Given a sandbox slow to finish answering, when a call causes events, then each event is
    delivered after the caller has the answer (as Stripe does): a receiver whose own call
    still waits inside a database transaction never gets the event that call caused."""
    import threading

    from sandbox.server import Sandbox
    from sandbox.wire import SandboxHTTPServer

    sandbox = Sandbox(stripe_webhook_url=receiver.url, stripe_webhook_secrets=[WEBHOOK_SECRET])

    answering: list[float] = []

    def slow_to_answer(request):
        response = sandbox(request)
        time.sleep(0.5)  # the events exist from here on; the answer is not written yet
        answering.append(time.monotonic())  # the server writes the answer next
        return response

    server = SandboxHTTPServer(("127.0.0.1", 0), slow_to_answer)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        make_client(f"http://127.0.0.1:{server.server_address[1]}").v1.payment_intents.create(
            params=PI
        )
        assert sandbox.services.webhooks.wait_idle(10)
        arrivals = [item.at for item in receiver.received]
    finally:
        server.shutdown()
        server.server_close()
        sandbox.close()
    assert len(arrivals) == 3
    assert all(at >= answering[-1] for at in arrivals)
