"""Per-day payment totals and new-customer counts: what the overview reads for whole days
instead of aggregating payments and customers (docs/payments.md, "Overview").

One row per merchant, currency and UTC day, summing that day's succeeded payments exactly as
the overview filters them. Rows are written only by database triggers on the payments table
(`payments.day_totals`), in the transaction of the payment's own write, so every write path
(save, queryset update, bulk create and update, delete, raw SQL, COPY) keeps them exact.
Import the models from `payments.models`.
"""

from __future__ import annotations

from django.db import models


class PaymentDayTotal(models.Model):
    """The succeeded payments of one merchant in one currency on one UTC day (by `created_at`).

    A row whose payments all stopped counting keeps zeros until the next rebuild
    (`manage.py rebuild_payment_day_totals`) removes it.
    """

    # No index of its own: the unique constraint below starts with the merchant.
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    currency = models.CharField(max_length=3)
    day = models.DateField()
    # Sum of `amount_captured`, in minor units of `currency`.
    gross = models.BigIntegerField(default=0)
    # Sum of what the processor kept (`amount_captured - net`) of the payments whose balance
    # transaction it has reported; the others count once it does.
    kept = models.BigIntegerField(default=0)
    payment_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Day before currency: the overview reads a range of days in every currency.
            models.UniqueConstraint(
                fields=["merchant", "day", "currency"], name="payment_day_total_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.currency} {self.day:%Y-%m-%d}"


class CustomerDayCount(models.Model):
    """The customers one merchant created on one UTC day (by `created_at`): the overview's
    "New customers" for whole days. Kept by database triggers on the customers table, like
    `PaymentDayTotal`."""

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    customer_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "day"], name="customer_day_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.day:%Y-%m-%d}"
