"""Input and output serializers of the banking API: public ids and display data only.

No access token, vault reference, routing number, account number or fingerprint is ever an
output field; the link URL's token appears only in a create answer (see views).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers import JsonInputSerializer, public_id_pattern
from banking.models import BankAccount, BankLinkSession
from config.free_text import GuardedModelSerializer


class BankLinkSessionCreateInputSerializer(JsonInputSerializer):
    customer = serializers.RegexField(
        public_id_pattern("cus"),
        max_length=32,
        error_messages={"invalid": "Give a customer id (cus_...)."},
    )


class BankLinkSessionOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer.public_id")
    url = serializers.SerializerMethodField()

    class Meta:
        model = BankLinkSession
        fields = ("id", "object", "customer", "status", "url", "expires_at", "created_at")

    def get_object(self, obj: BankLinkSession) -> str:
        return "bank_link_session"

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text="The one-time /link/<token>/ URL: only in the first create answer; "
            "null when the answer is replayed for an Idempotency-Key.",
        )
    )
    def get_url(self, obj: BankLinkSession) -> str | None:
        url = self.context.get("url")
        return url if isinstance(url, str) else None


class BankAccountOutputSerializer(GuardedModelSerializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer.public_id")
    item_status = serializers.CharField(source="item.status")
    can_move_money = serializers.BooleanField(read_only=True)

    class Meta:
        model = BankAccount
        fields = (
            "id",
            "object",
            "customer",
            "institution_name",
            "name",
            "mask",
            "type",
            "subtype",
            "verification_state",
            "verification_status",
            "item_status",
            "can_move_money",
            "created_at",
            "verified_at",
            "disconnected_at",
        )

    def get_object(self, obj: BankAccount) -> str:
        return "bank_account"
