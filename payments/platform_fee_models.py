"""The platform's fee on a merchant's charges (kept apart from payments.models, which imports
it: reached through `payments.models` like every payments model).

Set by platform staff only (the admin, `payments.services.platform_fee_set`, audited); the
merchant sees it read-only. The fee of a charge is `rate_bps` basis points of its amount,
rounded half up, plus `fixed_amount` when the charge is in `fixed_currency` (a fixed amount has
one currency: 30 cents are not 30 yen), never more than the charge itself
(`payments.services.platform_fee_amount`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

# Sane bounds, enforced by the service (with a clear message) and by the database: a platform
# fee above a fifth of the charge or 100.00 in the major unit is a typing error, not a price.
MAX_RATE_BPS = 2_000
MAX_FIXED_AMOUNT = 10_000


class PlatformFee(models.Model):
    """The application fee the platform takes on each of one merchant's charges."""

    merchant = models.OneToOneField(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="platform_fee"
    )
    rate_bps = models.PositiveIntegerField(default=0)
    fixed_amount = models.PositiveIntegerField(default=0)
    fixed_currency = models.CharField(max_length=3, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_bps__gte=0) & Q(rate_bps__lte=MAX_RATE_BPS),
                name="platform_fee_rate_bounded",
            ),
            models.CheckConstraint(
                condition=Q(fixed_amount__gte=0) & Q(fixed_amount__lte=MAX_FIXED_AMOUNT),
                name="platform_fee_fixed_bounded",
            ),
            # A fixed amount needs its currency; none is kept without one.
            models.CheckConstraint(
                condition=Q(fixed_amount=0, fixed_currency="")
                | Q(fixed_amount__gt=0, fixed_currency__regex=r"^[a-z]{3}$"),
                name="platform_fee_fixed_has_currency",
            ),
        ]

    def __str__(self) -> str:
        fixed = f"{self.fixed_amount} {self.fixed_currency}".strip()
        return f"{self.merchant_id}: {self.rate_bps} bps + {fixed}"
