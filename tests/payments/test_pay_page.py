"""The public payment page `/pay/<token>/` and its status page, against the sandbox.

Server side only (the browser tests drive the real card form): the page, its CSP, paying with
PaymentMethod ids, double submits, declines and retries, 3-D Secure returns, closed links,
rate limiting, and that no input ever produces a 500.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments import checkout
from payments.gateways.stripe import resilience
from payments.models import Payment, PaymentLink, ProcessorAccount
from payments.services import merchant_connect_account_ensure
from tests.cache_support import clear_own_cache
from tests.payments.factories import PaymentLinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_own_cache()


@pytest.fixture
def link(merchant, sandbox_control) -> PaymentLink:
    merchant_connect_account_ensure(merchant=merchant)
    return PaymentLinkFactory(merchant=merchant, amount=2500, currency="gbp")


@pytest.fixture
def customer() -> Client:
    # Anonymous, and with CSRF checks on, as a real browser would be.
    return Client(enforce_csrf_checks=True)


def _pay_url(link: PaymentLink) -> str:
    return reverse("pay", kwargs={"token": link.token})


def _form(client: Client, link: PaymentLink) -> dict[str, str]:
    """GET the page and return the hidden fields a browser would post back."""
    response = client.get(_pay_url(link))
    assert response.status_code == 200
    html = response.content.decode()
    attempt = re.search(r'name="attempt" value="([^"]+)"', html)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert attempt
    assert csrf
    return {"attempt": attempt.group(1), "csrfmiddlewaretoken": csrf.group(1)}


def _post(client: Client, link: PaymentLink, fields: dict[str, str], pm: str) -> Any:
    return client.post(_pay_url(link), {**fields, "payment_method": pm})


def _intents(control, link: PaymentLink) -> list[dict[str, Any]]:
    account = ProcessorAccount.objects.get(merchant=link.merchant).processor_account_id
    return control.intents(account=account)


def _authenticate(control, intent_id: str, outcome: str) -> None:
    response = requests.post(
        f"{control.url}/_sandbox/stripe/payment_intents/{intent_id}/authenticate",
        json={"outcome": outcome},
        timeout=5,
    )
    response.raise_for_status()


def _csp(response: Any) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


# --- The page -------------------------------------------------------------------------------


def test_page_shows_merchant_description_amount_and_loads_the_sandbox_card_form(
    customer, link, sandbox
):
    """Given a link and the sandbox as processor, the page names the merchant, the
    description and the formatted amount, and loads the sandbox's Stripe.js with a nonce."""
    response = customer.get(_pay_url(link))
    html = response.content.decode()
    assert response.status_code == 200
    assert link.merchant.legal_name in html
    assert "Annual subscription" in html
    assert "£25.00" in html
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce
    assert f'<script src="{sandbox.url}/v3/" nonce="{nonce.group(1)}">' in html
    assert 'src="/static/payments/pay.js"' in html
    assert "<script>" not in html, "no inline scripts under the strict CSP"
    assert 'style="' not in html, "no inline styles under the strict CSP"
    account = ProcessorAccount.objects.get(merchant=link.merchant)
    assert f'data-processor-account="{account.processor_account_id}"' in html
    assert 'data-publishable-key="pk_test_' in html


