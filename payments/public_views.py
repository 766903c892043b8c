"""The customer-facing payment page `/pay/<token>/` and its status / receipt page.

Customers never log in: the link token in the URL is the only credential, so both views are
`login_not_required` and answer every bad input with a page (404, 410, 400, 429), never a 500.
Card data never reaches these views: the processor's card form (an iframe on its own origin)
turns the card into a one-time token (a Stripe PaymentMethod `pm_...`, a Braintree nonce) and
the page posts only that token and the name of the processor whose form it showed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from api.exceptions import IdempotencyKeyInUseError
from config.client_ip import client_ip_from_request
from config.exceptions import ApplicationError
from payments import checkout
from payments.checkout import processor_csp
from payments.exceptions import (
    MerchantNotReadyError,
    PaymentLinkUnavailableError,
    ProcessorOutcomeUnknownError,
    ProcessorUnavailableError,
)
from payments.gateways import processors
from payments.models import Payment, PaymentLink
from payments.money import format_amount, to_major
from payments.routing import checkout_routes, primary_processor
from payments.selectors import payment_link_by_token
from payments.services import payment_link_check_open
from payments.state import PaymentStatus

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]

_PAID = (PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE)
_PENDING = (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_CONFIRMATION)


def _see_other(url: str) -> HttpResponse:
    # 303: after a POST the browser must GET the next page, so a refresh never re-posts.
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _link_or_none(token: str) -> PaymentLink | None:
    if not checkout.LINK_TOKEN_RE.fullmatch(token):
        return None
    return payment_link_by_token(token=token)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "payments/pay/unavailable.html",
        {
            "heading": "Payment link not found",
            "message": "Check the link you were given, or ask the seller for a new one.",
        },
        status=404,
    )


def _unavailable(request: HttpRequest, link: PaymentLink, exc: ApplicationError) -> HttpResponse:
    if link.completed_at is not None:
        message = "This payment link has already been paid."
    elif isinstance(exc, PaymentLinkUnavailableError):
        message = exc.message
    else:
        message = "This payment link is no longer available."
    return render(
        request,
        "payments/pay/unavailable.html",
        {
            "heading": "This link is closed",
            "message": f"{message} Ask {link.merchant.legal_name} for a new link if you still "
            "need to pay.",
            "merchant_name": link.merchant.legal_name,
        },
        status=410,
    )


def _not_ready(request: HttpRequest, link: PaymentLink) -> HttpResponse:
    return render(
        request,
        "payments/pay/unavailable.html",
        {
            "heading": "Payments are not available yet",
            "message": f"{link.merchant.legal_name} cannot accept card payments right now. "
            "Please try again later.",
            "merchant_name": link.merchant.legal_name,
        },
        status=409,
    )


def _pay_page(
    request: HttpRequest,
    link: PaymentLink,
    *,
    error: str = "",
    status: int = 200,
    attempt: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """The payment form of the processor routing chooses (the merchant's primary, or its
    secondary while the primary is down); a new attempt token unless the same attempt must be
    resumed."""
    config = None
    for route in checkout_routes(merchant=link.merchant):
        try:
            config = checkout.processor_checkout_config(route.account)
        except ApplicationError as exc:
            # The processor could not hand out its form (Braintree's client token is a call):
            # as good as down, so the next route's form is tried.
            logger.info(
                "Pay page of %s: no %s card form (%s)",
                link.public_id,
                route.processor,
                exc.code,
            )
            continue
        break
    if config is None:
        return _not_ready(request, link)
    attempt = attempt or checkout.attempt_token_issue(link=link)
    response = render(
        request,
        "payments/pay/page.html",
        {
            "link": link,
            "merchant_name": link.merchant.legal_name,
            "amount_display": format_amount(link.amount, link.currency),
            # For a processor's client-side 3-D Secure, which takes the amount in major units.
            "amount_major": str(to_major(link.amount, link.currency)),
            "attempt": attempt,
            "processor": config.processor,
            "processor_script": config.script_url,
            "publishable_key": config.publishable_key,
            "processor_account": config.account,
            "error": error,
        },
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    # For `answers_pay_script`: the page's script shows the message and keeps the attempt.
    response.pay_form = {"error": error, "attempt": attempt}  # type: ignore[attr-defined]
    # For `processor_csp`: the origins of the form shown, which may be the secondary's.
    response.processor_origins = config.origins  # type: ignore[attr-defined]
    return response


def answers_pay_script(view: View) -> View:
    """The page's script posts with `Accept: application/json` and gets JSON back.

    The outcome is the same as a form post's: a redirect (receipt, 3-D Secure) becomes
    `{"redirect": url}`, the form again with a message becomes `{"error", "attempt"}` with the
    same status, and any other page (link closed, not found) a redirect to this page, which
    shows it. Anything else the script receives (a proxy's 502, an HTML error page, no answer
    at all) it turns into a message of its own: see static/payments/pay.js.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if request.method != "POST" or "application/json" not in request.headers.get("Accept", ""):
            return response
        if isinstance(response, HttpResponseRedirect):
            return JsonResponse({"redirect": response["Location"]})
        form = getattr(response, "pay_form", None)
        if form is None:
            return JsonResponse({"redirect": request.path})
        answer = JsonResponse(form, status=response.status_code)
        if response.has_header("Retry-After"):
            answer["Retry-After"] = response["Retry-After"]
        return answer

    return wrapped


