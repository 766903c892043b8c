"""`POST /webhooks/stripe/`: verify Stripe's signature, store through the inbound pipeline, 200.

Thin: verification is the gateway's (`gateways/stripe/webhooks.py`), storing and the answers
are the pipeline's (`inbound.views`, `inbound.services`). Handlers run later in a worker
(`payments.event_handlers`).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from inbound.models import EventProvider
from inbound.services import inbound_event_ingest
from inbound.views import signed_event_storage, webhook_body, webhook_endpoint, webhook_refused
from payments.gateways.stripe.webhooks import (
    MAX_BODY_BYTES,
    Reason,
    SignatureError,
    verify_event,
)


@webhook_endpoint(provider=EventProvider.STRIPE)
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    provider = EventProvider.STRIPE
    body = webhook_body(request, max_bytes=MAX_BODY_BYTES)
    if body is None:
        return webhook_refused(provider=provider, reason=Reason.TOO_LARGE)
    try:
        event = verify_event(
            body=body,
            header=request.headers.get("Stripe-Signature"),
            secrets=settings.STRIPE_WEBHOOK_SECRETS,
        )
    except SignatureError as exc:
        return webhook_refused(provider=provider, reason=exc.reason)
    with signed_event_storage():
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
