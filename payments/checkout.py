"""Checkout on the public payment page: attempt tokens, rate limits and paying a link once.

The customer's browser sends only a payment method token (a Stripe PaymentMethod id `pm_...`,
a Braintree nonce: whatever the processor's own card form made) with the processor whose form
made it, and the attempt token rendered into the page. Every attempt token is one
`IdempotencyRecord` of the link's merchant, so a double submit, a refresh or a retried POST
of the same page load joins the first attempt instead of charging again; a new page load (or
the page shown after a decline) carries a new token, which is what makes a retry a new payment.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from csp.constants import SELF
from django.core import signing
from django.db.models import Q
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from api.idempotency import idempotency_mark_object_created, idempotent_execute_waiting
from api.models import IdempotencyRecord
from compliance.actors import Actor
from config.card_numbers import contains_card_number
from config.ratelimit import window_hit
from payments import services
from payments.exceptions import (
    CardDeclinedError,
    InvalidPaymentRequestError,
    PaymentLinkUnavailableError,
    PaymentStateError,
    ProcessorRequestError,
)
from payments.gateways import (
    DEFAULT_PROCESSOR,
    gateway_for,
    gateway_named,
    payment_method_token_valid,
)
from payments.gateways.base import CheckoutConfig
from payments.models import Payment, PaymentLink, ProcessorAccount
from payments.routing import primary_processor
from payments.state import PaymentStatus

_View = Callable[..., HttpResponseBase]

INTENT_RE = re.compile(r"^pi_[A-Za-z0-9_]{3,100}$")
PAYMENT_ID_RE = re.compile(r"^pay_[A-Za-z0-9]{8,40}$")
LINK_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")

_ATTEMPT_SALT = "payments.checkout.attempt"
# Long enough to type a card and pass 3-D Secure; short enough that a copied page goes stale.
ATTEMPT_MAX_AGE = timedelta(hours=2)
_ATTEMPT_MAX_LENGTH = 300

# Card testing runs many cards through one page quickly; a person needs a handful of tries.
RATE_LIMIT_ATTEMPTS = 10
RATE_LIMIT_WINDOW_SECONDS = 60

# A double submit arrives while the first request is still talking to the processor: wait for
# its answer (polling the record) rather than show the customer a confusing "busy" page.
IN_FLIGHT_WAIT_SECONDS = 25.0

# Another attempt on a single-use link in one of these states means the link is taken.
_LINK_HOLDING = (
    PaymentStatus.REQUIRES_CONFIRMATION,
    PaymentStatus.PROCESSING,
    PaymentStatus.REQUIRES_CAPTURE,
    PaymentStatus.SUCCEEDED,
)
# An abandoned 3-D Secure challenge holds a single-use link only for this long.
_ACTION_HOLD = timedelta(minutes=30)

# What the customer reads for the processor's decline codes (Stripe's documented codes).
_DECLINE_REASONS = {
    "insufficient_funds": "insufficient funds",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the security code is incorrect",
    "incorrect_number": "the card number is incorrect",
    "processing_error": "the card could not be processed",
    "card_velocity_exceeded": "the card's limit was reached",
    "do_not_honor": "your bank did not approve it",
    "generic_decline": "",
}
_AUTHENTICATION_FAILED = "payment_intent_authentication_failure"


class AttemptTokenError(InvalidPaymentRequestError):
    code = "attempt_token_invalid"
    default_message = "This payment form has expired. Please try again."


class CheckoutRateLimitedError(InvalidPaymentRequestError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many payment attempts. Please wait a minute and try again."


def payment_method_acceptable(*, processor: str, token: str) -> bool:
    """A token of `processor`'s shape, and no card number (a bypassed card form: it must never
    reach a row)."""
    return payment_method_token_valid(processor, token) and not contains_card_number(token)


def processor_checkout_config(account: ProcessorAccount | None = None) -> CheckoutConfig:
    """What a page needs to load the card form of `account`'s processor (its script, keys and
    CSP origins), supplied by that processor's gateway. Without an account (a page's CSP
    decided before the merchant is known): the default processor's."""
    if account is None:
        return gateway_named(DEFAULT_PROCESSOR).checkout_config(account="")
    return gateway_for(account).checkout_config(account=account.processor_account_id)


