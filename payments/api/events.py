"""`/api/v1/events`: the merchant's inbound processor events, with status and attempts.

Read-only and scoped to the API key's merchant; another merchant's event is a 404. Lists are
newest first by arrival, with keyset pagination on (received_at, id).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Permission
from api.pagination import keyset_page
from api.serializers import ListQuerySerializer
from api.views import ERRORS, ApiView, list_response_serializer
from config.free_text import GuardedSerializer
from inbound.explanations import inbound_event_explain
from inbound.models import InboundEvent, InboundEventStatus
from payments.exceptions import PaymentNotFoundError


class EventListQuerySerializer(ListQuerySerializer):
    type = serializers.CharField(max_length=128, required=False)
    status = serializers.ChoiceField(choices=InboundEventStatus.choices, required=False)


class EventOutcomeSerializer(GuardedSerializer):
    code = serializers.CharField()
    message = serializers.CharField()


class EventOutputSerializer(GuardedSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    provider = serializers.CharField()
    processor_event_id = serializers.CharField(source="event_id")
    type = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    # A stable code and a sentence, as on the Developers page: the handler's note or exception
    # text stays with platform staff (admin, logs), never in a merchant's answer.
    outcome = serializers.SerializerMethodField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, obj: InboundEvent) -> str:
        return "event"

    @extend_schema_field(EventOutcomeSerializer(allow_null=True))
    def get_outcome(self, obj: InboundEvent) -> dict[str, str] | None:
        explanation = inbound_event_explain(obj)
        if explanation is None:
            return None
        return {"code": explanation.code, "message": explanation.sentence}


EventList = list_response_serializer("EventList", EventOutputSerializer)


class EventsApi(ApiView):
    @extend_schema(
        operation_id="events_list",
        parameters=[EventListQuerySerializer],
        responses={200: EventList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_DEVELOPERS)
        q = self.query(request, EventListQuerySerializer)
        events = InboundEvent.objects.filter(merchant=self.merchant(request))
        if q.get("type"):
            events = events.filter(type=q["type"])
        if q.get("status"):
            events = events.filter(status=q["status"])
        page = keyset_page(
            events,
            limit=q["limit"],
            starting_after=q.get("starting_after"),
            order_field="received_at",
        )
        data = EventOutputSerializer(page.items, many=True).data
        return Response({"data": data, "has_more": page.has_more})


class EventDetailApi(ApiView):
    @extend_schema(operation_id="events_retrieve", responses={200: EventOutputSerializer, **ERRORS})
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_DEVELOPERS)
        event = InboundEvent.objects.filter(
            merchant=self.merchant(request), public_id=public_id
        ).first()
        if event is None:
            raise PaymentNotFoundError("No such event.")
        return Response(EventOutputSerializer(event).data)
