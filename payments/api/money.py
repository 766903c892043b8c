"""Money-out API: `GET /balance`, `GET /payouts[/{id}]`, `GET /balance-transactions`.

Reads only (the processor makes payouts on its schedule); every object is looked up within the
key's merchant, so another merchant's id is a 404. Lists are cursor lists, newest first.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import ListQuerySerializer, public_id_pattern
from api.views import ERRORS, ApiView, list_response_serializer
from config.free_text import GuardedModelSerializer, GuardedSerializer
from config.permissions import Permission
from payments import selectors
from payments.models import BalanceTransaction, Payout, PayoutStatus


class FundsSerializer(GuardedSerializer):
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class BalanceSerializer(GuardedSerializer):
    object = serializers.CharField()
    available = FundsSerializer(many=True)
    pending = FundsSerializer(many=True)


class PayoutOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    failure_code = serializers.SerializerMethodField()
    failure_message = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="processor_created_at")

    class Meta:
        model = Payout
        fields = (
            "id",
            "object",
            "amount",
            "currency",
            "status",
            "arrival_date",
            "automatic",
            "processor",
            "failure_code",
            "failure_message",
            "created_at",
        )

    def get_object(self, obj: Payout) -> str:
        return "payout"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_code(self, obj: Payout) -> str | None:
        return obj.failure_code or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_message(self, obj: Payout) -> str | None:
        return obj.failure_message or None


class BalanceTransactionOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    # The metaclass takes declared fields off the class, so this shadows nothing at run time.
    source = serializers.SerializerMethodField()  # type: ignore[assignment]
    payout = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="processor_created_at")

    class Meta:
        model = BalanceTransaction
        fields = (
            "id",
            "object",
            "type",
            "amount",
            "fee",
            "net",
            "currency",
            "source",
            "payout",
            "available_on",
            "created_at",
        )

    def get_object(self, obj: BalanceTransaction) -> str:
        return "balance_transaction"

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="What moved the money: a payment (`pay_`), refund (`re_`), dispute "
            "(`dp_`) or payout (`po_`) id; null when Ledgerline holds no such object.",
        )
    )
    def get_source(self, obj: BalanceTransaction) -> str | None:
        for related in (obj.refund, obj.dispute, obj.payment):
            if related is not None:
                return related.public_id
        if obj.type.startswith("payout") and obj.payout is not None:
            return obj.payout.public_id
        return None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_payout(self, obj: BalanceTransaction) -> str | None:
        return obj.payout.public_id if obj.payout is not None else None


class PayoutListQuerySerializer(ListQuerySerializer):
    status = serializers.ChoiceField(choices=PayoutStatus.choices, required=False)


class BalanceTransactionListQuerySerializer(ListQuerySerializer):
    payout = serializers.RegexField(
        public_id_pattern("po"),
        max_length=32,
        required=False,
        help_text="Only what this payout carries (the items sum to its amount).",
    )


PayoutList = list_response_serializer("PayoutList", PayoutOutputSerializer)
BalanceTransactionList = list_response_serializer(
    "BalanceTransactionList", BalanceTransactionOutputSerializer
)


class BalanceApi(ApiView):
    @extend_schema(operation_id="balance_retrieve", responses={200: BalanceSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        balances = selectors.balance_summary(merchant=self.merchant(request))
        body: dict[str, Any] = {
            "object": "balance",
            "available": [{"amount": b.available, "currency": b.currency} for b in balances],
            "pending": [{"amount": b.pending, "currency": b.currency} for b in balances],
        }
        return Response(BalanceSerializer(body).data)


class PayoutsApi(ApiView):
    @extend_schema(
        operation_id="payouts_list",
        parameters=[PayoutListQuerySerializer],
        responses={200: PayoutList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        q = self.query(request, PayoutListQuerySerializer)
        page = selectors.payout_list(
            merchant=self.merchant(request),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
            status=q.get("status"),
        )
        return self.page(page, PayoutOutputSerializer, request)


class PayoutDetailApi(ApiView):
    @extend_schema(
        operation_id="payouts_retrieve", responses={200: PayoutOutputSerializer, **ERRORS}
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        payout = selectors.payout_get(merchant=self.merchant(request), public_id=public_id)
        return Response(PayoutOutputSerializer(payout).data)


class BalanceTransactionsApi(ApiView):
    @extend_schema(
        operation_id="balance_transactions_list",
        parameters=[BalanceTransactionListQuerySerializer],
        responses={200: BalanceTransactionList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_PAYMENTS)
        q = self.query(request, BalanceTransactionListQuerySerializer)
        merchant = self.merchant(request)
        payout = (
            selectors.payout_get(merchant=merchant, public_id=q["payout"])
            if q.get("payout")
            else None
        )
        page = selectors.balance_transaction_list(
            merchant=merchant,
            payout=payout,
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, BalanceTransactionOutputSerializer, request)
