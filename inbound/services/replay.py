"""Replay: a staff member gives a failed or dead event a fresh set of attempts (admin action)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from compliance.actors import Actor
from inbound.models import InboundEvent, InboundEventStatus, OutboxEntry
from inbound.services.outbox import REDISPATCH_AFTER, dispatch_inline_after_commit, relay_notify
from inbound.services.processing import inbound_event_audit


def inbound_event_replay(*, event: InboundEvent, actor: Actor) -> bool:
    """Give a failed or dead event a fresh set of attempts and publish it (staff action)."""
    with transaction.atomic():
        locked = (
            InboundEvent.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .get(pk=event.pk)
        )
        if locked.status not in (InboundEventStatus.FAILED, InboundEventStatus.DEAD):
            return False
        previous = locked.status
        now = timezone.now()
        locked.status = InboundEventStatus.RECEIVED
        locked.attempts = 0
        locked.next_attempt_at = now + REDISPATCH_AFTER
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        outbox = OutboxEntry.objects.create(event=locked, created_at=now)
        relay_notify()
        inbound_event_audit(
            locked, action="inbound_event.replay", actor=actor, extra={"from": previous}
        )
        dispatch_inline_after_commit(locked.pk, outbox.pk)
    return True