def test_page_csp_widens_only_to_the_processor_origin(customer, link, sandbox):
    """script-src, frame-src, connect-src and form-action (3-D Secure redirect) allow the
    sandbox origin; frame-ancestors stays 'none'; other pages keep the strict policy."""
    origin = sandbox.url
    csp = _csp(customer.get(_pay_url(link)))
    assert origin in csp["script-src"]
    assert "'self'" in csp["script-src"]
    assert csp["frame-src"] == ["'self'", origin]
    assert origin in csp["connect-src"]
    assert origin in csp["form-action"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in " ".join(csp["script-src"] + csp.get("style-src", []))
    login = _csp(customer.get(reverse("accounts:login")))
    assert origin not in login["script-src"]
    assert login["frame-src"] == ["'none'"]


def test_without_the_sandbox_the_page_loads_real_stripe_js(customer, link, settings):
    """With STRIPE_API_BASE unset (real Stripe), the same page loads js.stripe.com/v3/ and
    the CSP allows Stripe's origins instead of the sandbox."""
    settings.STRIPE_API_BASE = ""
    response = customer.get(_pay_url(link))
    assert 'src="https://js.stripe.com/v3/"' in response.content.decode()
    csp = _csp(response)
    assert "https://js.stripe.com" in csp["script-src"]
    assert "https://js.stripe.com" in csp["frame-src"]


def test_page_is_public_and_needs_no_login(link):
    """A customer with no session at all gets the page, not the login redirect."""
    response = Client().get(_pay_url(link))
    assert response.status_code == 200


# --- Paying ---------------------------------------------------------------------------------


def test_paying_with_a_card_redirects_to_a_receipt_and_closes_a_single_use_link(
    customer, link, sandbox_control
):
    """Given a single-use link, when the customer pays with a Visa PaymentMethod, then they
    see a receipt with amount, merchant, brand, last 4 and payment id, and the link closes."""
    response = _post(customer, link, _form(customer, link), "pm_card_visa")
    assert response.status_code == 303
    payment = Payment.objects.get(payment_link=link)
    assert response["Location"] == reverse(
        "pay-status", kwargs={"token": link.token, "payment_id": payment.public_id}
    )
    receipt = customer.get(response["Location"])
    html = receipt.content.decode()
    assert receipt.status_code == 200
    assert "Payment successful" in html
    assert "£25.00" in html
    assert link.merchant.legal_name in html
    assert "Visa ending in 4242" in html
    assert payment.public_id in html
    assert payment.status == "succeeded"
    assert payment.amount == 2500
    assert len(_intents(sandbox_control, link)) == 1
    link.refresh_from_db()
    assert link.completed_at is not None
    closed = customer.get(_pay_url(link))
    assert closed.status_code == 410
    assert "already been paid" in closed.content.decode()


def test_a_reusable_link_stays_open_after_a_payment(customer, merchant, sandbox_control):
    merchant_connect_account_ensure(merchant=merchant)
    link = PaymentLinkFactory(merchant=merchant, reusable=True)
    assert _post(customer, link, _form(customer, link), "pm_card_visa").status_code == 303
    assert _post(customer, link, _form(customer, link), "pm_card_visa").status_code == 303
    assert Payment.objects.filter(payment_link=link, status="succeeded").count() == 2
    assert customer.get(_pay_url(link)).status_code == 200


def test_double_submit_of_one_page_load_makes_exactly_one_payment(customer, link, sandbox_control):
    """The same attempt token posted three times (even with a second PaymentMethod from a
    double click) makes one payment and one PaymentIntent; every answer is the receipt."""
    fields = _form(customer, link)
    answers = [
        _post(customer, link, fields, "pm_card_visa"),
        _post(customer, link, fields, "pm_card_visa"),
        _post(customer, link, fields, "pm_card_mastercard"),
    ]
    assert {a.status_code for a in answers} == {303}
    assert len({a["Location"] for a in answers}) == 1
    assert Payment.objects.filter(payment_link=link).count() == 1
    assert len(_intents(sandbox_control, link)) == 1


def test_decline_is_clear_and_retryable_on_the_same_link(customer, link, sandbox_control):
    """Given insufficient funds, the page says so plainly, keeps the link open and offers a
    fresh attempt; paying again with a good card succeeds."""
    fields = _form(customer, link)
    declined = _post(customer, link, fields, "pm_card_chargeDeclinedInsufficientFunds")
    html = declined.content.decode()
    assert declined.status_code == 402
    assert "Your card was declined: insufficient funds. Try another card." in html
    assert 'role="alert"' in html
    new_attempt = re.search(r'name="attempt" value="([^"]+)"', html)
    assert new_attempt
    assert new_attempt.group(1) != fields["attempt"]
    link.refresh_from_db()
    assert link.active
    assert link.completed_at is None
    # A refresh of the declined POST replays the same answer and charges nothing new.
    again = _post(customer, link, fields, "pm_card_chargeDeclinedInsufficientFunds")
    assert again.status_code == 402
    assert Payment.objects.filter(payment_link=link).count() == 1

    retry = _post(customer, link, {**fields, "attempt": new_attempt.group(1)}, "pm_card_visa")
    assert retry.status_code == 303
    assert "Payment successful" in customer.get(retry["Location"]).content.decode()
    statuses = sorted(Payment.objects.filter(payment_link=link).values_list("status", flat=True))
    assert statuses == ["requires_payment_method", "succeeded"]


def test_generic_decline_message(customer, link, sandbox_control):
    declined = _post(customer, link, _form(customer, link), "pm_card_chargeDeclined")
    assert declined.status_code == 402
    assert "Your card was declined. Try another card." in declined.content.decode()


def test_three_d_secure_redirects_to_the_bank_and_returns_to_a_receipt(
    customer, link, sandbox_control
):
    """requires_action sends the customer to the processor's 3-D Secure page with a return
    URL to this link; after approval the return settles the payment and shows the receipt."""
    response = _post(customer, link, _form(customer, link), "pm_card_authenticationRequired")
    assert response.status_code == 303
    action = response["Location"]
    assert action.startswith(f"{sandbox_control.url}/stripe/3ds/")
    payment = Payment.objects.get(payment_link=link)
    assert payment.status == "requires_action"
    intent_id = payment.processor_payment_id
    _authenticate(sandbox_control, intent_id, "approve")

    back = customer.get(f"{_pay_url(link)}?payment_intent={intent_id}&redirect_status=succeeded")
    assert back.status_code == 303
    receipt = customer.get(back["Location"])
    assert receipt.status_code == 200
    assert "Payment successful" in receipt.content.decode()
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_failed_three_d_secure_shows_a_retryable_message(customer, link, sandbox_control):
    response = _post(customer, link, _form(customer, link), "pm_card_authenticationRequired")
    payment = Payment.objects.get(payment_link=link)
    _authenticate(sandbox_control, payment.processor_payment_id, "fail")
    status_url = reverse(
        "pay-status", kwargs={"token": link.token, "payment_id": payment.public_id}
    )
    page = customer.get(status_url)
    assert response.status_code == 303
    assert page.status_code == 402
    assert "We could not authenticate your card" in page.content.decode()
    assert 'name="attempt"' in page.content.decode()
    payment.refresh_from_db()
    assert payment.status == "requires_payment_method"


def test_a_second_tab_cannot_pay_a_single_use_link_while_the_first_authenticates(
    customer, link, sandbox_control
):
    """Two page loads of one single-use link: while the first waits for 3-D Secure, the
    second is refused before any charge."""
    first, second = _form(customer, link), _form(customer, link)
    assert _post(customer, link, first, "pm_card_authenticationRequired").status_code == 303
    refused = _post(customer, link, second, "pm_card_visa")
    assert refused.status_code == 410
    assert Payment.objects.filter(payment_link=link).count() == 1
    assert len(_intents(sandbox_control, link)) == 1


def test_lost_processor_answer_resumes_on_the_next_press_without_charging_twice(
    customer, link, sandbox_control, monkeypatch, django_capture_on_commit_callbacks
):
    """The processor charges but the answer is lost: the page says to press Pay again with
    the same attempt, and doing so ends in one charge and a receipt."""
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    sandbox_control.fault(kind="lose_response", count=1, method="POST", path="/v1/payment_intents")
    fields = _form(customer, link)
    with django_capture_on_commit_callbacks(execute=False):
        first = _post(customer, link, fields, "pm_card_visa")
    assert first.status_code == 503
    assert first["Retry-After"]
    assert f'value="{fields["attempt"]}"' in first.content.decode()
    second = _post(customer, link, fields, "pm_card_visa")
    assert second.status_code == 303
    assert "Payment successful" in customer.get(second["Location"]).content.decode()
    assert Payment.objects.filter(payment_link=link).count() == 1
    account = ProcessorAccount.objects.get(merchant=link.merchant).processor_account_id
    assert len(sandbox_control.charges(account=account)) == 1


# --- Closed links, unknown pages ------------------------------------------------------------


def test_expired_and_deactivated_links_are_gone(customer, link):
    fields = _form(customer, link)
    PaymentLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = customer.get(_pay_url(link))
    assert expired.status_code == 410
    assert "expired" in expired.content.decode()
    PaymentLink.objects.filter(pk=link.pk).update(expires_at=None, active=False)
    inactive = customer.get(_pay_url(link))
    assert inactive.status_code == 410
    assert "no longer available" in inactive.content.decode()
    # A form loaded before the link closed cannot pay either.
    assert _post(customer, link, fields, "pm_card_visa").status_code == 410
    assert not Payment.objects.exists()


def test_merchant_that_cannot_charge_gets_a_clear_page(customer, merchant, sandbox_control):
    link = PaymentLinkFactory(merchant=merchant)
    assert customer.get(_pay_url(link)).status_code == 409
    merchant_connect_account_ensure(merchant=merchant)
    ProcessorAccount.objects.filter(merchant=merchant).update(charges_enabled=False)
    response = customer.get(_pay_url(link))
    assert response.status_code == 409
    assert "cannot accept card payments" in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/pay/does-not-exist-but-looks-fine-0123456789/",
        "/pay/short/",
        "/pay/%00%01/",
        "/pay/" + "a" * 500 + "/",
        "/pay/<script>/",
    ],
)
def test_unknown_tokens_are_404_pages(customer, db, path):
    response = customer.get(path)
    assert response.status_code == 404


