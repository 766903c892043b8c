"""Inbound webhook endpoints: verify, store durably with an outbox row, answer at once.

The request never waits on processing or on the broker: what it owes the sender is a 2xx
once the event is committed (or known already), and a 400 with a reason code when the
delivery is not a verified event. Nothing is stored for a refused delivery.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.gateways.stripe.webhooks import (
    MAX_BODY_BYTES,
    Reason,
    SignatureError,
    verify_event,
)
from payments.models import EventProvider
from payments.webhooks import inbound_event_ingest, webhook_rejection_record


def _refused(provider: str, reason: str) -> JsonResponse:
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
        status=400,
    )


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@login_not_required
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    provider = EventProvider.STRIPE
    # Refused before reading: an oversized body costs us nothing.
    if _declared_length(request) > MAX_BODY_BYTES:
        return _refused(provider, Reason.TOO_LARGE)
    try:
        body = request.body
    except RequestDataTooBig:
        return _refused(provider, Reason.TOO_LARGE)
    try:
        event = verify_event(
            body=body,
            header=request.headers.get("Stripe-Signature"),
            secrets=settings.STRIPE_WEBHOOK_SECRETS,
        )
    except SignatureError as exc:
        return _refused(provider, exc.reason)
    result = inbound_event_ingest(
        provider=provider,
        event_id=event.id,
        event_type=event.type,
        account=event.account,
        payload=event.payload,
        body=body,
        processor_created=event.created,
    )
    return JsonResponse({"received": True, "duplicate": not result.created})
