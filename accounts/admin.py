"""Read-mostly admin for people, merchants and credentials: no secret or hash is ever shown.

The admin site itself is django-otp's OTPAdminSite (config/urls.py), so every page here
already needs an OTP-verified staff session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.exceptions import EnrolmentLinkRefusedError
from accounts.models import ApiKey, EnrolmentLink, Invitation, Membership, Merchant, User
from accounts.services import enrolment_link_issue
from config.admin import ReadOnlyAdmin


# django-stubs makes the admin classes generic over their model; Django's are not subscriptable.
class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    fields = ("merchant", "user", "role", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # No password field at all: not even the hash summary Django's UserAdmin shows.
    fields = (
        "public_id",
        "email",
        "full_name",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
    )
    readonly_fields = ("public_id", "email", "date_joined", "last_login")
    list_display = ("email", "public_id", "full_name", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff")
    search_fields = ("email", "public_id", "full_name")
    ordering = ("email",)
    inlines = [MembershipInline]
    actions = ["issue_enrolment_links"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_enrolment_link_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    @admin.action(
        description="Issue enrolment link (first authenticator)", permissions=["enrolment_link"]
    )
    def issue_enrolment_links(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        """Links are shown on the response page only, once: never in a message or the log."""
        issued, skipped = [], 0
        for user in queryset.order_by("email"):
            try:
                link = enrolment_link_issue(
                    user=user,
                    issued_by=request.user,  # type: ignore[arg-type]
                    via="admin",
                    request=request,
                )
            except EnrolmentLinkRefusedError:
                skipped += 1
                continue
            path = reverse("accounts:enrolment_link", args=[link.token])
            issued.append((user, link.link, request.build_absolute_uri(path)))
        if skipped:
            self.message_user(
                request, f"{skipped} selected user(s) have an authenticator already.", messages.INFO
            )
        if not issued:
            return None
        context = {**self.admin_site.each_context(request), "issued": issued, "opts": self.opts}
        response = TemplateResponse(request, "admin/accounts/enrolment_links.html", context)
        response["Cache-Control"] = "no-store, private"
        return response


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("legal_name", "slug", "public_id", "country", "default_currency", "created_at")
    search_fields = ("legal_name", "slug", "public_id")
    readonly_fields = ("public_id", "created_at")
    inlines = [MembershipInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "merchant__legal_name", "merchant__slug")
    list_select_related = ("user", "merchant")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    fields = (
        "public_id",
        "merchant",
        "name",
        "role",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    list_display = (
        "name",
        "prefix",
        "merchant",
        "role",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("role",)
    search_fields = ("name", "prefix", "merchant__slug")
    list_select_related = ("merchant",)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    fields = (
        "public_id",
        "merchant",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )
    readonly_fields = fields
    list_display = (
        "public_id",
        "merchant",
        "email",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
    )
    list_filter = ("role",)
    search_fields = ("public_id", "email", "merchant__slug")
    list_select_related = ("merchant",)


@admin.register(EnrolmentLink)
class EnrolmentLinkAdmin(ReadOnlyAdmin):
    fields = ("public_id", "user", "issued_by", "created_at", "expires_at", "used_at", "revoked_at")
    readonly_fields = fields
    list_display = ("public_id", "user", "issued_by", "created_at", "expires_at", "used_at")
    search_fields = ("public_id", "user__email", "user__public_id")
    list_select_related = ("user", "issued_by")
