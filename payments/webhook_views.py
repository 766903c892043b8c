"""`POST /webhooks/stripe/` and `/webhooks/braintree/`: verify the processor's signature, store
through the inbound pipeline, 200.

Thin: verification is the gateway's (`gateways/stripe/webhooks.py`,
`gateways/braintree/webhooks.py`), storing and the answers
are the pipeline's (`inbound.views`, `inbound.services`). Handlers run later in a worker
(`payments.event_handlers`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from inbound.models import EventProvider
from inbound.services import inbound_event_ingest
from inbound.views import signed_event_storage, webhook_body, webhook_endpoint, webhook_refused
from payments.gateways import braintree as braintree_gateway
from payments.gateways.stripe.webhooks import (
    MAX_BODY_BYTES,
    Reason,
    SignatureError,
    verify_event,
)
from payments.processor_credentials import braintree_keys_for_public_key


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


def _braintree_keys(public_key: str) -> braintree_gateway.Keys | None:
    found = braintree_keys_for_public_key(public_key)
    if found is None:
        return None
    merchant_id, public, private = found
    return braintree_gateway.Keys(merchant_id=merchant_id, public_key=public, private_key=private)


def _form_field(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    # One value each, as Braintree sends: two would let a sender choose which one we check.
    return values[0] if values is not None and len(values) == 1 else None


@webhook_endpoint(provider=EventProvider.BRAINTREE)
def braintree_webhook(request: HttpRequest) -> HttpResponse:
    """Braintree's form-encoded `bt_signature` + `bt_payload`, verified by the SDK with the keys
    of the merchant whose public key signed it."""
    provider = EventProvider.BRAINTREE
    body = webhook_body(request, max_bytes=braintree_gateway.MAX_BODY_BYTES)
    if body is None:
        return webhook_refused(provider=provider, reason=braintree_gateway.Reason.TOO_LARGE)
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return webhook_refused(provider=provider, reason=braintree_gateway.Reason.MISSING_FIELDS)
    try:
        notification = braintree_gateway.verify_notification(
            signature=_form_field(fields, "bt_signature"),
            payload=_form_field(fields, "bt_payload"),
            keys_for_public_key=_braintree_keys,
        )
    except braintree_gateway.SignatureError as exc:
        return webhook_refused(provider=provider, reason=exc.reason)
    with signed_event_storage():
        result = inbound_event_ingest(
            provider=provider,
            event_id=notification.id,
            event_type=notification.kind,
            account=notification.merchant_id,
            payload=notification.payload,
            body=body,
            processor_created=notification.created,
        )
    return JsonResponse({"received": True, "duplicate": not result.created})
