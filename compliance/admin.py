"""Read-only admin for the audit log: staff can search and read it, never change it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from compliance.models import AuditCheckpoint, AuditEntry, AuditVerification
from compliance.selectors import audit_chain_status
from config.admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "actor_kind",
        "actor_id",
        "merchant_public_id",
        "target_type",
        "target_id",
        "outcome",
        "position",
    )
    list_filter = ("outcome", "actor_kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=actor_id", "=target_id", "=merchant_public_id", "action", "=request_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_select_related = ("seal",)
    show_full_result_count = False
    exclude = ("stamp",)

    @admin.display(description="position")
    def position(self, obj: AuditEntry) -> str:
        seal = getattr(obj, "seal", None)
        return str(seal.position) if seal is not None else "pending"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        status = audit_chain_status()
        last = status.last_verification
        verification = (
            f"{last.result} at {last.finished_at:%Y-%m-%d %H:%M} UTC" if last else "never run"
        )
        checkpoint = status.last_checkpoint
        title = (
            f"Audit log: {status.size} sealed, {status.pending} pending; last checkpoint "
            f"{f'#{checkpoint.number} ({checkpoint.size})' if checkpoint else 'none'}; "
            f"last verification {verification}"
        )
        return super().changelist_view(request, {**(extra_context or {}), "title": title})


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("number", "size", "created_at", "head_hash", "public_key")
    ordering = ("-number",)


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "result", "verified", "first_bad_position", "problem")
    ordering = ("-finished_at",)
