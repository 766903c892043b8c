"""No retry moves money twice: the processor acts, then its answer is lost (connection cut,
500 kept under the key, read timeout) or our own server fails after it acted; the person or
client retries the same form or request, and the processor shows exactly one action while
Ledgerline ends in the processor's state.

Faults come from the sandbox (`sandbox/faults.py`); every count of actions is asked of the
sandbox itself. Reconciliation callbacks are held back (`execute=False`) where the test is
about what the retry alone achieves, as when no worker is running.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from payments import services, tasks
from payments.exceptions import ProcessorOutcomeUnknownError
from payments.gateways.stripe import resilience
from payments.models import Payment, ProcessorAccount, Refund, RefundStatus
from payments.services import merchant_connect_account_ensure
from payments.services import payments as payment_services
from payments.services import refunds as refund_services
from payments.state import PaymentStatus
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.payments.conftest import api_client_for
from tests.payments.factories import PaymentLinkFactory, card_payment

pytestmark = pytest.mark.django_db

BODY = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}


@pytest.fixture
def one_attempt(monkeypatch) -> None:
    """No retry inside the request: its lost answer reaches the person (as after every retry
    of a longer outage), and only the person's own retry can recover it."""
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)


@pytest.fixture
def owner(merchant, sandbox_control) -> Client:
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


def _account(merchant) -> str:
    return ProcessorAccount.objects.get(merchant=merchant).processor_account_id


_charge = card_payment


def _server_dies_after_the_charge(merchant, monkeypatch) -> Payment:
    """The processor charges, then the process dies before saving the answer."""
    merchant_connect_account_ensure(merchant=merchant)

    def died(**kwargs: Any) -> Payment:
        raise OperationalError("server went away")

    monkeypatch.setattr(payment_services, "payment_apply_processor_state", died)
    with pytest.raises(OperationalError):
        _charge(merchant)
    monkeypatch.undo()
    return Payment.objects.get(merchant=merchant)


def _processor_refunds(control, payment: Payment) -> list[dict[str, Any]]:
    return control.api_get(
        "/v1/refunds",
        account=_account(payment.merchant),
        payment_intent=payment.processor_payment_id,
        limit=100,
    )["data"]


def _processor_intent(control, payment: Payment) -> dict[str, Any]:
    return control.api_get(
        f"/v1/payment_intents/{payment.processor_payment_id}",
        account=_account(payment.merchant),
    )


def _page_messages(client: Client, response) -> list[str]:
    assert response.status_code == 302, response.status_code
    landed = client.get(response["Location"])
    assert landed.status_code == 200
    return [str(m) for m in landed.context["messages"]]


def _fields(client: Client, payment: Payment, name: str, **typed: str) -> tuple[str, dict]:
    action = reverse(name, args=[payment.public_id])
    detail = reverse("payment-detail", args=[payment.public_id])
    return action, form_fields(client, detail, action, **typed)


# --- Dashboard refund -----------------------------------------------------------------------


def test_lost_answer_of_a_dashboard_refund_then_the_same_form_again_refunds_once(
    merchant, owner, sandbox_control, one_attempt, django_capture_on_commit_callbacks
):
    """THE test of issue 14: the processor refunds, its answer is lost (every attempt), the
    page says so; the merchant presses Refund again on the page shown after the error (the
    same form, the same token): one refund at the processor, succeeded in Ledgerline."""
    payment = _charge(merchant)
    action, fields = _fields(owner, payment, "payment-refund", amount="5.00")
    sandbox_control.fault(kind="lose_response", method="POST", path="/v1/refunds")
    with django_capture_on_commit_callbacks(execute=False):  # no worker reconciles meanwhile
        first = owner.post(action, fields)
    [message] = _page_messages(owner, first)
    assert "did not answer in time" in message
    assert len(_processor_refunds(sandbox_control, payment)) == 1  # the money did move
    # The page shown after the error renders the same token: pressing again is a retry.
    _, again = _fields(owner, payment, "payment-refund", amount="5.00")
    assert again["submission_token"] == fields["submission_token"]
    second = owner.post(action, again)
    assert _page_messages(owner, second) == ["Refund submitted."]
    [at_processor] = _processor_refunds(sandbox_control, payment)
    [refund] = Refund.objects.filter(payment=payment)
    assert (refund.status, refund.processor_refund_id) == (
        RefundStatus.SUCCEEDED,
        at_processor["id"],
    )
    payment.refresh_from_db()
    assert payment.amount_refunded == 500