def _status_url(link: PaymentLink, payment: Payment) -> str:
    return reverse("pay-status", kwargs={"token": link.token, "payment_id": payment.public_id})


@login_not_required
@require_http_methods(["GET", "POST"])
@processor_csp
@answers_pay_script
def pay(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the form (or settles a 3-D Secure return); POST pays with a PaymentMethod."""
    link = _link_or_none(token)
    if link is None:
        return _not_found(request)
    if request.method == "GET":
        intent_id = request.GET.get("payment_intent", "")
        if intent_id:
            # Back from the processor's 3-D Secure page, which appends the intent's id.
            payment = checkout.checkout_payment_by_intent(link=link, intent_id=intent_id)
            if payment is not None:
                return _see_other(_status_url(link, payment))
    if request.method == "POST":
        # checkout_pay checks the link itself: a repeated POST of an attempt that closed a
        # single-use link must still lead to that attempt's receipt.
        return _pay_submit(request, link)
    try:
        payment_link_check_open(link=link)
    except PaymentLinkUnavailableError as exc:
        return _unavailable(request, link, exc)
    return _pay_page(request, link)


def _pay_submit(request: HttpRequest, link: PaymentLink) -> HttpResponse:
    attempt = request.POST.get("attempt", "")
    try:
        attempt_key = checkout.attempt_token_read(link=link, token=attempt)
    except checkout.AttemptTokenError as exc:
        return _pay_page(request, link, error=exc.message, status=400)
    try:
        # Counted only for genuine attempts: only those can reach the processor.
        checkout.checkout_rate_limit_hit(link=link, client_ip=client_ip_from_request(request))
    except checkout.CheckoutRateLimitedError as exc:
        return _pay_page(
            request,
            link,
            error=exc.message,
            status=429,
            attempt=attempt,
            headers={"Retry-After": str(checkout.RATE_LIMIT_WINDOW_SECONDS)},
        )
    # Which processor's form made the token (routing may have shown the secondary's); a post
    # without it (an older page) goes to the primary.
    processor = request.POST.get("processor") or None
    if processor is not None and processor not in processors():
        return _pay_page(
            request,
            link,
            error="This payment form is out of date. Please enter your card again.",
            status=400,
        )
    payment_method = request.POST.get("payment_method", "")
    if not checkout.payment_method_acceptable(
        processor=processor or primary_processor(merchant=link.merchant), token=payment_method
    ):
        return _pay_page(
            request,
            link,
            error="Your card details did not reach us. Please enter them again.",
            status=400,
            attempt=attempt,
        )
    return_url = request.build_absolute_uri(reverse("pay", kwargs={"token": link.token}))
    try:
        payment = checkout.checkout_pay(
            link=link,
            payment_method_id=payment_method,
            attempt_key=attempt_key,
            return_url=return_url,
            request=request,
            processor=processor,
        )
    except PaymentLinkUnavailableError as exc:
        link.refresh_from_db()
        return _unavailable(request, link, exc)
    except MerchantNotReadyError:
        return _not_ready(request, link)
    except (ProcessorUnavailableError, ProcessorOutcomeUnknownError, IdempotencyKeyInUseError):
        # Same attempt token: pressing Pay again resumes this attempt, it cannot charge twice.
        return _pay_page(
            request,
            link,
            error="We could not reach the payment service. You have not been charged twice; "
            "press Pay again in a moment to finish this payment.",
            status=503,
            attempt=attempt,
            headers={"Retry-After": "5"},
        )
    except ApplicationError as exc:
        logger.info("Payment link %s attempt refused: %s", link.public_id, exc.code)
        return _pay_page(
            request, link, error="We could not take this payment. Please try again.", status=400
        )
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url.startswith(
        ("https://", "http://")
    ):
        return _see_other(payment.next_action_url)
    if payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD:
        return _pay_page(request, link, error=checkout.decline_message(payment), status=402)
    return _see_other(_status_url(link, payment))


@login_not_required
@require_GET
@processor_csp
def pay_status(request: HttpRequest, token: str, payment_id: str) -> HttpResponse:
    """Receipt, decline (with the form to retry), or "still confirming" for one payment."""
    link = _link_or_none(token)
    if link is None:
        return _not_found(request)
    payment = checkout.checkout_payment_get(link=link, public_id=payment_id)
    if payment is None:
        return _not_found(request)
    try:
        payment = checkout.checkout_refresh(payment=payment)
    except ApplicationError as exc:
        # The processor did not answer: show what we know; the customer can check again.
        logger.info("Status refresh of %s deferred: %s", payment.public_id, exc.code)
    context = {
        "link": link,
        "payment": payment,
        "merchant_name": link.merchant.legal_name,
        "amount_display": format_amount(payment.amount, payment.currency),
        "status_url": _status_url(link, payment),
    }
    if payment.status in _PAID:
        return render(request, "payments/pay/receipt.html", context)
    if payment.status in _PENDING:
        return render(request, "payments/pay/pending.html", context)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        # Back from the bank's page without an answer: offer to go back to it.
        context["action_url"] = payment.next_action_url
        return render(request, "payments/pay/pending.html", context)
    # Declined, failed authentication or canceled: the same link takes another card.
    try:
        payment_link_check_open(link=link)
    except PaymentLinkUnavailableError as exc:
        return _unavailable(request, link, exc)
    return _pay_page(request, link, error=checkout.decline_message(payment), status=402)
