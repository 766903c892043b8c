"""The building blocks of every provider's webhook view: verify, store durably, answer at once.

The request never waits on processing or on the broker: what it owes the sender is a 2xx
once the event is committed (or known already), and a 400 with a reason code when the
delivery is not a verified event. Nothing is stored for a refused delivery.

Every provider's endpoint is declared with `webhook_endpoint`, the one place that turns an
exception nobody foresaw into an answer with a reason code instead of a 500: a 503 when a
verified event could not be stored (`signed_event_storage`), so the processor retries it,
and a 400 before that point, when all we hold is a delivery we could not read.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbound.services.rejections import webhook_rejection_record

logger = logging.getLogger(__name__)

# The guard's own reason codes, beside each provider's verification reasons.
UNVERIFIABLE = "unverifiable"  # 400: an unforeseen failure before the event was verified
STORE_FAILED = "store_failed"  # 503: a verified event that could not be stored; retried


class SignedEventNotStoredError(Exception):
    """A verified event could not be stored; the cause is chained."""


@contextmanager
def signed_event_storage() -> Iterator[None]:
    """Wrap the storing of a verified event: any failure inside answers 503, never lost."""
    try:
        yield
    except Exception as exc:
        raise SignedEventNotStoredError from exc


WebhookView = Callable[[HttpRequest], HttpResponse]


def webhook_endpoint(*, provider: str) -> Callable[[WebhookView], WebhookView]:
    """Declare a webhook view: public, CSRF-exempt, POST-only, and never a 500.

    The signature is the authentication, so the view is open to anyone on the internet, and
    whatever it did not foresee must still answer with a reason code: logged with its
    traceback (masked like every log record), counted like any refusal, nothing stored.
    """

    def decorate(view: WebhookView) -> WebhookView:
        @functools.wraps(view)
        def guarded(request: HttpRequest) -> HttpResponse:
            try:
                return view(request)
            except SignedEventNotStoredError:
                logger.exception("A verified %s event could not be stored; answered 503", provider)
                return webhook_refused(provider=provider, reason=STORE_FAILED, status=503)
            except Exception:
                logger.exception("A %s delivery failed unexpectedly; answered 400", provider)
                return webhook_refused(provider=provider, reason=UNVERIFIABLE)

        return login_not_required(csrf_exempt(require_POST(guarded)))

    return decorate


def webhook_refused(*, provider: str, reason: str, status: int = 400) -> JsonResponse:
    """The answer to a delivery that is not a verified event: counted, nothing stored.

    Shared by every provider's endpoint.
    """
    webhook_rejection_record(provider=provider, reason=reason)
    return JsonResponse(
        {
            "error": {
                "type": "invalid_request_error",
                "code": reason,
                "message": "The delivery is not a verified event.",
                "param": None,
            }
        },
        status=status,
    )


def webhook_body(request: HttpRequest, *, max_bytes: int) -> bytes | None:
    """The raw body, or None when it is larger than `max_bytes`.

    A body declared too large is refused before it is read: an oversized delivery costs
    nothing. A malformed Content-Length counts as 0 and the real size is checked below.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    return body if len(body) <= max_bytes else None
