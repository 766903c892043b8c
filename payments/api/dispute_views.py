"""Disputes API views: list and retrieve within the key's merchant, and text evidence.

Evidence runs through the idempotency layer: a retry with the same `Idempotency-Key` after a
lost processor answer reads the dispute back before sending anything (services).
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.idempotency import idempotency_claim_target
from api.models import IdempotencyRecord
from api.views import ERRORS, IDEMPOTENCY_HEADER, api_actor, list_response_serializer
from config.permissions import Permission
from payments import dispute_evidence, selectors, services
from payments.api import serializers as s
from payments.api.views import PaymentsApiView
from payments.exceptions import DisputeEvidenceError

DisputeList = list_response_serializer("DisputeList", s.DisputeOutputSerializer)


class DisputesApi(PaymentsApiView):
    @extend_schema(
        operation_id="disputes_list",
        parameters=[s.DisputeListQuerySerializer],
        responses={200: DisputeList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        q = self.query(request, s.DisputeListQuerySerializer)
        page = selectors.dispute_list(
            merchant=self.merchant(request),
            status=q.get("status"),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, s.DisputeOutputSerializer, request)


class DisputeDetailApi(PaymentsApiView):
    @extend_schema(
        operation_id="disputes_retrieve", responses={200: s.DisputeOutputSerializer, **ERRORS}
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        dispute = selectors.dispute_get(merchant=self.merchant(request), public_id=public_id)
        return Response(s.DisputeOutputSerializer(dispute).data)


class DisputeEvidenceApi(PaymentsApiView):
    @extend_schema(
        operation_id="disputes_evidence_submit",
        description="Submit text evidence for the card network's review. Evidence can be "
        "submitted once, before `evidence_due_by`; a text holding a card number is refused "
        "(400, `param` naming the field). Documents are sent from the dashboard.",
        request=s.DisputeEvidenceInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.DisputeOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.MANAGE_DISPUTES)
        dispute = selectors.dispute_get(merchant=self.merchant(request), public_id=public_id)
        data = self.body(request, s.DisputeEvidenceInputSerializer)
        try:
            text = dispute_evidence.clean_text(dict(data))
        except dispute_evidence.EvidenceError as error:
            raise DisputeEvidenceError(error.message, param=error.field) from error

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            resumed = idempotency_claim_target(
                record, target_type="dispute", public_id=dispute.public_id
            )
            submitted = services.dispute_evidence_submit(
                dispute=dispute,
                actor=api_actor(request),
                request=request,
                text=text,
                documents=[],
                keep_copy=False,
                # Without an Idempotency-Key each request is its own submission.
                key=record.key if record is not None else uuid.uuid4().hex,
                resumed=resumed,
            )
            return 200, s.DisputeOutputSerializer(submitted).data

        return self.idempotent(request, operation)
