"""`POST /webhooks/plaid/`: verify Plaid's signature, store through the payments pipeline, 200.

Plaid sends no event id, so the id is the SHA-256 of the raw body: a redelivery of the same
body is a duplicate; a genuinely new event has a new body. The merchant is taken from our
PlaidItem in the same transaction as the insert. Handlers (banking.webhook_handlers) run later
in the pipeline's worker and re-read Plaid.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from banking.gateways.plaid.webhooks import (
    MAX_BODY_BYTES,
    Reason,
    WebhookVerificationError,
    verify_webhook,
)
from banking.models import PlaidItem
from payments.models import EventProvider, InboundEvent
from payments.webhook_views import webhook_body, webhook_refused
from payments.webhooks import inbound_event_ingest


@login_not_required
@csrf_exempt
@require_POST
def plaid_webhook(request: HttpRequest) -> JsonResponse:
    body = webhook_body(request, max_bytes=MAX_BODY_BYTES)
    if body is None:
        return webhook_refused(provider=EventProvider.PLAID, reason=Reason.TOO_LARGE)
    try:
        event = verify_webhook(body=body, header=request.headers.get("Plaid-Verification"))
    except WebhookVerificationError as exc:
        # Plaid unreachable for its key: 503 so that Plaid retries the delivery later.
        status = 503 if exc.reason == Reason.KEY_UNAVAILABLE else 400
        return webhook_refused(provider=EventProvider.PLAID, reason=exc.reason, status=status)
    with transaction.atomic():
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
