"""The data-requests API: a merchant opens GDPR access / erasure requests for its customers,
lists and reads them, and fetches the signed deletion certificate once an erasure completes.

Here in payments because customers are payments' objects and the api app's views and
idempotency layer are needed; the workflow itself is `compliance.services`. A key sees only
its merchant's requests (another's id is a 404).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.exceptions import InvalidRequestError
from api.idempotency import idempotency_finish, idempotency_mark_object_created
from api.models import IdempotencyRecord
from api.pagination import keyset_page
from api.serializers import JsonInputSerializer, ListQuerySerializer, public_id_pattern
from api.views import ERRORS, IDEMPOTENCY_HEADER, ApiView, api_actor, list_response_serializer
from compliance.models import (
    DataRequest,
    DataRequestStatus,
    DataRequestType,
    DataSubjectKind,
    ErasureGround,
)
from compliance.selectors import data_request_get, data_request_queryset
from compliance.services import data_request_attest, data_request_open
from config.exceptions import ConflictError, NotFoundError
from config.free_text import GuardedModelSerializer, GuardedSerializer
from config.permissions import Permission


class DataRequestNotCompletedError(ConflictError):
    code = "data_request_not_completed"
    default_message = "The certificate is issued once the erasure has completed."


class CertificateMissingError(NotFoundError):
    code = "certificate_missing"
    default_message = "Only an erasure request has a deletion certificate."


class DataRequestCreateInputSerializer(JsonInputSerializer):
    type = serializers.ChoiceField(choices=DataRequestType.values)
    customer = serializers.RegexField(
        public_id_pattern("cus"),
        max_length=32,
        help_text="The customer (`cus_...`); every customer record of yours with the same "
        "email address is included.",
    )
    ground = serializers.ChoiceField(
        choices=ErasureGround.values,
        required=False,
        help_text="Erasure only, and required for it: the Art. 17(1) ground, `art17_1_a` "
        "(no longer necessary) to `art17_1_f` (child's data).",
    )
    attestation = serializers.CharField(
        max_length=500,
        required=False,
        help_text="How you verified the requester's identity. Given, it is recorded as the "
        "request's verification (status `verified`); without it a compliance officer "
        "verifies. Never identity documents.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == DataRequestType.ERASURE and "ground" not in attrs:
            raise serializers.ValidationError(
                {"ground": "An erasure names its ground, Art. 17(1)(a)-(f)."}
            )
        if attrs["type"] == DataRequestType.ACCESS and "ground" in attrs:
            raise serializers.ValidationError({"ground": "Only an erasure has a ground."})
        return attrs


class DataRequestOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=DataRequestStatus.values)
    customer = serializers.CharField(source="subject_reference")
    ground = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="received_at")

    class Meta:
        model = DataRequest
        fields = (
            "id",
            "object",
            "type",
            "status",
            "customer",
            "ground",
            "created",
            "due_at",
            "verified_at",
            "completed_at",
        )

    def get_object(self, obj: DataRequest) -> str:
        return "data_request"

    def get_ground(self, obj: DataRequest) -> str | None:
        return obj.ground or None


class CertificateSerializer(GuardedSerializer):
    certificate = serializers.DictField(
        help_text="The signed content: request, pseudonymous subject, times, what each system "
        "did, processors' confirmation ids (docs/compliance.md)."
    )
    signature = serializers.CharField(help_text="Ed25519 over the RFC 8785 bytes, base64url.")


DataRequestList = list_response_serializer("DataRequestList", DataRequestOutputSerializer)


def _output(data_request: DataRequest) -> dict[str, Any]:
    return dict(DataRequestOutputSerializer(data_request).data)


class DataRequestsApi(ApiView):
    @extend_schema(
        operation_id="data_requests_list",
        parameters=[ListQuerySerializer],
        responses={200: DataRequestList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """The merchant's data requests, newest first."""
        self.require(request, Permission.VIEW_COMPLIANCE)
        q = self.query(request, ListQuerySerializer)
        page = keyset_page(
            data_request_queryset(merchant_public_id=self.merchant(request).public_id),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
            order_field="received_at",
        )
        return self.page(page, DataRequestOutputSerializer, request)

    @extend_schema(
        operation_id="data_requests_create",
        request=DataRequestCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: DataRequestOutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Open a GDPR access or erasure request for one of your customers. It is due one
        month after it is received; a Ledgerline compliance officer approves it, then it runs."""
        self.require(request, Permission.MANAGE_DATA_REQUESTS)
        data = self.body(request, DataRequestCreateInputSerializer)
        merchant = self.merchant(request)
        actor = api_actor(request)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            if record is not None and record.target_public_id:
                existing = data_request_get(
                    merchant_public_id=merchant.public_id, public_id=record.target_public_id
                )
                return 201, _output(existing)
            with transaction.atomic():
                try:
                    opened = data_request_open(
                        request_type=data["type"],
                        subject_kind=DataSubjectKind.CUSTOMER,
                        reference=data["customer"],
                        merchant_id=merchant.public_id,
                        ground=data.get("ground", ""),
                        actor=actor,
                    )
                except NotFoundError as error:
                    # An id given in the body that names nothing of this merchant: 400, as
                    # for every other resource (api.views.ERRORS).
                    raise InvalidRequestError(
                        "No such customer.", code="resource_missing", param="customer"
                    ) from error
                if data.get("attestation"):
                    opened = data_request_attest(
                        data_request=opened, actor=actor, how=data["attestation"]
                    )
                idempotency_mark_object_created(
                    record, target_type="data_request", public_id=opened.public_id
                )
                body = _output(opened)
                idempotency_finish(record, status=201, body=body)
            return 201, body

        return self.idempotent(request, operation, claim_with_object=True)


class DataRequestDetailApi(ApiView):
    @extend_schema(
        operation_id="data_requests_retrieve",
        responses={200: DataRequestOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_COMPLIANCE)
        data_request = data_request_get(
            merchant_public_id=self.merchant(request).public_id, public_id=public_id
        )
        return Response(_output(data_request))


class DataRequestCertificateApi(ApiView):
    @extend_schema(
        operation_id="data_requests_certificate",
        responses={
            200: OpenApiResponse(
                response=CertificateSerializer,
                description="The signed deletion certificate, as a file to keep: "
                "`manage.py verify_certificate FILE` checks it offline.",
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        """The deletion certificate of a completed erasure (409 before it completes; 404 for
        an access request, which has none)."""
        self.require(request, Permission.VIEW_COMPLIANCE)
        data_request = data_request_get(
            merchant_public_id=self.merchant(request).public_id, public_id=public_id
        )
        if data_request.type != DataRequestType.ERASURE:
            raise CertificateMissingError()
        if not data_request.certificate:
            raise DataRequestNotCompletedError()
        return Response(data_request.certificate)
