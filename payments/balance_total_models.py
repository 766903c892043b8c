"""Running balance totals: what the balance (overview and `/balance/`) reads instead of summing
every balance transaction the merchant ever had (docs/payments.md, "Balance").

One row per merchant, processor and currency, summing the `net` of all its balance
transactions. Rows are written only by database triggers on the balance transactions table
(`payments.balance_total_triggers`), in the transaction of the balance transaction's own write,
so every write path keeps them exact. Import the model from `payments.models`.
"""

from __future__ import annotations

from django.db import models


class BalanceTotal(models.Model):
    """The net of every balance transaction of one merchant with one processor in one currency.

    Available and pending are not stored: pending (the rows whose `available_on` is still to
    come) is read off the `balance_txn_funds` index at request time, and available is the total
    less pending. A row whose transactions were all deleted keeps zeros until the next rebuild
    (`manage.py rebuild_payment_day_totals`) removes it.
    """

    # No index of its own: the unique constraint below starts with the merchant.
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    processor = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    # Sum of `net`, in minor units of `currency`.
    net = models.BigIntegerField(default=0)
    # How many balance transactions the sum covers: a currency with transactions whose net
    # adds up to zero still shows (at zero), as it did when the balance was summed per request.
    transaction_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "processor", "currency"], name="balance_total_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.processor} {self.currency}"