def processor_csp(view: _View) -> _View:
    """Widen a page's CSP to the processor's origin only (read per request, not at import).

    For every page that embeds the processor's form: the pay page and banking's fallback.

    Script, frames (card form, 3-D Secure), connections (Stripe.js calls its API) and form
    actions (the 3-D Secure redirect that follows our POST) may go to the processor; `frame-src`
    is replaced rather than appended because the site-wide value is `'none'` (the attributes
    django-csp's `csp_update` / `csp_replace` decorators set).

    A page that rendered another processor's form (routing chose it) names that processor's
    origins on its response (`response.processor_origins`); otherwise the default's apply.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        shown: tuple[str, ...] | None = getattr(response, "processor_origins", None)
        origins = list(shown if shown is not None else processor_checkout_config().origins)
        response._csp_update = {  # type: ignore[attr-defined]
            "script-src": origins,
            "connect-src": origins,
            "form-action": origins,
        }
        response._csp_replace = {"frame-src": [SELF, *origins]}  # type: ignore[attr-defined]
        return response

    return wrapped


def attempt_token_issue(*, link: PaymentLink) -> str:
    """A fresh, signed attempt token for one rendering of the link's payment form."""
    return signing.dumps(
        {"l": link.public_id, "n": secrets.token_urlsafe(18)}, salt=_ATTEMPT_SALT, compress=False
    )


def attempt_token_read(*, link: PaymentLink, token: str) -> str:
    """The attempt's nonce, if `token` was issued by us for this link and is still fresh."""
    if not token or len(token) > _ATTEMPT_MAX_LENGTH:
        raise AttemptTokenError(param="attempt")
    try:
        data = signing.loads(token, salt=_ATTEMPT_SALT, max_age=ATTEMPT_MAX_AGE)
    except signing.BadSignature as exc:
        raise AttemptTokenError(param="attempt") from exc
    if not isinstance(data, dict) or data.get("l") != link.public_id:
        raise AttemptTokenError(param="attempt")
    nonce = data.get("n")
    if not isinstance(nonce, str) or not re.fullmatch(r"[A-Za-z0-9_-]{16,40}", nonce):
        raise AttemptTokenError(param="attempt")
    return nonce


def checkout_rate_limit_hit(*, link: PaymentLink, client_ip: str) -> None:
    """Count one attempt for (link, IP); raise once the window's allowance is used up."""
    key = f"checkout-attempts:{link.public_id}:{client_ip}"
    if window_hit(key, limit=RATE_LIMIT_ATTEMPTS, window_seconds=RATE_LIMIT_WINDOW_SECONDS):
        raise CheckoutRateLimitedError()


def _link_hold_check(*, link: PaymentLink, payment: Payment) -> None:
    """Inside the row-insert transaction: a single-use link takes one payment at a time.

    Locking the link serializes concurrent first attempts from different page loads (two
    tabs), so the second sees the first's committed row and is refused before any charge.
    """
    locked = PaymentLink.objects.select_for_update().get(pk=link.pk)
    services.payment_link_check_open(link=locked)
    if locked.reusable:
        return
    holding = (
        Payment.objects.filter(payment_link=locked)
        .exclude(pk=payment.pk)
        .filter(
            Q(status__in=_LINK_HOLDING)
            | Q(
                status=PaymentStatus.REQUIRES_ACTION,
                updated_at__gt=timezone.now() - _ACTION_HOLD,
            )
        )
    )
    if holding.exists():
        raise PaymentLinkUnavailableError(
            "A payment on this link is already in progress or complete."
        )


def _release_stale_attempts(*, link: PaymentLink) -> None:
    """Cancel a single-use link's abandoned 3-D Secure attempts before a new one starts.

    An attempt left in `requires_action` stops holding the link after _ACTION_HOLD, but the
    customer could still approve that old challenge later; left open, it would then charge the
    link a second time. Cancelling it at the processor first closes that door. If the old
    attempt was approved in the meantime, the cancel is refused: reconciling it records the
    payment, and the link-hold check then refuses the new attempt.
    """
    if link.reusable:
        return
    stale = Payment.objects.filter(
        payment_link=link,
        status=PaymentStatus.REQUIRES_ACTION,
        updated_at__lte=timezone.now() - _ACTION_HOLD,
    )
    for payment in stale:
        try:
            services.payment_cancel(
                payment=payment, actor=Actor.system("checkout"), reason="abandoned"
            )
        except (PaymentStateError, ProcessorRequestError):
            services.payment_reconcile(payment=payment)


