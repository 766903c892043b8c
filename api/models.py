"""The API's stored state: one `IdempotencyRecord` per (merchant, `Idempotency-Key`).

Dashboard money forms and the pay page keep their one-time submissions here too
(`api.form_tokens`, `payments.checkout`), so every "at most once" shares one table, one lease
and one 24-hour retention.
"""

from __future__ import annotations

from django.db import models


class RecoveryPoint(models.TextChoices):
    """Brandur Leach's atomic phases: each is committed before the next side effect."""

    STARTED = "started", "Started"
    OBJECT_CREATED = "object_created", "Object created"
    PROCESSOR_CALLED = "processor_called", "Processor called"
    FINISHED = "finished", "Finished"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one merchant: the request it belongs to and its final answer."""

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=8)
    request_path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    recovery_point = models.CharField(
        max_length=32, choices=RecoveryPoint.choices, default=RecoveryPoint.STARTED
    )
    # Set while a request holds the key; a lock older than the lease is taken over (crash).
    locked_at = models.DateTimeField(null=True, blank=True)
    # The object the request created, so a resumed request continues with it.
    target_type = models.CharField(max_length=32, blank=True)
    target_public_id = models.CharField(max_length=32, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_merchant_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.key} ({self.recovery_point})"
