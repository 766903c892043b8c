"""Staff admin for payments: what support looks up to answer a merchant.

Customers, payments, refunds, payment links and disputes of every merchant, read-only; the
platform fee of each merchant, set here by staff holding the permission, under a fresh
one-time password and audited. (Inbound events and their replay: inbound/admin.py.)
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from compliance.actors import Actor
from config.admin import ReadOnlyAdmin
from config.free_text import CardNumberGuardFormMixin
from payments.models import (
    Customer,
    Dispute,
    Payment,
    PaymentLink,
    PlatformFee,
    ProcessorOutage,
    Refund,
)
from payments.routing import OUTAGE_MARKS_SECONDS, processor_outage_set
from payments.services import PlatformFeeInvalidError, platform_fee_set
from payments.services.platform_fees import platform_fee_terms_checked

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
        "fee",
        "platform_fee_requested",
        "platform_fee",
        "net",
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


class PaymentChildAdmin(MerchantDataAdmin):
    """Refunds and disputes: found by their own id, their payment's or its customer's email."""

    list_filter = ("status",)
    search_fields = ("=public_id", "=payment__public_id", "payment__customer__email")
    list_select_related = ("merchant", "payment")
    ordering = ("-created_at", "-id")


@admin.register(Refund)
class RefundAdmin(PaymentChildAdmin):
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
class DisputeAdmin(PaymentChildAdmin):
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


@admin.register(ProcessorOutage)
class ProcessorOutageAdmin(ReadOnlyAdmin):
    """Mark a processor down for every merchant (pay pages use their secondary), or up again.

    Changes go through `payments.routing.processor_outage_set`, which audits them."""

    list_display = ("processor", "marked_down", "note", "updated_at")
    fields = list_display
    readonly_fields = list_display
    actions = ("mark_down", "mark_up")

    def has_toggle_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("payments.change_processoroutage"))

    def _set(self, request: HttpRequest, queryset: QuerySet[ProcessorOutage], down: bool) -> None:
        actor = Actor.for_user(request.user)
        for outage in queryset:
            processor_outage_set(processor=outage.processor, marked_down=down, actor=actor)
        state = "down" if down else "up"
        self.message_user(
            request,
            f"Marked {queryset.count()} processor(s) {state}; every pay page follows within "
            f"{OUTAGE_MARKS_SECONDS} s.",
            messages.SUCCESS,
        )

    @admin.action(description="Mark selected processors down", permissions=["toggle"])
    def mark_down(self, request: HttpRequest, queryset: QuerySet[ProcessorOutage]) -> None:
        self._set(request, queryset, True)

    @admin.action(description="Mark selected processors up", permissions=["toggle"])
    def mark_up(self, request: HttpRequest, queryset: QuerySet[ProcessorOutage]) -> None:
        self._set(request, queryset, False)


class PlatformFeeForm(CardNumberGuardFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = PlatformFee
        fields = ("merchant", "rate_bps", "fixed_amount", "fixed_currency")
        help_texts = {
            "rate_bps": "Basis points of each charge (250 = 2.50%), rounded half up; 0-2000.",
            "fixed_amount": "Minor units added to each charge in the fixed currency; 0-10000.",
            "fixed_currency": "ISO 4217 code of the fixed amount (needed when it is above 0).",
        }

    def clean(self) -> dict[str, Any]:
        """The service's own checks, so the page says what the service would refuse."""
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            terms = platform_fee_terms_checked(
                rate_bps=data.get("rate_bps"),
                fixed_amount=data.get("fixed_amount"),
                fixed_currency=data.get("fixed_currency") or "",
            )
        except PlatformFeeInvalidError as error:
            field = error.param if error.param in self.fields else None
            self.add_error(field, error.message)
            return data
        data["fixed_currency"] = terms.fixed_currency
        return data


@admin.register(PlatformFee)
class PlatformFeeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The platform's fee on each merchant's charges (Stripe's application fee).

    Only staff holding the model's add/change permission change it, with a one-time password
    from the last few minutes; every change goes through `platform_fee_set`, which audits it
    (before and after) in the same transaction. It applies to charges created afterwards."""

    form = PlatformFeeForm
    list_display = ("merchant", "rate_bps", "fixed_amount", "fixed_currency", "updated_at")
    list_select_related = ("merchant",)
    search_fields = ("merchant__slug", "merchant__public_id", "merchant__legal_name")
    ordering = ("merchant__slug",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("merchant", "updated_at") if obj is not None else ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a fee is ended by setting it to 0, which is audited

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        step_up_fresh = getattr(self.admin_site, "step_up_fresh", None)
        if step_up_fresh is None:  # a site without step-up: refuse rather than skip it
            raise PermissionDenied
        if not step_up_fresh(request):
            step_up_url = self.admin_site.step_up_url  # type: ignore[attr-defined]
            return HttpResponseRedirect(step_up_url(request.get_full_path()))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: PlatformFee, form: Any, change: bool) -> None:
        saved = platform_fee_set(
            merchant=obj.merchant,
            rate_bps=form.cleaned_data["rate_bps"],
            fixed_amount=form.cleaned_data["fixed_amount"],
            fixed_currency=form.cleaned_data["fixed_currency"],
            actor=Actor.for_user(request.user),
            request=request,
        )
        obj.pk = saved.pk
        obj.updated_at = saved.updated_at
