"""Staff admin for banking: items, accounts and link sessions, read-only, never a secret.

No access token, vault row, URL-token hash or numbers fingerprint is shown. The one action,
rotating items' Plaid access tokens, needs the change permission on Plaid items (or superuser)
and goes through the audited service like every other change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from banking.models import BankAccount, BankLinkSession, PlaidItem
from banking.selectors import SYNCABLE_ITEM_STATUSES
from banking.services import plaid_item_rotate_access_token
from compliance.actors import Actor
from config.admin import ReadOnlyAdmin
from config.exceptions import ApplicationError

# Rotation replaces the item's vault secret: staff who may change Plaid items may rotate.
ROTATE_PERMISSION = "banking.change_plaiditem"


class _BankingAdmin(ReadOnlyAdmin):
    """Newest first, with only the listed `fields` shown (all read-only)."""

    ordering = ("-created_at", "-id")
    list_select_related = ("merchant",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return tuple(str(name) for name in self.fields or ())


@admin.register(PlaidItem)
class PlaidItemAdmin(_BankingAdmin):
    list_display = (
        "public_id",
        "merchant",
        "institution_name",
        "status",
        "error_code",
        "synced_at",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "item_id")
    fields = (
        "public_id",
        "merchant",
        "customer",
        "item_id",
        "institution_id",
        "institution_name",
        "status",
        "error_code",
        "created_at",
        "updated_at",
        "synced_at",
        "removed_at",
    )
    actions = ("rotate_access_token",)

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_superuser or user.has_perm(ROTATE_PERMISSION))

    @admin.action(description="Rotate the Plaid access token", permissions=["rotate"])
    def rotate_access_token(self, request: HttpRequest, queryset: QuerySet[PlaidItem]) -> None:
        actor = Actor.for_user(request.user)
        rotatable = queryset.filter(
            status__in=SYNCABLE_ITEM_STATUSES, access_token__isnull=False
        ).select_related("merchant", "access_token")
        rotated, failed = 0, []
        for item in rotatable:
            try:
                plaid_item_rotate_access_token(item=item, actor=actor, request=request)
                rotated += 1
            except ApplicationError as exc:
                failed.append(f"{item.public_id} ({exc.code})")
        skipped = queryset.count() - rotated - len(failed)
        self.message_user(request, f"Rotated {rotated} access token(s).", messages.SUCCESS)
        if failed:
            self.message_user(request, f"Not rotated: {', '.join(failed)}.", messages.ERROR)
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped} removed or revoked item(s): they have no token to rotate.",
                messages.WARNING,
            )


@admin.register(BankAccount)
class BankAccountAdmin(_BankingAdmin):
    list_display = (
        "public_id",
        "merchant",
        "institution_name",
        "name",
        "mask",
        "verification_state",
        "disconnected_at",
        "created_at",
    )
    list_filter = ("verification_state", "type")
    search_fields = ("public_id",)
    fields = (
        "public_id",
        "merchant",
        "customer",
        "item",
        "institution_name",
        "name",
        "mask",
        "type",
        "subtype",
        "verification_status",
        "verification_state",
        "code_attempts",
        "verified_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    )


@admin.register(BankLinkSession)
class BankLinkSessionAdmin(_BankingAdmin):
    list_display = ("public_id", "merchant", "status", "expires_at", "linked_at", "created_at")
    list_filter = ("status",)
    search_fields = ("public_id",)
    fields = (
        "public_id",
        "merchant",
        "customer",
        "status",
        "item",
        "expires_at",
        "linked_at",
        "created_at",
    )