def test_our_500_after_the_processor_refunded_then_the_same_form_refunds_once(
    merchant, owner, sandbox_control, monkeypatch
):
    """The incident itself: the processor refunded, then saving its answer failed in our
    database ("database is locked") and the merchant got a 500. Posting the form again (the
    browser's retry, or the same page) finds the refund at the processor: one refund."""
    payment = _charge(merchant)
    action, fields = _fields(owner, payment, "payment-refund", amount="7.00")
    real_apply = services.refund_apply_processor_state
    failures = iter([OperationalError("database is locked")])

    def locked_once(**kwargs: Any) -> Refund:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_apply(**kwargs)

    monkeypatch.setattr(refund_services, "refund_apply_processor_state", locked_once)
    owner.raise_request_exception = False
    assert owner.post(action, fields).status_code == 500
    assert len(_processor_refunds(sandbox_control, payment)) == 1
    second = owner.post(action, fields)
    assert _page_messages(owner, second) == ["Refund submitted."]
    assert len(_processor_refunds(sandbox_control, payment)) == 1
    [refund] = Refund.objects.filter(payment=payment)
    assert refund.status == RefundStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.amount_refunded == 700


def test_double_click_on_refund_is_one_refund_and_the_second_post_replays_the_first(
    merchant, owner, sandbox_control
):
    payment = _charge(merchant)
    action, fields = _fields(owner, payment, "payment-refund", amount="3.00")
    first = owner.post(action, fields)
    assert _page_messages(owner, first) == ["Refund submitted."]
    second = owner.post(action, fields)
    assert _page_messages(owner, second) == ["Refund submitted."]
    assert len(_processor_refunds(sandbox_control, payment)) == 1
    assert Refund.objects.filter(payment=payment).count() == 1
    # A new rendering of the page is a new form: a second refund is a deliberate one.
    _, fresh = _fields(owner, payment, "payment-refund", amount="3.00")
    assert fresh["submission_token"] != fields["submission_token"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_click_on_refund_makes_one_refund(merchant, sandbox_control):
    """Two posts of one refund form at the same moment, on two connections: one refund at
    the processor; the second post waits for the first and replays its outcome."""
    payment = _charge(merchant)
    user = member(Role.OWNER, merchant).user
    clients = [verified_client(user, merchant=merchant) for _ in range(2)]
    # Both tabs share one session, as two clicks of one browser do.
    clients[1].cookies = clients[0].cookies
    action, fields = _fields(clients[0], payment, "payment-refund", amount="4.00")
    # Slow processor: the two posts overlap.
    sandbox_control.fault(kind="latency", seconds=0.5, method="POST", path="/v1/refunds")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def press(client: Client) -> None:
        try:
            barrier.wait()
            statuses.append(client.post(action, fields).status_code)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=press, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [302, 302]
    assert len(_processor_refunds(sandbox_control, payment)) == 1
    assert Refund.objects.filter(payment=payment).count() == 1


# --- API refund ------------------------------------------------------------------------------


def test_api_refund_answered_500_after_the_processor_refunded_converges_to_one_refund(
    merchant, sandbox_control, django_capture_on_commit_callbacks
):
    """The processor refunds and answers 500 (kept under its key, so resending only repeats
    the 500): the API answers 503; the retry with the same Idempotency-Key finds the refund
    at the processor by its metadata instead of refunding again."""
    payment = _charge(merchant)
    api = api_client_for(merchant)
    url = f"/api/v1/payments/{payment.public_id}/refunds"
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/refunds")
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "processor_outcome_unknown"
    second = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert second.status_code == 201, second.json()
    assert second.json()["status"] == "succeeded"
    assert len(_processor_refunds(sandbox_control, payment)) == 1
    assert Refund.objects.get(payment=payment).status == RefundStatus.SUCCEEDED


def test_reconciliation_finds_a_refund_whose_answer_was_a_500(
    merchant, sandbox_control, django_capture_on_commit_callbacks
):
    payment = _charge(merchant)
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/refunds")
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(ProcessorOutcomeUnknownError),
    ):
        services.refund_create(payment=payment, actor=None, amount=900)
    refund = Refund.objects.get(payment=payment)
    assert refund.status == RefundStatus.PENDING
    assert callbacks, "reconciliation must be scheduled"
    for callback in callbacks:
        callback()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert len(_processor_refunds(sandbox_control, payment)) == 1


