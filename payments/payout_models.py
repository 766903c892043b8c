"""Money out: payouts and balance transactions, mirrored from the merchant's processor.

The processor is the source of truth for the balance, its fees and payouts (docs/payments.md,
"Money out"); these rows mirror it through webhooks and reconciliation
(`payments.payout_events`). Amounts are integer minor units; `net` is always `amount - fee`.
Import them from `payments.models`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# `payments.models` imports this module at its end, once these are defined there (the id
# makers stay there: the first payouts migration names them as `payments.models._payout_id`).
from payments.models import Processor, _balance_transaction_id, _payout_id

_CURRENCY = Q(currency__regex=r"^[a-z]{3}$")


class PayoutStatus(models.TextChoices):
    """A payout's life at the processor; `PAYOUT_STATUS_RANK` orders it (forward only)."""

    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class Payout(models.Model):
    """Money sent from the merchant's processor balance to its bank account, mirrored."""

    public_id = models.CharField(max_length=32, unique=True, default=_payout_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="payouts"
    )
    processor = models.CharField(max_length=16, choices=Processor.choices, default=Processor.STRIPE)
    processor_payout_id = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=PayoutStatus.choices)
    automatic = models.BooleanField(default=True)
    arrival_date = models.DateTimeField()
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=500, blank=True, default="")
    processor_created_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "processor_payout_id"], name="payout_one_per_processor"
            ),
            models.CheckConstraint(condition=_CURRENCY, name="payout_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(status__in=PayoutStatus.values), name="payout_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(processor__in=Processor.values), name="payout_processor_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "-processor_created_at", "-id"], name="payout_merchant_keyset"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class BalanceTransactionType(models.TextChoices):
    """What moved the balance (the processor's types, mapped by the gateway)."""

    CHARGE = "charge", "Payment"
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"
    PAYOUT = "payout", "Payout"
    PAYOUT_FAILURE = "payout_failure", "Payout returned"
    PAYOUT_CANCEL = "payout_cancel", "Payout canceled"
    FEE = "fee", "Fee"
    ADJUSTMENT = "adjustment", "Adjustment"
    OTHER = "other", "Other"


class BalanceTransaction(models.Model):
    """One movement of the merchant's processor balance: gross `amount`, `fee`, `net`.

    `source_*` names our row it is about (a payment, refund, dispute or payout) when we have
    one; `payout` is the payout that swept it (or the payout it belongs to).
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=_balance_transaction_id, editable=False
    )
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="balance_transactions"
    )
    processor = models.CharField(max_length=16, choices=Processor.choices, default=Processor.STRIPE)
    processor_transaction_id = models.CharField(max_length=64)
    type = models.CharField(max_length=32, choices=BalanceTransactionType.choices)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    net = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True, default="")
    processor_source_id = models.CharField(max_length=64, blank=True, default="")
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refund = models.ForeignKey(
        "payments.Refund", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dispute = models.ForeignKey(
        "payments.Dispute", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # No index of its own: `balance_txn_payout_items` (payout, time, id) serves every lookup,
    # and a second, narrower one let PostgreSQL's generic plan (psycopg prepares a query after
    # five runs) sort a 100,000-item payout instead of reading its first page off the index.
    payout = models.ForeignKey(
        Payout,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="balance_transactions",
        db_index=False,
    )
    available_on = models.DateTimeField()
    processor_created_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "processor_transaction_id"],
                name="balance_txn_one_per_processor",
            ),
            models.CheckConstraint(condition=_CURRENCY, name="balance_txn_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(net=F("amount") - F("fee")), name="balance_txn_net_is_amount_less_fee"
            ),
            models.CheckConstraint(
                condition=Q(type__in=BalanceTransactionType.values),
                name="balance_txn_type_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "-processor_created_at", "-id"],
                name="balance_txn_merchant_keyset",
            ),
            # A payout's items page, newest first, off the key; its contents (totals by type)
            # from the index alone on PostgreSQL: without the included columns, a payout of
            # 100,000 items read as many heap rows on every cold detail page (bench payouts).
            models.Index(
                fields=["payout", "processor_created_at", "id"],
                include=["type", "amount", "fee", "net", "processor_source_id"],
                name="balance_txn_payout_items",
            ),
            models.Index(fields=["merchant", "currency", "available_on"], name="balance_txn_funds"),
        ]

    def __str__(self) -> str:
        return self.public_id