def test_status_of_an_unknown_or_foreign_payment_is_404(customer, link, merchant, sandbox_control):
    assert _post(customer, link, _form(customer, link), "pm_card_visa").status_code == 303
    payment = Payment.objects.get(payment_link=link)
    other = PaymentLinkFactory(merchant=merchant, reusable=True)
    for token, payment_id in [
        (link.token, "pay_doesnotexist0000"),
        (link.token, "not-a-payment-id"),
        (other.token, payment.public_id),
        ("x" * 40, payment.public_id),
    ]:
        url = reverse("pay-status", kwargs={"token": token, "payment_id": payment_id})
        assert customer.get(url).status_code == 404


# --- Validation and abuse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "pm",
    [
        "",
        "4242424242424242",
        "4242 4242 4242 4242",
        # The id pattern allows it, but a card number must never reach a payment row.
        "pm_4242424242424242",
        "pm_",
        "pm_../../v1/charges",
        "pm_card_visa\n",
        "tok_visa",
        "pm_" + "a" * 200,
        "pm_x'; DROP TABLE payments_payment; --",
    ],
)
def test_bad_payment_method_ids_are_refused_before_the_processor(customer, link, pm):
    response = _post(customer, link, _form(customer, link), pm)
    assert response.status_code == 400
    assert "Please enter them again" in response.content.decode()
    assert not Payment.objects.filter(payment_link=link).exists()


