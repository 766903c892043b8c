"""Contract suite: the official SDK against the sandbox, checking every response it accepts.

Each scenario runs against the sandbox, and again against Stripe test mode when
STRIPE_LIVE_CONTRACT=1 and STRIPE_SECRET_KEY is a real test key (the `target` fixture).
Every object the SDK returns is checked against the SDK's own typed resource classes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import stripe

from tests.sandbox.conformance import assert_conforms
from tests.sandbox.conftest import live_key

RETURN_URL = "https://merchant.example/return"


def pay(
    client: stripe.StripeClient, pm: str = "pm_card_visa", **params: Any
) -> stripe.PaymentIntent:
    body = {"amount": 2000, "currency": "usd", "payment_method": pm, "confirm": True, **params}
    body.setdefault("automatic_payment_methods", {"enabled": True, "allow_redirects": "never"})
    if "return_url" in params:
        body.pop("automatic_payment_methods")
    return client.v1.payment_intents.create(params=body)


def card_error(client: stripe.StripeClient, pm: str, **params: Any) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as caught:
        pay(client, pm, **params)
    error = caught.value
    assert error.http_status == 402
    assert_conforms(error.json_body["error"], stripe.ErrorObject)
    return error


def charge_of(client: stripe.StripeClient, pi: stripe.PaymentIntent) -> stripe.Charge:
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    assert_conforms(charge)
    return charge


# --- customers -------------------------------------------------------------------------------
def test_customer_create_echoes_fields(client):
    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"order": "42"}}
    )
    assert_conforms(customer)
    assert (customer.email, customer.name, customer.metadata["order"]) == (
        "ada@example.com",
        "Ada",
        "42",
    )
    assert customer.id.startswith("cus_")


def test_customer_retrieve_returns_same_customer(client):
    created = client.v1.customers.create(params={"email": "b@example.com"})
    fetched = client.v1.customers.retrieve(created.id)
    assert_conforms(fetched)
    assert fetched.id == created.id
    assert fetched.email == "b@example.com"


def test_customer_update_merges_metadata_and_deletes_empty_keys(client):
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = client.v1.customers.update(
        customer.id, params={"name": "New", "metadata": {"a": "", "c": "3"}}
    )
    assert_conforms(updated)
    assert updated.name == "New"
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}


def test_customer_delete_leaves_a_deleted_tombstone(client):
    customer = client.v1.customers.create(params={"email": "gone@example.com"})
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).deleted is True


def test_customer_list_pages_with_starting_after(client):
    tag = uuid.uuid4().hex
    ids = [
        client.v1.customers.create(params={"email": f"{tag}-{i}@example.com"}).id for i in range(3)
    ]
    first = client.v1.customers.list(params={"limit": 2})
    assert_conforms(first, stripe.Customer)
    assert first.has_more is True
    assert len(first.data) == 2
    assert [c.id for c in first.data] == ids[::-1][:2]  # newest first
    second = client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert second.data[0].id == ids[0]


def test_customer_list_pages_backwards_with_ending_before(client):
    ids = [client.v1.customers.create(params={}).id for _ in range(3)]
    page = client.v1.customers.list(params={"limit": 1, "ending_before": ids[0]})
    assert [c.id for c in page.data] == [ids[1]]
    assert page.has_more is True


def test_customer_list_filters_by_email(client):
    email = f"{uuid.uuid4().hex}@example.com"
    wanted = client.v1.customers.create(params={"email": email})
    client.v1.customers.create(params={"email": "other@example.com"})
    found = client.v1.customers.list(params={"email": email})
    assert [c.id for c in found.data] == [wanted.id]


# --- payment methods -------------------------------------------------------------------------
def test_payment_method_from_token_has_card_details_only(client):
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    assert_conforms(pm)
    assert (pm.card.brand, pm.card.last4, pm.type) == ("visa", "4242", "card")
    assert "number" not in pm.card


def test_payment_method_attach_and_list_for_customer(client):
    customer = client.v1.customers.create(params={})
    pm = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    assert_conforms(pm)
    assert pm.customer == customer.id
    assert pm.card.brand == "mastercard"
    listed = client.v1.customers.payment_methods.list(customer.id, params={"type": "card"})
    assert_conforms(listed, stripe.PaymentMethod)
    assert [p.id for p in listed.data] == [pm.id]


def test_payment_method_detach_clears_customer(client):
    customer = client.v1.customers.create(params={})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    detached = client.v1.payment_methods.detach(pm.id)
    assert_conforms(detached)
    assert detached.customer is None


def test_payment_method_update_sets_billing_details(client):
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    updated = client.v1.payment_methods.update(
        pm.id, params={"billing_details": {"name": "Ada L", "address": {"postal_code": "10115"}}}
    )
    assert_conforms(updated)
    assert updated.billing_details.name == "Ada L"
    assert updated.billing_details.address.postal_code == "10115"


def test_default_payment_method_on_customer(client):
    customer = client.v1.customers.create(params={})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    assert updated.invoice_settings.default_payment_method == pm.id


# --- payment intents -------------------------------------------------------------------------
def test_intent_without_payment_method_requires_one(client):
    pi = client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "payment_method_types": ["card"]}
    )
    assert_conforms(pi)
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(pi.id + "_secret_")


def test_intent_with_payment_method_then_confirm_succeeds(client):
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
        }
    )
    assert pi.status == "requires_confirmation"
    confirmed = client.v1.payment_intents.confirm(pi.id)
    assert_conforms(confirmed)
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1500


def test_automatic_capture_charge_is_captured_with_balance_transaction(client):
    pi = pay(client)
    assert_conforms(pi)
    charge = charge_of(client, pi)
    assert charge.captured is True
    assert charge.paid is True
    assert charge.amount_captured == 2000
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.balance_transaction


def test_manual_capture_full(client):
    pi = pay(client, capture_method="manual")
    assert pi.status == "requires_capture"
    assert pi.amount_capturable == 2000
    assert charge_of(client, pi).captured is False
    captured = client.v1.payment_intents.capture(pi.id)
    assert_conforms(captured)
    assert captured.status == "succeeded"
    assert captured.amount_received == 2000


def test_manual_capture_partial_releases_the_rest(client):
    pi = pay(client, capture_method="manual")
    captured = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 1200})
    assert captured.amount_received == 1200
    assert captured.amount_capturable == 0
    charge = charge_of(client, captured)
    assert charge.amount_captured == 1200
    assert charge.amount_refunded == 800


def test_capture_more_than_capturable_is_refused(client):
    pi = pay(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 2001})
    assert caught.value.http_status == 400
    assert caught.value.param == "amount_to_capture"


def test_cancel_unconfirmed_intent(client):
    pi = client.v1.payment_intents.create(
        params={"amount": 900, "currency": "eur", "payment_method_types": ["card"]}
    )
    canceled = client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    assert_conforms(canceled)
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"


def test_cancel_authorized_intent_releases_the_charge(client):
    pi = pay(client, capture_method="manual")
    canceled = client.v1.payment_intents.cancel(pi.id)
    assert canceled.status == "canceled"
    assert charge_of(client, canceled).refunded is True


def test_cancel_succeeded_intent_is_unexpected_state(client):
    pi = pay(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.cancel(pi.id)
    assert caught.value.code == "payment_intent_unexpected_state"


def test_declined_card_is_a_card_error_with_the_intent(client):
    error = card_error(client, "pm_card_chargeDeclined")
    assert error.code == "card_declined"
    assert error.error.decline_code == "generic_decline"
    intent = error.error.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "card_declined"


def test_insufficient_funds_decline_code(client):
    error = card_error(client, "pm_card_chargeDeclinedInsufficientFunds")
    assert error.error.decline_code == "insufficient_funds"


def test_declined_attempt_leaves_a_failed_charge(client):
    error = card_error(client, "pm_card_chargeDeclined")
    charge = client.v1.charges.retrieve(error.error.payment_intent.latest_charge)
    assert_conforms(charge)
    assert charge.status == "failed"
    assert charge.paid is False
    assert charge.failure_code == "card_declined"


def test_three_d_secure_requires_action_with_redirect(client):
    pi = pay(client, "pm_card_authenticationRequired", return_url=RETURN_URL)
    assert_conforms(pi)
    assert pi.status == "requires_action"
    assert pi.next_action.type == "redirect_to_url"
    assert pi.next_action.redirect_to_url.return_url == RETURN_URL
    assert pi.next_action.redirect_to_url.url.startswith("http")


def test_three_d_secure_off_session_is_declined_authentication_required(client):
    error = card_error(client, "pm_card_authenticationRequired", off_session=True)
    assert error.code == "authentication_required"


@pytest.mark.sandbox_only
def test_three_d_secure_approved_succeeds(client, sandbox):
    pi = pay(client, "pm_card_authenticationRequired", return_url=RETURN_URL)
    sandbox.control.stripe_action("payment_intents", pi.id, "authenticate", {"outcome": "approve"})
    done = client.v1.payment_intents.retrieve(pi.id)
    assert_conforms(done)
    assert done.status == "succeeded"
    assert done.next_action is None


@pytest.mark.sandbox_only
def test_three_d_secure_failed_needs_new_payment_method(client, sandbox):
    pi = pay(client, "pm_card_authenticationRequired", return_url=RETURN_URL)
    sandbox.control.stripe_action("payment_intents", pi.id, "authenticate", {"outcome": "fail"})
    done = client.v1.payment_intents.retrieve(pi.id)
    assert_conforms(done)
    assert done.status == "requires_payment_method"
    assert done.last_payment_error.code == "payment_intent_authentication_failure"


@pytest.mark.sandbox_only
def test_processing_then_settled(client, sandbox):
    pi = pay(client, "pm_card_sandbox_processing")
    assert pi.status == "processing"
    sandbox.control.stripe_action("payment_intents", pi.id, "settle", {"outcome": "succeeded"})
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_update_intent_amount_and_metadata(client):
    pi = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
    )
    updated = client.v1.payment_intents.update(
        pi.id, params={"amount": 1700, "metadata": {"row": "9"}}
    )
    assert_conforms(updated)
    assert updated.amount == 1700
    assert updated.metadata["row"] == "9"


def test_list_intents_by_customer(client):
    customer = client.v1.customers.create(params={})
    mine = pay(client, customer=customer.id)
    pay(client)
    listed = client.v1.payment_intents.list(params={"customer": customer.id})
    assert_conforms(listed, stripe.PaymentIntent)
    assert [p.id for p in listed.data] == [mine.id]


def test_retrieve_intent_with_expanded_charge_and_payment_method(client):
    pi = pay(client)
    fetched = client.v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge", "payment_method"]}
    )
    assert_conforms(fetched)
    assert fetched.latest_charge.object == "charge"
    assert fetched.payment_method.card.last4 == "4242"


def test_expanding_an_unknown_field_is_refused(client):
    pi = pay(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(pi.id, params={"expand": ["no_such_field"]})


# --- charges, refunds, disputes, balance -----------------------------------------------------
def test_list_charges_by_payment_intent(client):
    pi = pay(client)
    listed = client.v1.charges.list(params={"payment_intent": pi.id})
    assert_conforms(listed, stripe.Charge)
    assert [c.id for c in listed.data] == [pi.latest_charge]


def test_update_charge_metadata(client):
    pi = pay(client)
    charge = client.v1.charges.update(str(pi.latest_charge), params={"metadata": {"k": "v"}})
    assert_conforms(charge)
    assert charge.metadata["k"] == "v"


def test_full_refund_marks_charge_refunded(client):
    pi = pay(client)
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert_conforms(refund)
    assert refund.amount == 2000
    assert refund.status == "succeeded"
    assert charge_of(client, pi).refunded is True


def test_repeated_partial_refunds_never_exceed_captured(client):
    pi = pay(client)
    for amount in (500, 700):
        client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": amount})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": 801})
    assert caught.value.code == "amount_too_large"
    client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": 800})
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": 1})
    assert again.value.code == "charge_already_refunded"


def test_refund_retrieve_and_list_by_charge(client):
    pi = pay(client)
    refund = client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": 300})
    assert client.v1.refunds.retrieve(refund.id).amount == 300
    listed = client.v1.refunds.list(params={"charge": str(pi.latest_charge)})
    assert_conforms(listed, stripe.Refund)
    assert [r.id for r in listed.data] == [refund.id]


def _wait_for_dispute(client: stripe.StripeClient, pi: stripe.PaymentIntent) -> stripe.Charge:
    deadline = time.monotonic() + 60
    while True:  # Stripe opens the dispute asynchronously; the sandbox at once
        charge = charge_of(client, pi)
        if charge.disputed or time.monotonic() > deadline:
            return charge
        time.sleep(2)


def test_dispute_card_opens_a_dispute(client):
    pi = pay(client, "pm_card_createDispute")
    charge = _wait_for_dispute(client, pi)
    assert charge.disputed is True
    disputes = client.v1.disputes.list(params={"charge": charge.id})
    assert_conforms(disputes, stripe.Dispute)
    assert disputes.data[0].status == "needs_response"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": charge.id})
    assert caught.value.code == "charge_disputed"


def test_dispute_evidence_update_and_close(client):
    pi = pay(client, "pm_card_createDispute")
    dispute = client.v1.disputes.list(
        params={"charge": str(_wait_for_dispute(client, pi).id)}
    ).data[0]
    updated = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "shipped"}}
    )
    assert_conforms(updated)
    assert updated.evidence.uncategorized_text == "shipped"
    closed = client.v1.disputes.close(dispute.id)
    assert_conforms(closed)
    assert closed.status == "lost"


def test_balance_transaction_amounts_are_integers_that_add_up(client):
    pi = pay(client)
    txn = client.v1.balance_transactions.retrieve(str(charge_of(client, pi).balance_transaction))
    assert_conforms(txn)
    assert txn.amount == 2000
    assert isinstance(txn.fee, int)
    assert txn.net == txn.amount - txn.fee


def test_balance_transactions_list(client):
    pay(client)
    listed = client.v1.balance_transactions.list(params={"limit": 5})
    assert_conforms(listed, stripe.BalanceTransaction)
    assert listed.data


# --- events ----------------------------------------------------------------------------------
def test_events_list_filtered_by_type_and_created(client):
    since = int(time.time()) - 5
    pi = pay(client)
    events = client.v1.events.list(
        params={"type": "payment_intent.succeeded", "created": {"gte": since}}
    )
    assert_conforms(events, stripe.Event)
    assert pi.id in [e.data.object["id"] for e in events.data]
    assert all(e.type == "payment_intent.succeeded" for e in events.data)


def test_event_retrieve(client):
    pay(client)
    latest = client.v1.events.list(params={"limit": 1}).data[0]
    event = client.v1.events.retrieve(latest.id)
    assert_conforms(event)
    assert event.id == latest.id


# --- connect ---------------------------------------------------------------------------------
def test_connected_account_is_created_ready_to_charge(client):
    account = client.v1.accounts.create(
        params={"type": "express", "country": "US", "email": "m@example.com"}
    )
    assert_conforms(account)
    if account.charges_enabled is False:
        pytest.skip("Stripe test mode needs onboarding before charges; the sandbox does not")
    assert account.payouts_enabled is True
    assert account.details_submitted is True


@pytest.mark.sandbox_only
def test_objects_are_scoped_to_their_connected_account(client):
    account = client.v1.accounts.create(params={"type": "express"})
    on_account = {"stripe_account": account.id}
    params = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    pi = client.v1.payment_intents.create(
        params={**params, "payment_method_types": ["card"]}, options=on_account
    )
    assert client.v1.payment_intents.retrieve(pi.id, options=on_account).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.retrieve(pi.id)
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


def test_account_link_has_an_onboarding_url(client):
    account = client.v1.accounts.create(params={"type": "express"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": RETURN_URL,
            "return_url": RETURN_URL,
        }
    )
    assert_conforms(link)
    assert link.url.startswith("http")
    assert link.expires_at > link.created


def test_retrieve_own_account(client):
    account = client.v1.accounts.retrieve_current()
    assert_conforms(account)
    assert account.id.startswith("acct_")


# --- errors and idempotency ------------------------------------------------------------------
def test_invalid_key_is_an_authentication_error(client, target, request):
    base = (
        {}
        if target == "live"
        else {"base_addresses": {"api": request.getfixturevalue("sandbox").url}}
    )
    bad = stripe.StripeClient("sk_test_" + "x" * 3 + "!", **base)
    with pytest.raises(stripe.AuthenticationError) as caught:
        bad.v1.customers.list()
    assert caught.value.http_status == 401
    assert caught.value.request_id


def test_unknown_parameter_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.create(params={"emale": "typo@example.com"})
    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == "emale"


def test_missing_required_parameter(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params={"currency": "usd"})
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "amount"


def test_missing_object_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


def test_idempotent_retry_replays_the_first_response(client):
    key = str(uuid.uuid4())
    params = {"email": "idem@example.com"}
    first = client.v1.customers.create(params=params, options={"idempotency_key": key})
    again = client.v1.customers.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"


def test_idempotency_key_reused_with_other_parameters(client):
    key = str(uuid.uuid4())
    client.v1.customers.create(
        params={"email": "one@example.com"}, options={"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create(
            params={"email": "two@example.com"}, options={"idempotency_key": key}
        )
    assert caught.value.http_status == 400


def test_every_response_has_a_request_id(client):
    customer = client.v1.customers.create(params={})
    assert customer.last_response.request_id.startswith("req_")


@pytest.mark.skipif(
    live_key() is None,
    reason="live contract off: set STRIPE_LIVE_CONTRACT=1 and a real sk_test_ STRIPE_SECRET_KEY",
)
def test_live_key_reaches_stripe_test_mode():
    """With the live contract on, the key must work, or every live scenario would fail alike."""
    account = stripe.StripeClient(str(live_key())).v1.accounts.retrieve_current()
    assert_conforms(account)
