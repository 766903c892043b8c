"""`POST /webhooks/plaid/`: verify Plaid's signature, store through the payments pipeline, 200.

Plaid sends no event id, so the id is the SHA-256 of the raw body: a redelivery of the same
body is a duplicate; a genuinely new event has a new body. The merchant is taken from our
PlaidItem in the same transaction as the insert. Handlers (banking.webhook_handlers) run later
in the pipeline's worker and re-read Plaid.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
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
from payments.webhooks import inbound_event_ingest, webhook_rejection_record


def _refused(reason: str, status: int = 400) -> JsonResponse:
    webhook_rejection_record(provider=EventProvider.PLAID, reason=reason)
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


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@login_not_required
@csrf_exempt
@require_POST
def plaid_webhook(request: HttpRequest) -> JsonResponse:
    if _declared_length(request) > MAX_BODY_BYTES:
        return _refused(Reason.TOO_LARGE)
    try:
        body = request.body
    except RequestDataTooBig:
        return _refused(Reason.TOO_LARGE)
    try:
        event = verify_webhook(body=body, header=request.headers.get("Plaid-Verification"))
    except WebhookVerificationError as exc:
        # Plaid unreachable for its key: 503 so that Plaid retries the delivery later.
        status = 503 if exc.reason == Reason.KEY_UNAVAILABLE else 400
        return _refused(exc.reason, status)
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