def test_unknown_payment_method_is_a_clear_failure_not_a_500(customer, link):
    response = _post(customer, link, _form(customer, link), "pm_1DoesNotExistAnywhere")
    assert response.status_code == 402
    assert "Try another card" in response.content.decode()


def test_attempt_tokens_are_signed_fresh_and_bound_to_their_link(
    customer, link, merchant, settings
):
    fields = _form(customer, link)
    other = PaymentLinkFactory(merchant=merchant)
    foreign = checkout.attempt_token_issue(link=other)
    for attempt in ["", "x" * 1000, fields["attempt"] + "0", foreign, "a:b:c"]:
        response = _post(customer, link, {**fields, "attempt": attempt}, "pm_card_visa")
        assert response.status_code == 400, attempt
        assert "expired" in response.content.decode()
    assert not Payment.objects.exists()


def test_expired_attempt_token_is_refused(customer, link, monkeypatch):
    fields = _form(customer, link)
    monkeypatch.setattr(checkout, "ATTEMPT_MAX_AGE", timedelta(seconds=-1))
    assert _post(customer, link, fields, "pm_card_visa").status_code == 400


def test_post_without_csrf_token_is_refused(customer, link):
    fields = _form(customer, link)
    del fields["csrfmiddlewaretoken"]
    assert _post(customer, link, fields, "pm_card_visa").status_code == 403
    assert not Payment.objects.exists()


