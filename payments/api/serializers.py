"""Input and output serializers of the payments API: public ids only, money in minor units."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers import (
    ErrorDetailSerializer,
    JsonInputSerializer,
    ListQuerySerializer,
    MetadataField,
    public_id_pattern,
)
from config.free_text import GuardedModelSerializer, GuardedSerializer
from payments import dispute_evidence
from payments.models import (
    CaptureMethod,
    Customer,
    Dispute,
    DisputeStatus,
    Payment,
    PaymentLink,
    Processor,
    Refund,
)
from payments.money import MAXIMUM_AMOUNT
from payments.services import REFUND_REASONS
from payments.state import PaymentStatus

CUSTOMER_ID_PATTERN = public_id_pattern("cus")


class CardErrorDetailSerializer(ErrorDetailSerializer):
    decline_code = serializers.CharField(allow_null=True)
    payment = serializers.CharField(allow_null=True)


class CardErrorSerializer(GuardedSerializer):
    error = CardErrorDetailSerializer()


class PaymentListQuerySerializer(ListQuerySerializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    customer = serializers.CharField(max_length=32, required=False)
    created_gte = serializers.DateTimeField(required=False)
    created_lt = serializers.DateTimeField(required=False)


class PaymentCreateInputSerializer(JsonInputSerializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAXIMUM_AMOUNT)
    currency = serializers.RegexField(r"^[a-z]{3}$", max_length=3)
    # The processor's one-time token: a Stripe PaymentMethod id (`pm_...`), a Braintree
    # payment method nonce. Its exact shape is checked against `processor` in the view.
    payment_method = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$", max_length=120, required=False
    )
    # Which of the merchant's connected processors charges; default its primary.
    processor = serializers.ChoiceField(choices=Processor.choices, required=False)
    # Instead of a card: a linked, verified bank account (`ba_...`), debited by ACH in USD.
    bank_account = serializers.RegexField(r"^ba_[A-Za-z0-9]{1,40}$", max_length=48, required=False)
    capture_method = serializers.ChoiceField(
        choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC
    )
    customer = serializers.RegexField(CUSTOMER_ID_PATTERN, max_length=32, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    metadata = MetadataField(required=False)
    return_url = serializers.URLField(max_length=2000, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("payment_method" in attrs) == ("bank_account" in attrs):
            raise serializers.ValidationError(
                {"payment_method": "Send either payment_method (a card) or bank_account."}
            )
        if "bank_account" in attrs and attrs["capture_method"] != CaptureMethod.AUTOMATIC:
            raise serializers.ValidationError(
                {"capture_method": "Bank debits are captured automatically."}
            )
        return attrs


class CardSerializer(GuardedSerializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)
    fingerprint = serializers.CharField()
    country = serializers.CharField()


class NextActionSerializer(GuardedSerializer):
    type = serializers.CharField()
    redirect_url = serializers.URLField()


class PaymentOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = (
            "id",
            "object",
            "status",
            "amount",
            "amount_capturable",
            "amount_captured",
            "amount_refunded",
            "currency",
            "capture_method",
            "customer",
            "description",
            "metadata",
            "payment_method_type",
            "bank_last4",
            "processor",
            "card",
            "failure_code",
            "decline_code",
            "failure_message",
            "next_action",
            "fee",
            "platform_fee",
            "net",
            "created_at",
            "updated_at",
        )
        # Null until the processor reports the charge's balance transaction.
        extra_kwargs = {
            "fee": {
                "help_text": "Every fee kept of the charge (minor units), the platform's "
                "included; null until the processor reports it."
            },
            "platform_fee": {"help_text": "The platform's application fee, part of `fee`."},
            "net": {"help_text": "What reached the balance: amount captured less `fee`."},
        }

    def get_object(self, obj: Payment) -> str:
        return "payment"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_customer(self, obj: Payment) -> str | None:
        return obj.customer.public_id if obj.customer_id and obj.customer else None

    @extend_schema_field(CardSerializer(allow_null=True))
    def get_card(self, obj: Payment) -> dict[str, Any] | None:
        if not obj.card_last4:
            return None
        return {
            "brand": obj.card_brand,
            "last4": obj.card_last4,
            "exp_month": obj.card_exp_month,
            "exp_year": obj.card_exp_year,
            "fingerprint": obj.card_fingerprint,
            "country": obj.card_country,
        }

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, obj: Payment) -> dict[str, str] | None:
        if obj.status != PaymentStatus.REQUIRES_ACTION or not obj.next_action_url:
            return None
        return {"type": "redirect_to_url", "redirect_url": obj.next_action_url}


class PaymentCaptureInputSerializer(JsonInputSerializer):
    amount_to_capture = serializers.IntegerField(
        min_value=1, max_value=MAXIMUM_AMOUNT, required=False
    )


class PaymentCancelInputSerializer(JsonInputSerializer):
    cancellation_reason = serializers.ChoiceField(
        choices=["duplicate", "fraudulent", "requested_by_customer", "abandoned"], required=False
    )


class RefundCreateInputSerializer(JsonInputSerializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAXIMUM_AMOUNT, required=False)
    reason = serializers.ChoiceField(choices=list(REFUND_REASONS), required=False)


class RefundOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment.public_id")

    class Meta:
        model = Refund
        fields = (
            "id",
            "object",
            "payment",
            "amount",
            "currency",
            "status",
            "reason",
            "failure_reason",
            "fee",
            "net",
            "created_at",
        )

    def get_object(self, obj: Refund) -> str:
        return "refund"


class CustomerInputSerializer(JsonInputSerializer):
    # 254: the longest address SMTP carries, and the column's length.
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    metadata = MetadataField(required=False)


class CustomerListQuerySerializer(ListQuerySerializer):
    email = serializers.EmailField(max_length=254, required=False)


class CustomerOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ("id", "object", "email", "name", "description", "metadata", "created_at")

    def get_object(self, obj: Customer) -> str:
        return "customer"


class PaymentLinkCreateInputSerializer(JsonInputSerializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAXIMUM_AMOUNT)
    currency = serializers.RegexField(r"^[a-z]{3}$", max_length=3)
    description = serializers.CharField(max_length=500)
    reusable = serializers.BooleanField(default=False)
    expires_at = serializers.DateTimeField(required=False)


class PaymentLinkOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = PaymentLink
        fields = (
            "id",
            "object",
            "url",
            "amount",
            "currency",
            "description",
            "reusable",
            "expires_at",
            "active",
            "completed_at",
            "created_at",
        )

    def get_object(self, obj: PaymentLink) -> str:
        return "payment_link"

    def get_url(self, obj: PaymentLink) -> str:
        request = self.context.get("request")
        path = f"/pay/{obj.token}/"
        return request.build_absolute_uri(path) if request is not None else path


class DisputeListQuerySerializer(ListQuerySerializer):
    status = serializers.ChoiceField(choices=DisputeStatus.choices, required=False)


def _evidence_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {
        name: serializers.CharField(
            max_length=dispute_evidence.TEXT_MAX_LENGTH,
            required=False,
            allow_blank=True,
            help_text=label + (f". {help_text}" if help_text else ""),
        )
        for name, (label, help_text) in dispute_evidence.TEXT_FIELDS.items()
    }


# Text evidence, one field per supported piece (`payments.dispute_evidence.TEXT_FIELDS`);
# documents are sent from the dashboard, where they are checked and scanned.
DisputeEvidenceInputSerializer = type(
    "DisputeEvidenceInputSerializer", (JsonInputSerializer,), _evidence_fields()
)


class DisputeOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment.public_id")
    processor = serializers.CharField(source="payment.processor")

    class Meta:
        model = Dispute
        fields = (
            "id",
            "object",
            "payment",
            "amount",
            "currency",
            "status",
            "reason",
            "processor",
            "evidence_due_by",
            "evidence_submitted_at",
            "accepted_at",
            "created_at",
        )

    def get_object(self, obj: Dispute) -> str:
        return "dispute"
