"""The customer's bank-link page `/link/<token>/`: Plaid Link, then our server completes it.

Customers never log in: the URL token is the only credential (only its hash is stored), so
the view is `login_not_required` and answers every bad input with a page or a JSON error
(404, 410, 400, 429, 503), never a 500. Credentials and account numbers never reach this
page: Link runs on Plaid's origin (or the sandbox's stand-in) and hands us a public token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from csp.constants import SELF
from csp.decorators import csp_replace, csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from banking import selectors, services
from banking.exceptions import BankLinkSessionUnavailableError
from banking.models import BankLinkSession, BankLinkSessionStatus, VerificationState
from config.card_numbers import card_number_lengths_in
from config.client_ip import client_ip_from_request
from config.exceptions import ApplicationError
from config.free_text import CARD_NUMBER_CODE, CARD_NUMBER_MESSAGE
from config.ratelimit import window_hit

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]
CDN_SCRIPT = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"
SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
MAX_POST_BYTES = 16 * 1024
# A person links once and enters a code a few times; more than this is someone probing.
RATE_LIMIT_POSTS = 20
RATE_LIMIT_WINDOW_SECONDS = 60


def _link_origins() -> tuple[str, list[str]]:
    """(script URL, origins to allow): the sandbox's stand-in when PLAID_API_BASE is set."""
    base = str(settings.PLAID_API_BASE or "")
    if base:
        parts = urlsplit(base)
        origin = f"{parts.scheme}://{parts.netloc}"
        return origin + SCRIPT_PATH, [origin]
    return CDN_SCRIPT, list(settings.PLAID_LINK_ORIGINS)


def plaid_link_csp(view: View) -> View:
    """Widen this page's CSP to Link's origin only (read per request, not at import)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        _, origins = _link_origins()
        decorated = csp_update({"script-src": origins, "connect-src": origins})(
            csp_replace({"frame-src": [SELF, *origins]})(view)
        )
        return decorated(request, *args, **kwargs)

    return wrapped


def _page(request: HttpRequest, heading: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "payments/pay/unavailable.html",
        {"heading": heading, "message": message},
        status=status,
    )


def _json_error(message: str, status: int, code: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _rate_limited(session: BankLinkSession, request: HttpRequest) -> bool:
    key = f"bank-link-posts:{session.public_id}:{client_ip_from_request(request)}"
    return window_hit(key, limit=RATE_LIMIT_POSTS, window_seconds=RATE_LIMIT_WINDOW_SECONDS)


@login_not_required
@require_http_methods(["GET", "POST"])
@plaid_link_csp
def bank_link(request: HttpRequest, token: str) -> HttpResponse:
    session = selectors.bank_link_session_by_token(token=token)
    if session is None:
        return _page(
            request,
            "Link not found",
            "Check the link you were given, or ask for a new one.",
            404,
        )
    try:
        services.bank_link_session_check_usable(session=session)
    except BankLinkSessionUnavailableError as exc:
        return _page(
            request,
            "This link is closed",
            f"{exc.message} Ask {session.merchant.legal_name} for a new link.",
            410,
        )
    if request.method == "POST":
        return _submit(request, session)
    return _show(request, session)


def _show(request: HttpRequest, session: BankLinkSession) -> HttpResponse:
    accounts = selectors.bank_link_session_accounts(session=session)
    rows = [
        {
            "account": account,
            "state": VerificationState(account.verification_state).label,
            "attempts_left": selectors.code_attempts_left(account),
            "pending_manual": account.verification_state == VerificationState.PENDING_MANUAL,
        }
        for account in accounts
    ]
    needs_link = session.status == BankLinkSessionStatus.OPEN
    update_mode = services.bank_link_needs_update_mode(session=session)
    link_token, error = "", ""
    if needs_link or update_mode:
        webhook_url = request.build_absolute_uri(reverse("webhooks-plaid"))
        try:
            link_token = services.bank_link_token_create(session=session, webhook_url=webhook_url)
        except ApplicationError as exc:
            logger.info("Link token for %s not created: %s", session.public_id, exc.code)
            error = "Bank linking is unavailable right now. Please try again in a few minutes."
    script_url, _ = _link_origins()
    response = render(
        request,
        "banking/link.html",
        {
            "session": session,
            "merchant_name": session.merchant.legal_name,
            "rows": rows,
            "needs_link": needs_link,
            "update_mode": update_mode,
            "new_accounts": services.bank_link_offers_new_accounts(session=session),
            "link_token": link_token,
            "link_script": script_url,
            "error": error,
        },
        status=503 if error else 200,
    )
    # The Link token is single-use and short-lived; no cache may keep the page.
    response["Cache-Control"] = "no-store"
    return response


def _submit(request: HttpRequest, session: BankLinkSession) -> JsonResponse:
    if _rate_limited(session, request):
        response = _json_error("Too many attempts. Wait a minute.", 429, "rate_limited")
        response["Retry-After"] = str(RATE_LIMIT_WINDOW_SECONDS)
        return response
    if len(request.body) > MAX_POST_BYTES:
        return _json_error("The request is too large.", 400, "too_large")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return _json_error("The request is not valid.", 400, "parameter_invalid")
    action = data.get("action")
    raw_metadata = data.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    if card_number_lengths_in(metadata):
        return _json_error(CARD_NUMBER_MESSAGE, 400, CARD_NUMBER_CODE)
    try:
        if action == "success" and session.status == BankLinkSessionStatus.OPEN:
            public_token = data.get("public_token")
            if not isinstance(public_token, str):
                return _json_error("The bank did not return a token.", 400, "parameter_invalid")
            services.bank_link_complete(
                session=session, public_token=public_token, metadata=metadata
            )
        elif action == "success":
            services.bank_link_update_complete(session=session)
        elif action == "code_rejected":
            services.bank_link_code_rejected(session=session)
        else:
            return _json_error("Unknown action.", 400, "parameter_invalid")
    except ApplicationError as exc:
        logger.info("Bank link %s %s refused: %s", session.public_id, action, exc.code)
        status = exc.status_code if 400 <= exc.status_code < 600 else 400
        if status >= 500 and status != 503:
            status = 503
        return _json_error(exc.message, status, exc.code)
    return JsonResponse({"ok": True, "next": request.path})
