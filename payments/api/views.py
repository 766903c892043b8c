"""Payments API views on `api.views.ApiView`: check the key's role, call a selector or a service.

Every object is looked up within the key's merchant, so another merchant's id is a 404.
POSTs run through the idempotency layer when an `Idempotency-Key` header is sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.idempotency import (
    idempotency_claim_target,
    idempotency_finish,
    idempotency_mark_object_created,
)
from api.models import IdempotencyRecord
from api.serializers import EmptySerializer, ListQuerySerializer
from api.views import ERRORS, IDEMPOTENCY_HEADER, ApiView, api_actor, list_response_serializer
from config.exceptions import ApplicationError
from config.permissions import Permission
from payments import selectors, services
from payments.api import serializers as s
from payments.bank_debits import bank_debit_creator
from payments.exceptions import (
    CardDeclinedError,
    InvalidPaymentRequestError,
)
from payments.models import PaymentLink, Refund
from payments.state import PaymentStatus

PaymentList = list_response_serializer("PaymentList", s.PaymentOutputSerializer)
RefundList = list_response_serializer("RefundList", s.RefundOutputSerializer)
CustomerList = list_response_serializer("CustomerList", s.CustomerOutputSerializer)
PaymentLinkList = list_response_serializer("PaymentLinkList", s.PaymentLinkOutputSerializer)


# `ApiView` whose error answers carry a card decline's code and payment. (A comment, not a
# docstring: drf-spectacular would print a base class's docstring as every operation's
# description.)
class PaymentsApiView(ApiView):
    def render_error(self, exc: ApplicationError) -> dict[str, Any]:
        body = super().render_error(exc)
        if isinstance(exc, CardDeclinedError):
            body["error"]["decline_code"] = exc.decline_code or None
            body["error"]["payment"] = exc.payment_public_id
        return body


# --- Payments -------------------------------------------------------------------------------


class PaymentsApi(PaymentsApiView):
    @extend_schema(
        operation_id="payments_list",
        parameters=[s.PaymentListQuerySerializer],
        responses={200: PaymentList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        q = self.query(request, s.PaymentListQuerySerializer)
        filters = selectors.PaymentFilters(
            status=q.get("status"),
            customer=q.get("customer"),
            created_gte=q.get("created_gte"),
            created_lt=q.get("created_lt"),
        )
        page = selectors.payment_list(
            merchant=self.merchant(request),
            filters=filters,
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, s.PaymentOutputSerializer, request)

    @extend_schema(
        operation_id="payments_create",
        request=s.PaymentCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.PaymentOutputSerializer,
            402: OpenApiResponse(
                response=s.CardErrorSerializer, description="Declined: the card was refused"
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        self.require(request, Permission.CREATE_PAYMENTS)
        data = self.body(request, s.PaymentCreateInputSerializer)
        merchant = self.merchant(request)
        customer = None
        if data.get("customer"):
            try:
                customer = selectors.customer_get(merchant=merchant, public_id=data["customer"])
            except ApplicationError as exc:
                raise InvalidPaymentRequestError("No such customer.", param="customer") from exc

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            if record is not None and record.target_public_id:
                payment = services.payment_resume(
                    payment=selectors.payment_get(
                        merchant=merchant, public_id=record.target_public_id
                    ),
                    return_url=data.get("return_url"),
                )
                return 201, s.PaymentOutputSerializer(payment).data
            answer: dict[str, Any] = {}

            def settled(payment: Any) -> None:
                # In the transaction that saves the processor's answer: the stored response
                # commits with the payment's new state.
                answer["body"] = s.PaymentOutputSerializer(payment).data
                idempotency_finish(record, status=201, body=answer["body"])

            def created(obj: Any) -> None:
                idempotency_mark_object_created(
                    record, target_type="payment", public_id=obj.public_id
                )

            if "bank_account" in data:
                payment = bank_debit_creator()(
                    merchant=merchant,
                    bank_account=data["bank_account"],
                    amount=data["amount"],
                    currency=data["currency"],
                    description=data.get("description", ""),
                    metadata=data.get("metadata"),
                    # Repeats of one request resume through the idempotency record above; the
                    # debit's own key only has to be unique per request.
                    idempotency_key=f"api_{uuid.uuid4().hex}",
                    actor=api_actor(request),
                    request=request,
                    on_created=created,
                    on_settled=settled,
                )
                return 201, answer.get("body") or s.PaymentOutputSerializer(payment).data
            payment = services.payment_create(
                merchant=merchant,
                actor=api_actor(request),
                amount=data["amount"],
                currency=data["currency"],
                payment_method=data["payment_method"],
                capture_method=data["capture_method"],
                customer=customer,
                description=data.get("description", ""),
                metadata=data.get("metadata"),
                return_url=data.get("return_url"),
                request=request,
                on_created=created,
                on_settled=settled,
            )
            if "body" in answer:
                return 201, answer["body"]
            return 201, s.PaymentOutputSerializer(payment).data

        # Creates always claim the key in the transaction that inserts the payment (see
        # api.idempotency): one commit fewer per create.
        return self.idempotent(request, operation, claim_with_object=True)


class PaymentDetailApi(PaymentsApiView):
    @extend_schema(
        operation_id="payments_retrieve", responses={200: s.PaymentOutputSerializer, **ERRORS}
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=public_id)
        return Response(s.PaymentOutputSerializer(payment).data)


class PaymentCaptureApi(PaymentsApiView):
    @extend_schema(
        operation_id="payments_capture",
        request=s.PaymentCaptureInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.PaymentOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.MANAGE_PAYMENTS)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=public_id)
        data = self.body(request, s.PaymentCaptureInputSerializer)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            result = payment
            if idempotency_claim_target(record, target_type="payment", public_id=payment.public_id):
                # A retry after a lost answer: what did the first attempt do?
                result = services.payment_reconcile(payment=payment)
            if record is None or result.status == PaymentStatus.REQUIRES_CAPTURE:
                result = services.payment_capture(
                    payment=payment,
                    actor=api_actor(request),
                    amount=data.get("amount_to_capture"),
                    request=request,
                )
            return 200, s.PaymentOutputSerializer(result).data

        return self.idempotent(request, operation)


class PaymentCancelApi(PaymentsApiView):
    @extend_schema(
        operation_id="payments_cancel",
        request=s.PaymentCancelInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.PaymentOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.MANAGE_PAYMENTS)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=public_id)
        data = self.body(request, s.PaymentCancelInputSerializer)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            result = payment
            if idempotency_claim_target(record, target_type="payment", public_id=payment.public_id):
                result = services.payment_reconcile(payment=payment)
                if result.status == PaymentStatus.CANCELED:
                    return 200, s.PaymentOutputSerializer(result).data
            result = services.payment_cancel(
                payment=result,
                actor=api_actor(request),
                reason=data.get("cancellation_reason"),
                request=request,
            )
            return 200, s.PaymentOutputSerializer(result).data

        return self.idempotent(request, operation)


class PaymentRefundsApi(PaymentsApiView):
    @extend_schema(
        operation_id="payments_refunds_list",
        parameters=[ListQuerySerializer],
        responses={200: RefundList, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=public_id)
        q = self.query(request, ListQuerySerializer)
        page = selectors.refund_list(
            payment=payment, limit=q["limit"], starting_after=q.get("starting_after")
        )
        return self.page(page, s.RefundOutputSerializer, request)

    @extend_schema(
        operation_id="payments_refunds_create",
        request=s.RefundCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.RefundOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.REFUND_PAYMENTS)
        payment = selectors.payment_get(merchant=self.merchant(request), public_id=public_id)
        data = self.body(request, s.RefundCreateInputSerializer)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            if record is not None and record.target_public_id:
                refund = services.refund_resume(
                    refund=Refund.objects.select_related("payment").get(
                        payment=payment, public_id=record.target_public_id
                    )
                )
            else:
                refund = services.refund_create(
                    payment=payment,
                    actor=api_actor(request),
                    amount=data.get("amount"),
                    reason=data.get("reason", ""),
                    request=request,
                    on_created=lambda obj: idempotency_mark_object_created(
                        record, target_type="refund", public_id=obj.public_id
                    ),
                )
            return 201, s.RefundOutputSerializer(refund).data

        return self.idempotent(request, operation)


# --- Customers ------------------------------------------------------------------------------


class CustomersApi(PaymentsApiView):
    @extend_schema(
        operation_id="customers_list",
        parameters=[s.CustomerListQuerySerializer],
        responses={200: CustomerList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_CUSTOMERS)
        q = self.query(request, s.CustomerListQuerySerializer)
        page = selectors.customer_list(
            merchant=self.merchant(request),
            email=q.get("email"),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, s.CustomerOutputSerializer, request)

    @extend_schema(
        operation_id="customers_create",
        request=s.CustomerInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.CustomerOutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        self.require(request, Permission.MANAGE_CUSTOMERS)
        data = self.body(request, s.CustomerInputSerializer)
        merchant = self.merchant(request)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            customer = services.customer_create(
                merchant=merchant,
                actor=api_actor(request),
                email=data.get("email", ""),
                name=data.get("name", ""),
                description=data.get("description", ""),
                metadata=data.get("metadata"),
                request=request,
            )
            return 201, s.CustomerOutputSerializer(customer).data

        return self.idempotent(request, operation)


class CustomerDetailApi(PaymentsApiView):
    @extend_schema(
        operation_id="customers_retrieve", responses={200: s.CustomerOutputSerializer, **ERRORS}
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_CUSTOMERS)
        customer = selectors.customer_get(merchant=self.merchant(request), public_id=public_id)
        return Response(s.CustomerOutputSerializer(customer).data)

    @extend_schema(
        operation_id="customers_update",
        request=s.CustomerInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.CustomerOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.MANAGE_CUSTOMERS)
        customer = selectors.customer_get(merchant=self.merchant(request), public_id=public_id)
        data = self.body(request, s.CustomerInputSerializer)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            updated = services.customer_update(
                customer=customer,
                actor=api_actor(request),
                fields=data,
                request=request,
            )
            return 200, s.CustomerOutputSerializer(updated).data

        return self.idempotent(request, operation)


# --- Payment links --------------------------------------------------------------------------


class PaymentLinksApi(PaymentsApiView):
    @extend_schema(
        operation_id="payment_links_list",
        parameters=[ListQuerySerializer],
        responses={200: PaymentLinkList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        q = self.query(request, ListQuerySerializer)
        page = selectors.payment_link_list(
            merchant=self.merchant(request),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, s.PaymentLinkOutputSerializer, request)

    @extend_schema(
        operation_id="payment_links_create",
        request=s.PaymentLinkCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.PaymentLinkOutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        self.require(request, Permission.MANAGE_PAYMENT_LINKS)
        data = self.body(request, s.PaymentLinkCreateInputSerializer)
        merchant = self.merchant(request)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            link = services.payment_link_create(
                merchant=merchant,
                actor=api_actor(request),
                amount=data["amount"],
                currency=data["currency"],
                description=data["description"],
                reusable=data["reusable"],
                expires_at=data.get("expires_at"),
                request=request,
            )
            return 201, s.PaymentLinkOutputSerializer(link, context={"request": request}).data

        return self.idempotent(request, operation)


class PaymentLinkDetailApi(PaymentsApiView):
    @extend_schema(
        operation_id="payment_links_retrieve",
        responses={200: s.PaymentLinkOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        link = selectors.payment_link_get(merchant=self.merchant(request), public_id=public_id)
        return Response(s.PaymentLinkOutputSerializer(link, context={"request": request}).data)


class PaymentLinkDeactivateApi(PaymentsApiView):
    @extend_schema(
        operation_id="payment_links_deactivate",
        request=EmptySerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.PaymentLinkOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.MANAGE_PAYMENT_LINKS)
        link: PaymentLink = selectors.payment_link_get(
            merchant=self.merchant(request), public_id=public_id
        )

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            result = services.payment_link_deactivate(
                link=link,
                actor=api_actor(request),
                request=request,
            )
            return 200, s.PaymentLinkOutputSerializer(result, context={"request": request}).data

        return self.idempotent(request, operation)
