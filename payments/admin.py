"""Staff admin for payments: inbound events (with an audited replay) and what support looks up.

Customers, payments, refunds, payment links and disputes of every merchant, read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from compliance.actors import Actor
from config.admin import ReadOnlyAdmin
from payments.models import (
    Customer,
    Dispute,
    InboundEvent,
    InboundEventStatus,
    Payment,
    PaymentLink,
    Refund,
)
from payments.webhooks import inbound_event_replay

REPLAY_PERMISSION = "payments.replay_inboundevent"


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "provider",
        "type",
        "status",
        "attempts",
        "merchant",
        "received_at",
        "processed_at",
        "next_attempt_at",
    )
    list_filter = ("provider", "status", "type")
    search_fields = ("public_id", "event_id", "account")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    list_select_related = ("merchant",)
    readonly_fields = (
        "public_id",
        "provider",
        "event_id",
        "type",
        "account",
        "merchant",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "received_at",
        "processed_at",
        "processor_created",
        "body_sha256",
        "payload",
    )
    actions = ("replay",)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_superuser or user.has_perm(REPLAY_PERMISSION))

    @admin.action(description="Replay selected failed or dead events", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        actor = Actor.for_user(request.user)
        replayable = queryset.filter(
            status__in=(InboundEventStatus.FAILED, InboundEventStatus.DEAD)
        )
        replayed = sum(inbound_event_replay(event=event, actor=actor) for event in replayable)
        skipped = queryset.count() - replayed
        self.message_user(request, f"Replayed {replayed} event(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped} event(s) that were not failed or dead.",
                messages.WARNING,
            )


# --- What support looks up to answer a merchant: read-only, searchable by public id and email.
# Fields are listed, never "__all__": no payment-link token (it opens the pay page), no card
# fingerprint or expiry, no metadata (free text a merchant controls); a card is brand + last 4.


class MerchantDataAdmin(ReadOnlyAdmin):
    list_per_page = 50
    show_full_result_count = False


@admin.register(Customer)
class CustomerAdmin(MerchantDataAdmin):
    fields = ("public_id", "merchant", "email", "name", "description", "created_at")
    readonly_fields = fields
    list_select_related = ("merchant",)
    list_display = ("public_id", "email", "name", "merchant", "created_at")
    search_fields = ("=public_id", "email", "merchant__slug")
    ordering = ("-created_at", "-id")


@admin.register(Payment)
class PaymentAdmin(MerchantDataAdmin):
    fields = (
        "public_id",
        "merchant",
        "customer",
        "payment_link",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "description",
        "paid_with",
        "card_country",
        "failure_code",
        "decline_code",
        "failure_message",
        "processor_payment_id",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    list_display = ("public_id", "merchant", "status", "amount", "currency", "customer_email")
    list_filter = ("status", "currency")
    search_fields = (
        "=public_id",
        "customer__email",
        "=customer__public_id",
        "=processor_payment_id",
    )
    list_select_related = ("merchant", "customer")
    ordering = ("-created_at", "-id")

    @admin.display(description="paid with")
    def paid_with(self, payment: Payment) -> str:
        return payment.method_label

    @admin.display(description="customer email", ordering="customer__email")
    def customer_email(self, payment: Payment) -> str:
        return payment.customer.email if payment.customer else ""


@admin.register(Refund)
class RefundAdmin(MerchantDataAdmin):
    fields = (
        "public_id",
        "merchant",
        "payment",
        "amount",
        "currency",
        "status",
        "reason",
        "failure_reason",
        "processor_refund_id",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    list_display = ("public_id", "payment", "merchant", "status", "amount", "currency")
    list_filter = ("status",)
    search_fields = ("=public_id", "=payment__public_id", "payment__customer__email")
    list_select_related = ("merchant", "payment")
    ordering = ("-created_at", "-id")


@admin.register(PaymentLink)
class PaymentLinkAdmin(MerchantDataAdmin):
    list_select_related = ("merchant",)
    fields = (
        "public_id",
        "merchant",
        "amount",
        "currency",
        "description",
        "reusable",
        "active",
        "expires_at",
        "completed_at",
        "deactivated_at",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("public_id", "merchant", "amount", "currency", "active", "created_at")
    list_filter = ("active", "reusable")
    search_fields = ("=public_id", "merchant__slug")
    ordering = ("-created_at", "-id")


@admin.register(Dispute)
class DisputeAdmin(MerchantDataAdmin):
    fields = (
        "public_id",
        "merchant",
        "payment",
        "amount",
        "currency",
        "status",
        "reason",
        "evidence_due_by",
        "processor_dispute_id",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("public_id", "payment", "merchant", "status", "amount", "evidence_due_by")
    list_filter = ("status",)
    search_fields = ("=public_id", "=payment__public_id", "payment__customer__email")
    list_select_related = ("merchant", "payment")
    ordering = ("-created_at", "-id")
