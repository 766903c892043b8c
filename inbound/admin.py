"""Staff admin for inbound events: every event read-only, with an audited replay."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from compliance.actors import Actor
from config.admin import ReadOnlyAdmin
from inbound.models import InboundEvent, InboundEventStatus
from inbound.services import inbound_event_replay

REPLAY_PERMISSION = "inbound.replay_inboundevent"


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
