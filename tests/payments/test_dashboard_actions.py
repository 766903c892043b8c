"""Payment actions from the dashboard against the sandbox: capture (partial), cancel, refund
(step-up, partial, too much), processor outages as messages, and onboarding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from accounts.roles import Role
from compliance.models import AuditEntry
from payments.gateways.stripe import resilience
from payments.models import Payment, ProcessorAccount, Refund
from payments.state import PaymentStatus
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.payments.factories import card_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(merchant, sandbox_control) -> Client:
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


_charge = card_payment


def _messages(response) -> list[str]:
    """Messages shown on the page the action redirected to (which consumes them)."""
    assert response.status_code == 302, response.status_code
    client = response.client
    landed = client.get(response["Location"])
    assert landed.status_code == 200
    return [str(m) for m in landed.context["messages"]]


def _post(client: Client, payment: Payment, name: str, **fields: str):
    """Submit the payment page's form as a person does: with the token the page rendered."""
    action = reverse(name, args=[payment.public_id])
    detail = reverse("payment-detail", args=[payment.public_id])
    return client.post(action, form_fields(client, detail, action, **fields))


def _account(merchant) -> str:
    return ProcessorAccount.objects.get(merchant=merchant).processor_account_id


def _audit(action: str, target: str) -> dict:
    return AuditEntry.objects.get(action=action, target_id=target).payload


def test_partial_capture_reaches_the_processor(merchant, owner, sandbox_control):
    payment = _charge(merchant, capture_method="manual")
    assert payment.status == PaymentStatus.REQUIRES_CAPTURE
    response = _post(owner, payment, "payment-capture", amount="15.00")
    assert response.status_code == 302
    assert _messages(response) == ["Payment captured."]
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.SUCCEEDED, 1500)
    [intent] = sandbox_control.intents(account=_account(merchant))
    assert intent["amount_received"] == 1500
    assert _audit("payment.capture", payment.public_id)["step_up"] is False


def test_capture_amount_above_the_authorisation_is_a_message(merchant, owner):
    payment = _charge(merchant, capture_method="manual")
    response = _post(owner, payment, "payment-capture", amount="25.00")
    assert response.status_code == 302
    assert _messages(response) == ["The capture amount must be positive and at most £20.00."]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_CAPTURE


def test_capture_with_an_unparseable_amount_shows_the_form_error(merchant, owner):
    payment = _charge(merchant, capture_method="manual")
    response = _post(owner, payment, "payment-capture", amount="1,5.0.0")
    assert response.status_code == 400
    assert "Enter an amount such as 12.50." in response.content.decode()


def test_cancel_releases_the_authorisation(merchant, owner, sandbox_control):
    payment = _charge(merchant, capture_method="manual")
    url = reverse("payment-cancel", args=[payment.public_id])
    fields = form_fields(owner, reverse("payment-detail", args=[payment.public_id]), url)
    response = owner.post(url, fields)
    assert _messages(response) == ["Payment canceled."]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    [intent] = sandbox_control.intents(account=_account(merchant))
    assert intent["status"] == "canceled"
    again = owner.post(url, fields)
    assert again.status_code == 302
    assert _messages(again) == ["Payment canceled."]  # the first outcome, replayed
    assert AuditEntry.objects.filter(action="payment.cancel").count() == 1
    forged = owner.post(url, {"submission_token": "forged"})
    assert _messages(forged) == [
        "This form has expired; nothing was changed. Reload the page and try again."
    ]


def test_partial_refunds_then_a_clear_error_when_too_much(merchant, owner):
    payment = _charge(merchant)
    url = reverse("payment-refund", args=[payment.public_id])
    first = _post(owner, payment, "payment-refund", amount="5.00", reason="requested_by_customer")
    assert _messages(first) == ["Refund submitted."]
    too_much = _post(owner, payment, "payment-refund", amount="15.01")
    assert _messages(too_much) == ["The refund of £15.01 is more than the £15.00 left to refund."]
    rest = _post(owner, payment, "payment-refund")
    assert _messages(rest) == ["Refund submitted."]
    payment.refresh_from_db()
    assert payment.amount_refunded == 2000
    assert sorted(Refund.objects.filter(payment=payment).values_list("amount", flat=True)) == [
        500,
        1500,
    ]
    refund = Refund.objects.filter(payment=payment).earliest("created_at")
    assert _audit("refund.create", refund.public_id)["step_up"] is True
    page = owner.get(reverse("payment-detail", args=[payment.public_id])).content.decode()
    assert "Refund succeeded" in page
    assert url not in page  # nothing left to refund: no refund form


def test_refund_needs_a_fresh_one_time_code(merchant, owner):
    payment = _charge(merchant)
    session = owner.session
    stale = timezone.now() - timedelta(minutes=6)
    session[session_security.OTP_VERIFIED_AT] = stale.isoformat()
    session.save()
    detail = reverse("payment-detail", args=[payment.public_id])
    response = owner.post(
        reverse("payment-refund", args=[payment.public_id]),
        {"amount": "5.00"},
        HTTP_REFERER=f"http://testserver{detail}",
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:step_up"))
    assert not Refund.objects.filter(payment=payment).exists()


def test_a_processor_outage_is_a_message_with_when_to_try_again(merchant, owner, sandbox_control):
    payment = _charge(merchant, capture_method="manual")
    resilience.breaker_reset(fail_max=1, reset_timeout=30.0)
    sandbox_control.fault(kind="error_500", count=20)
    lost = _post(owner, payment, "payment-capture")
    assert lost.status_code == 302
    [message] = _messages(lost)
    assert "did not answer in time" in message
    refused = _post(owner, payment, "payment-capture")
    assert refused.status_code == 302
    [message] = _messages(refused)
    assert message.startswith("The payment processor is unavailable right now")
    assert "Try again in " in message
    assert " seconds." in message


def test_onboarding_creates_the_account_and_sends_the_owner_to_the_processor(
    merchant, owner, sandbox, sandbox_control
):
    assert not ProcessorAccount.objects.filter(merchant=merchant).exists()
    home = owner.get(reverse("home")).content.decode()
    assert "Set up card payments" in home
    response = owner.post(reverse("account-onboarding"))
    assert response.status_code == 302
    assert response["Location"].startswith(f"{sandbox.url}/stripe/connect/onboarding/")
    account = ProcessorAccount.objects.get(merchant=merchant)
    assert _audit("merchant.processor_account_create", merchant.public_id)
    ProcessorAccount.objects.filter(pk=account.pk).update(charges_enabled=False)
    back = owner.get(reverse("account-onboarding-return"))
    assert back.status_code == 302
    assert _messages(back) == ["Your processor account can take card payments."]
    assert "Ready" in owner.get(reverse("home")).content.decode()


def test_onboarding_during_an_outage_is_a_message(merchant, owner, sandbox_control):
    sandbox_control.fault(kind="error_500", count=20)
    response = owner.post(reverse("account-onboarding"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert _messages(response)