def checkout_pay(
    *,
    link: PaymentLink,
    payment_method_id: str,
    attempt_key: str,
    return_url: str,
    request: HttpRequest | None = None,
    processor: str | None = None,
) -> Payment:
    """Pay `link` with a payment method token of `processor` (whose form the page showed;
    None: the merchant's primary), at most once per attempt key.

    Returns the payment in whatever state the processor left it: succeeded or authorised,
    `requires_action` (send the customer to `next_action_url`), `processing` (reconciling),
    or `requires_payment_method` after a decline (failure fields set). Raises the project's
    payment errors for everything that produced no payment (closed link, merchant not ready,
    processor unavailable: retry with the same key).
    """
    processor = processor or primary_processor(merchant=link.merchant)
    if not payment_method_acceptable(processor=processor, token=payment_method_id):
        raise InvalidPaymentRequestError("Invalid payment method.", param="payment_method")
    merchant = link.merchant
    key = f"checkout_{attempt_key}"
    if not IdempotencyRecord.objects.filter(merchant=merchant, key=key).exists():
        # A repeat of an attempt that already ran (a double submit after the payment closed
        # a single-use link) must still get its answer, so only new attempts check the link.
        services.payment_link_check_open(link=link)
        _release_stale_attempts(link=link)
    created: dict[str, str] = {}

    def on_created(payment: Payment, record: IdempotencyRecord | None) -> None:
        _link_hold_check(link=link, payment=payment)
        created["payment"] = payment.public_id
        idempotency_mark_object_created(record, target_type="payment", public_id=payment.public_id)

    def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
        if record is not None and record.target_public_id:
            payment = Payment.objects.get(merchant=merchant, public_id=record.target_public_id)
            payment = services.payment_resume(payment=payment, return_url=return_url)
            return 200, {"payment": payment.public_id}
        try:
            payment = services.payment_create(
                merchant=merchant,
                actor=Actor.anonymous(),
                amount=link.amount,
                currency=link.currency,
                payment_method=payment_method_id,
                description=link.description,
                metadata={"payment_link": link.public_id},
                return_url=return_url,
                payment_link=link,
                request=request,
                on_created=lambda obj: on_created(obj, record),
                processor=processor,
            )
        except (CardDeclinedError, ProcessorRequestError):
            # The attempt is over and recorded on its payment row (failure code and message):
            # that row is the answer, replayed to a double submit like a success.
            if "payment" not in created:
                raise
            return 200, {"payment": created["payment"]}
        return 200, {"payment": payment.public_id}

    # The body names the link only: a double click may have made two PaymentMethods, and the
    # second submit must join the first attempt rather than be refused as a different request.
    body = {"payment_link": link.public_id}
    result = idempotent_execute_waiting(
        merchant=merchant,
        key=key,
        method="POST",
        path=f"/pay/{link.public_id}",
        body=body,
        operation=operation,
        wait_seconds=IN_FLIGHT_WAIT_SECONDS,
    )
    if result.status != 200 or not isinstance(result.body, dict) or "payment" not in result.body:
        # A final error stored by an earlier attempt (e.g. an invalid request): replay it.
        error = (result.body or {}).get("error", {}) if isinstance(result.body, dict) else {}
        raise InvalidPaymentRequestError(
            str(error.get("message") or "The payment could not be made."),
            code=str(error.get("code") or "payment_failed"),
        )
    return Payment.objects.select_related("merchant").get(
        merchant=merchant, public_id=result.body["payment"]
    )


def checkout_payment_get(*, link: PaymentLink, public_id: str) -> Payment | None:
    """A payment made through `link` (the token in the URL is what authorises seeing it)."""
    if not PAYMENT_ID_RE.fullmatch(public_id):
        return None
    return (
        Payment.objects.select_related("merchant")
        .filter(payment_link=link, public_id=public_id)
        .first()
    )


def checkout_payment_by_intent(*, link: PaymentLink, intent_id: str) -> Payment | None:
    """The link's payment for the processor's `payment_intent` return parameter."""
    if not INTENT_RE.fullmatch(intent_id):
        return None
    return Payment.objects.filter(payment_link=link, processor_payment_id=intent_id).first()


def checkout_refresh(*, payment: Payment) -> Payment:
    """Back from 3-D Secure (or still processing): ask the processor and settle our row."""
    if payment.status not in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING):
        return payment
    return services.payment_reconcile(payment=payment)


def decline_message(payment: Payment) -> str:
    """A clear, retryable sentence for a failed attempt; never the processor's raw text."""
    if payment.failure_code == _AUTHENTICATION_FAILED:
        return (
            "We could not authenticate your card, so it was not charged. "
            "Try again or use another card."
        )
    if payment.failure_code == "card_declined" or payment.decline_code:
        reason = _DECLINE_REASONS.get(payment.decline_code, "")
        if reason:
            return f"Your card was declined: {reason}. Try another card."
        return "Your card was declined. Try another card."
    if payment.failure_code in ("expired_card", "incorrect_cvc", "incorrect_number"):
        reason = _DECLINE_REASONS[payment.failure_code]
        return f"Your card was declined: {reason}. Try another card."
    return "We could not charge this card. Try another card."
