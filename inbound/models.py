"""Inbound processor events: every provider's events, stored verbatim, and their outbox rows.

The tables keep the names they had when these models lived in `payments` (`db_table`): the
move (inbound/migrations/0001_initial.py) changed which app owns them, not a row, an index or
the raw SQL that names them (`inbound.services.ingest` reads the names from this metadata).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.ids import new_public_id


def _event_id() -> str:
    return new_public_id("evt")


class EventProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PLAID = "plaid", "Plaid"
    BRAINTREE = "braintree", "Braintree"


class InboundEventStatus(models.TextChoices):
    # Also "in flight": a worker holds the row lock while it works (inbound.services.processing),
    # so a killed worker never leaves a stale "processing" flag behind; the lock dies with it.
    RECEIVED = "received", "Received"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored"
    DEAD = "dead", "Dead-lettered"


class InboundEvent(models.Model):
    """One event a processor sent us, stored verbatim under its provider id before any work."""

    public_id = models.CharField(max_length=32, unique=True, default=_event_id, editable=False)
    provider = models.CharField(max_length=16, choices=EventProvider.choices)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=128)
    # Stripe Connect's `account` (the merchant's connected account); empty for platform events.
    account = models.CharField(max_length=64, blank=True, default="")
    merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_events",
    )
    payload = models.JSONField()
    # SHA-256 of the raw body as signed, so the stored event can be matched to what arrived.
    body_sha256 = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=InboundEventStatus.choices, default=InboundEventStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    # When the sweeper should hand the event to a worker again if it is still not done.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    processor_created = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payments_inboundevent"
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="inbound_event_unique"),
            models.CheckConstraint(
                condition=Q(status__in=InboundEventStatus.values),
                name="inbound_event_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "-received_at", "-id"], name="inbound_event_merchant_keyset"
            ),
            models.Index(fields=["status", "next_attempt_at"], name="inbound_event_due"),
        ]
        permissions = [("replay_inboundevent", "Can replay failed or dead inbound events")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} ({self.status})"


class OutboxEntry(models.Model):
    """An event still to be handed to the broker, written in the same transaction as the event.

    `dispatched_at` is set once a publish succeeded; the relay publishes the rest, so a broker
    outage during the request delays processing but never loses it.
    """

    event = models.ForeignKey(InboundEvent, on_delete=models.CASCADE, related_name="outbox")
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payments_outboxentry"
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="outbox_undispatched",
            ),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} -> {self.event_id}"


# Events a worker may still apply: never applied, or failed and due for another attempt.
PENDING_STATUSES = (InboundEventStatus.RECEIVED, InboundEventStatus.FAILED)
