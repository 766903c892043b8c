"""Disputes and the evidence documents sent for them (kept apart from payments.models, which
imports them: a dispute is a payment's, reached through `payments.models` like every model)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from config.ids import new_public_id

_CURRENCY = Q(currency__regex=r"^[a-z]{3}$")


def _dispute_id() -> str:
    return new_public_id("dp")


def _evidence_file_id() -> str:
    return new_public_id("dpf")


class DisputeStatus(models.TextChoices):
    WARNING_NEEDS_RESPONSE = "warning_needs_response", "Warning needs response"
    WARNING_UNDER_REVIEW = "warning_under_review", "Warning under review"
    WARNING_CLOSED = "warning_closed", "Warning closed"
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Dispute(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=_dispute_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="disputes"
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.CASCADE, related_name="disputes"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32, choices=DisputeStatus.choices)
    reason = models.CharField(max_length=64, blank=True)
    # At the processor of its payment (`payment.processor`), like a refund's id.
    processor_dispute_id = models.CharField(max_length=64, unique=True)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    # When the merchant's evidence (or concession) reached the processor through Ledgerline.
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["merchant", "-created_at", "-id"], name="dispute_merchant_keyset"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY, name="dispute_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(status__in=DisputeStatus.values), name="dispute_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class DisputeEvidenceFile(models.Model):
    """A document sent as a dispute's evidence: what was sent (type, size, digest, the
    processor's file id), and its bytes only when the merchant asked to keep a copy."""

    public_id = models.CharField(
        max_length=32, unique=True, default=_evidence_file_id, editable=False
    )
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="evidence_files")
    field = models.CharField(max_length=40)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    processor_file_id = models.CharField(max_length=64)
    # Null unless the merchant ticked "keep a copy": evidence often holds a customer's data.
    content = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["dispute", "created_at"], name="dispute_file_dispute")]

    def __str__(self) -> str:
        return self.public_id