def test_attempts_are_rate_limited_per_link_and_ip(customer, link, merchant):
    """Card testing: the eleventh attempt within a minute from one IP on one link is 429
    with Retry-After; another link from the same IP is not affected."""
    fields = _form(customer, link)
    for _ in range(checkout.RATE_LIMIT_ATTEMPTS):
        assert _post(customer, link, fields, "not-a-pm").status_code == 400
    limited = _post(customer, link, fields, "pm_card_visa")
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert "Too many payment attempts" in limited.content.decode()
    assert not Payment.objects.exists()
    other = PaymentLinkFactory(merchant=merchant)
    assert _post(customer, other, _form(customer, other), "not-a-pm").status_code == 400
    elsewhere = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9")
    assert _post(elsewhere, link, _form(elsewhere, link), "not-a-pm").status_code == 400


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_405(link, method):
    assert getattr(Client(), method)(_pay_url(link)).status_code == 405


def test_status_page_accepts_only_get(customer, link):
    url = reverse("pay-status", kwargs={"token": link.token, "payment_id": "pay_x"})
    assert Client().post(url).status_code == 405


def test_three_d_secure_return_with_junk_parameters_shows_the_form(customer, link):
    for junk in ["pi_unknown123", "<script>", "pi_" + "9" * 300]:
        response = customer.get(_pay_url(link), {"payment_intent": junk})
        assert response.status_code == 200


def test_return_url_points_back_to_this_link(customer, link, sandbox_control):
    """The processor is told to send the customer back to this link's page."""
    _post(customer, link, _form(customer, link), "pm_card_authenticationRequired")
    intent = _intents(sandbox_control, link)[0]
    state = requests.get(
        f"{sandbox_control.url}/_sandbox/stripe/objects/{intent['id']}", timeout=5
    ).json()
    assert state["sandbox"]["return_url"] == f"http://testserver{_pay_url(link)}"


def _post_from_script(client: Client, link: PaymentLink, fields: dict[str, str], pm: str) -> Any:
    """As static/payments/pay.js posts: the form's fields, asking for JSON."""
    return client.post(
        _pay_url(link), {**fields, "payment_method": pm}, headers={"Accept": "application/json"}
    )


def test_the_page_script_gets_json_a_message_with_a_fresh_attempt_or_where_to_go(
    customer, link, sandbox_control
):
    """A decline is a message and the next attempt's token; a payment is the receipt's URL."""
    fields = _form(customer, link)
    declined = _post_from_script(customer, link, fields, "pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    assert declined["Content-Type"] == "application/json"
    answer = declined.json()
    assert answer["error"] == "Your card was declined: insufficient funds. Try another card."
    assert answer["attempt"]
    assert answer["attempt"] != fields["attempt"]

    paid = _post_from_script(
        customer, link, {**fields, "attempt": answer["attempt"]}, "pm_card_visa"
    )
    assert paid.status_code == 200
    receipt = customer.get(paid.json()["redirect"])
    assert "Payment successful" in receipt.content.decode()


def test_the_page_script_is_sent_back_to_the_page_when_the_link_closed(customer, link):
    fields = _form(customer, link)
    link.active = False
    link.save()
    answer = _post_from_script(customer, link, fields, "pm_card_visa")
    assert answer.json() == {"redirect": _pay_url(link)}