def test_a_refund_left_pending_is_read_back_from_the_processor(merchant, sandbox_control):
    """Our row says pending (its webhook never came) while the processor completed it: the
    stuck sweep's reconciliation reads it back and settles it."""
    payment = _charge(merchant)
    refund = services.refund_create(payment=payment, actor=None, amount=400)
    assert refund.status == RefundStatus.SUCCEEDED
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING)
    assert tasks.refund_reconcile(refund.pk) == RefundStatus.SUCCEEDED
    assert len(_processor_refunds(sandbox_control, payment)) == 1


# --- Capture and cancel ----------------------------------------------------------------------


@pytest.mark.usefixtures("one_attempt")
@pytest.mark.parametrize("fault", ["error_500_after", "lose_response"])
def test_dashboard_capture_whose_answer_is_lost_captures_once(
    merchant, owner, sandbox_control, fault, django_capture_on_commit_callbacks
):
    payment = _charge(merchant, capture_method="manual")
    action, fields = _fields(owner, payment, "payment-capture", amount="15.00")
    sandbox_control.fault(kind=fault, method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False):
        first = owner.post(action, fields)
    [message] = _page_messages(owner, first)
    assert "did not answer in time" in message
    second = owner.post(action, fields)
    assert _page_messages(owner, second) == ["Payment captured."]
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.SUCCEEDED, 1500)
    intent = _processor_intent(sandbox_control, payment)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 1500)


def test_api_capture_that_timed_out_after_capturing_converges_on_retry(
    merchant, sandbox_control, one_attempt, django_capture_on_commit_callbacks
):
    payment = _charge(merchant, capture_method="manual")
    api = api_client_for(merchant)
    url = f"/api/v1/payments/{payment.public_id}/capture"
    sandbox_control.fault(kind="timeout_after", seconds=2.0, method="POST", path="/v1/payment_")
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == 503
    second = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert second.status_code == 200, second.json()
    assert second.json()["status"] == "succeeded"
    assert _processor_intent(sandbox_control, payment)["amount_received"] == 2000


def test_dashboard_cancel_answered_500_after_canceling_converges(
    merchant, owner, sandbox_control, one_attempt, django_capture_on_commit_callbacks
):
    payment = _charge(merchant, capture_method="manual")
    action, fields = _fields(owner, payment, "payment-cancel")
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False):
        first = owner.post(action, fields)
    assert "did not answer in time" in _page_messages(owner, first)[0]
    second = owner.post(action, fields)
    assert _page_messages(owner, second) == ["Payment canceled."]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert _processor_intent(sandbox_control, payment)["status"] == "canceled"


def test_an_uncertain_capture_is_reconciled_without_a_retry(
    merchant, sandbox_control, one_attempt, django_capture_on_commit_callbacks
):
    payment = _charge(merchant, capture_method="manual")
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/payment_intents")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ProcessorOutcomeUnknownError),
    ):
        services.payment_capture(payment=payment, actor=None)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.SUCCEEDED, 2000)


# --- Payments: API and pay page --------------------------------------------------------------


def test_api_payment_answered_500_after_charging_converges_to_one_charge(
    merchant, sandbox_control, django_capture_on_commit_callbacks
):
    """Charged, then a 500 kept under the key: a resend would only get the 500 again, so the
    retry with the same Idempotency-Key finds the intent by the payment's metadata."""
    merchant_connect_account_ensure(merchant=merchant)
    api = api_client_for(merchant)
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == 503
    assert Payment.objects.get(merchant=merchant).status == PaymentStatus.PROCESSING
    second = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert second.status_code == 201, second.json()
    assert second.json()["status"] == "succeeded"
    assert len(sandbox_control.charges(account=_account(merchant))) == 1


