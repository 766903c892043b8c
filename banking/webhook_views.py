"""`POST /webhooks/plaid/`: verify Plaid's signature, store through the inbound pipeline, 200.

Plaid sends no event id, so the id is the SHA-256 of the raw body: a redelivery of the same
body is a duplicate; a genuinely new event has a new body. The merchant is taken from our
PlaidItem in the same transaction as the insert. Handlers (banking.event_handlers) run later
in the pipeline's worker and re-read Plaid.
"""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from banking.gateways.plaid.webhooks import (
    KEY_FETCH_WINDOW_SECONDS,
    MAX_BODY_BYTES,
    Reason,
    WebhookVerificationError,
    verify_webhook,
)
from banking.models import PlaidItem
from inbound.models import EventProvider, InboundEvent
from inbound.services import inbound_event_ingest
from inbound.views import (
    signed_event_storage,
    webhook_body,
    webhook_endpoint,
    webhook_refused,
)

# Refusals that are not the sender's fault ask for a retry: Plaid unreachable for its key
# (503), or this minute's budget of key fetches spent, most likely by a flood of made-up key
# ids (429: a sender can cause it, so never a 5xx).
_REFUSAL_STATUS = {Reason.KEY_UNAVAILABLE: 503, Reason.KEY_FETCH_LIMITED: 429}


@webhook_endpoint(provider=EventProvider.PLAID)
def plaid_webhook(request: HttpRequest) -> HttpResponse:
    body = webhook_body(request, max_bytes=MAX_BODY_BYTES)
    if body is None:
        return webhook_refused(provider=EventProvider.PLAID, reason=Reason.TOO_LARGE)
    try:
        event = verify_webhook(body=body, header=request.headers.get("Plaid-Verification"))
    except WebhookVerificationError as exc:
        refused = webhook_refused(
            provider=EventProvider.PLAID,
            reason=exc.reason,
            status=_REFUSAL_STATUS.get(exc.reason, 400),
        )
        if refused.status_code == 429:
            refused["Retry-After"] = str(KEY_FETCH_WINDOW_SECONDS)
        return refused
    with signed_event_storage(), transaction.atomic():
        result = inbound_event_ingest(
            provider=EventProvider.PLAID,
            event_id=hashlib.sha256(body).hexdigest(),
            event_type=f"{event.webhook_type}:{event.webhook_code}",
            account=event.item_id,
            payload=event.payload,
            body=body,
        )
        if result.event_pk is not None and event.item_id:
            merchant_id = (
                PlaidItem.objects.filter(item_id=event.item_id)
                .values_list("merchant_id", flat=True)
                .first()
            )
            if merchant_id is not None:
                InboundEvent.objects.filter(pk=result.event_pk).update(merchant_id=merchant_id)
    return JsonResponse({"received": True, "duplicate": not result.created})
