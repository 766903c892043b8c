"""`/link/<token>/stripe/<ba_id>/`: verify an account with Stripe's micro-deposits instead.

Public like the bank-link page (the URL token is the credential). GET shows the step the
verification is at; the page's script POSTs JSON `{"action": "start"}` (answers the
SetupIntent's client secret for Stripe.js) and `{"action": "collected"}` after Stripe's form;
the code form POSTs `code` (form-encoded, works without JavaScript). Stripe.js loads from
Stripe's origin (the sandbox's stand-in when STRIPE_API_BASE is set) and the bank details go
only there. Every bad input is a 4xx page or JSON error (503 when Stripe is down), never a 500.
"""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from api import form_tokens
from api.form_tokens import FormOutcome
from api.idempotency import idempotency_claim_target
from api.models import IdempotencyRecord
from banking import selectors
from banking import stripe_fallback as fallback
from banking.exceptions import BankLinkSessionUnavailableError
from banking.models import BankAccount, StripeVerificationStatus
from config.client_ip import client_ip_from_request
from config.exceptions import ApplicationError
from config.ratelimit import window_hit
from payments.checkout import processor_checkout_config, processor_csp
from payments.selectors import processor_account_get

logger = logging.getLogger(__name__)

MAX_POST_BYTES = 4 * 1024
RATE_LIMIT_POSTS = 20
RATE_LIMIT_WINDOW_SECONDS = 60


def _unavailable(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "payments/pay/unavailable.html",
        {"heading": "This link is closed", "message": message},
        status=status,
    )


def _status(exc: ApplicationError) -> int:
    status = exc.status_code if 400 <= exc.status_code < 600 else 400
    return 503 if status >= 500 else status


@login_not_required
@require_http_methods(["GET", "POST"])
@processor_csp
def stripe_fallback(request: HttpRequest, token: str, account: str) -> HttpResponse:
    session = selectors.bank_link_session_by_token(token=token)
    if session is None:
        return _unavailable(request, "Check the link you were given, or ask for a new one.", 404)
    try:
        bank = fallback.stripe_fallback_account(session=session, public_id=account)
    except BankLinkSessionUnavailableError as exc:
        return _unavailable(request, exc.message, 410 if session.item_id else 404)
    if request.method == "POST":
        key = f"stripe-fallback:{bank.public_id}:{client_ip_from_request(request)}"
        if window_hit(key, limit=RATE_LIMIT_POSTS, window_seconds=RATE_LIMIT_WINDOW_SECONDS):
            response = _error(request, "Too many attempts. Wait a minute.", 429, "rate_limited")
            response["Retry-After"] = str(RATE_LIMIT_WINDOW_SECONDS)
            return response
        if len(request.body) > MAX_POST_BYTES:
            return _error(request, "The request is too large.", 400, "too_large")
        if request.content_type == "application/json":
            return _json_action(request, bank)
        return _code(request, bank)
    return _show(request, bank, token)


def _error(request: HttpRequest, message: str, status: int, code: str) -> HttpResponse:
    if request.content_type == "application/json":
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    messages.error(request, message)
    return redirect(request.path)


def _json_action(request: HttpRequest, bank: BankAccount) -> JsonResponse:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    action = data.get("action") if isinstance(data, dict) else None
    try:
        if action == "start":
            started = fallback.stripe_fallback_start(account=bank)
            # The connected account exists now (it may not have when the page rendered).
            processor = processor_account_get(merchant=bank.merchant)
            return JsonResponse(
                {
                    "client_secret": started.client_secret,
                    "stripe_account": processor.stripe_account_id if processor else "",
                }
            )
        if action == "collected":
            verification = fallback.stripe_fallback_collected(account=bank)
            return JsonResponse({"status": verification.status, "next": request.path})
    except ApplicationError as exc:
        logger.info("Stripe fallback %s for %s refused: %s", action, bank.public_id, exc.code)
        return JsonResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status=_status(exc)
        )
    return JsonResponse(
        {"error": {"code": "parameter_invalid", "message": "Unknown action."}}, status=400
    )


CODE_ACTION = "bank_account.microdeposit_code"


def _code(request: HttpRequest, bank: BankAccount) -> HttpResponse:
    """The code form, once per submission token: a resubmit replays the first answer."""

    def verify(record: IdempotencyRecord | None) -> FormOutcome:
        resumed = idempotency_claim_target(
            record, target_type="bank_account", public_id=bank.public_id
        )
        fallback.stripe_fallback_verify(
            account=bank, code=request.POST.get("code", ""), resumed=resumed
        )
        return FormOutcome("success", "Your bank account is verified.")

    def error_text(exc: ApplicationError) -> str:
        logger.info("Stripe fallback code for %s refused: %s", bank.public_id, exc.code)
        return exc.message

    form_tokens.form_submit(
        request,
        merchant=bank.merchant,
        action=CODE_ACTION,
        target=bank.public_id,
        operation=verify,
        error_text=error_text,
    )
    return redirect(request.path)


def _show(request: HttpRequest, bank: BankAccount, token: str) -> HttpResponse:
    verification = fallback.stripe_fallback_current(bank)
    status = verification.status if verification is not None else ""
    checkout = processor_checkout_config()
    response = render(
        request,
        "banking/stripe_fallback.html",
        {
            "account": bank,
            "merchant_name": bank.merchant.legal_name,
            "status": status,
            "verification": verification,
            "can_start": fallback.stripe_fallback_eligible(bank)
            and status != StripeVerificationStatus.AWAITING_CODE,
            "awaiting_code": status == StripeVerificationStatus.AWAITING_CODE,
            "verified": bank.verified_by == "stripe",
            "code_token": form_tokens.form_token(
                request, action=CODE_ACTION, target=bank.public_id
            ),
            "attempts_left": fallback.MAX_CODE_ATTEMPTS
            - (verification.code_attempts if verification else 0),
            "stripe_script": checkout.script_url,
            "publishable_key": checkout.publishable_key,
            "link_path": f"/link/{token}/",
        },
    )
    response["Cache-Control"] = "no-store"
    return response