def test_api_payment_that_timed_out_after_charging_is_reconciled_to_one_charge(
    merchant, sandbox_control, one_attempt, django_capture_on_commit_callbacks
):
    merchant_connect_account_ensure(merchant=merchant)
    api = api_client_for(merchant)
    sandbox_control.fault(
        kind="timeout_after", seconds=2.0, method="POST", path="/v1/payment_intents"
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api.post("/api/v1/payments", BODY, format="json")
    assert first.status_code == 503
    for callback in callbacks:
        callback()
    payment = Payment.objects.get(merchant=merchant)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(sandbox_control.charges(account=_account(merchant))) == 1


def test_pay_page_answered_500_after_charging_gives_a_receipt_and_one_charge(
    merchant, sandbox_control, django_capture_on_commit_callbacks
):
    merchant_connect_account_ensure(merchant=merchant)
    link = PaymentLinkFactory(merchant=merchant, amount=2500, currency="gbp")
    customer = Client()
    url = reverse("pay", kwargs={"token": link.token})
    page = customer.get(url).content.decode()
    attempt = re.search(r'name="attempt" value="([^"]+)"', page)
    assert attempt is not None
    fields = {"attempt": attempt.group(1), "payment_method": "pm_card_visa"}
    sandbox_control.fault(kind="error_500_after", method="POST", path="/v1/payment_intents")
    with django_capture_on_commit_callbacks(execute=False):
        first = customer.post(url, fields)
    assert first.status_code == 503
    second = customer.post(url, fields)
    assert second.status_code == 303
    assert "Payment successful" in customer.get(second["Location"]).content.decode()
    assert len(sandbox_control.charges(account=_account(merchant))) == 1
    assert Payment.objects.get(payment_link=link).status == PaymentStatus.SUCCEEDED


# --- A payment stuck before its answer was saved --------------------------------------------


def test_payment_stuck_in_requires_confirmation_offers_a_check_that_settles_it(
    merchant, owner, sandbox_control, monkeypatch
):
    """The server died between the processor's charge and saving its answer: the payment
    still requires confirmation with no intent id. Its page offers to check with the
    processor, which finds the charge by the payment's metadata: succeeded, one charge."""
    payment = _server_dies_after_the_charge(merchant, monkeypatch)
    assert (payment.status, payment.processor_payment_id) == (
        PaymentStatus.REQUIRES_CONFIRMATION,
        "",
    )
    detail = reverse("payment-detail", args=[payment.public_id])
    check = reverse("payment-check", args=[payment.public_id])
    assert f'action="{check}"' in owner.get(detail).content.decode()
    answer = owner.post(check)
    assert _page_messages(owner, answer) == [
        "Checked with the processor: the payment is Succeeded."
    ]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.processor_payment_id
    assert len(sandbox_control.charges(account=_account(merchant))) == 1
    assert f'action="{check}"' not in owner.get(detail).content.decode()


def test_the_stuck_sweep_settles_a_payment_whose_server_died_after_the_charge(
    merchant, sandbox_control, monkeypatch
):
    """The same stuck payment, left alone: the beat sweep reconciles it by its metadata."""
    _server_dies_after_the_charge(merchant, monkeypatch)
    stale = timezone.now() - tasks.STUCK_AFTER - timedelta(seconds=1)
    Payment.objects.filter(merchant=merchant).update(updated_at=stale)
    assert tasks.payments_reconcile_stuck() == 1
    payment = Payment.objects.get(merchant=merchant)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(sandbox_control.charges(account=_account(merchant))) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_of_the_pay_page_charges_once(merchant, sandbox_control):
    """Two posts of one page load at the same moment (a double click) while the processor is
    slow: one charge; both answers lead to the same payment's receipt."""
    merchant_connect_account_ensure(merchant=merchant)
    link = PaymentLinkFactory(merchant=merchant, amount=1500, currency="gbp")
    url = reverse("pay", kwargs={"token": link.token})
    first = Client()
    attempt = re.search(r'name="attempt" value="([^"]+)"', first.get(url).content.decode())
    assert attempt is not None
    second = Client()
    second.cookies = first.cookies
    sandbox_control.fault(kind="latency", seconds=0.5, method="POST", path="/v1/payment_intents")
    barrier = threading.Barrier(2)
    locations: list[str] = []

    def press(client: Client) -> None:
        try:
            barrier.wait()
            answer = client.post(
                url, {"attempt": attempt.group(1), "payment_method": "pm_card_visa"}
            )
            locations.append(answer.get("Location", str(answer.status_code)))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=press, args=(client,)) for client in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    payment = Payment.objects.get(payment_link=link)
    assert locations == [locations[0]] * 2
    assert payment.public_id in locations[0]
    assert len(sandbox_control.charges(account=_account(merchant))) == 1
