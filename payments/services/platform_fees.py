"""The platform's fee on a merchant's charges: set by platform staff (audited), computed for
each charge when its row is created (`payments.services.payments`).

The processor takes the fee out of the charge as an application fee and reports it in the
charge's balance transaction (`Payment.platform_fee`, part of `Payment.fee`). Refunds leave it
with the platform (the processor's default: the fee is never refunded to the merchant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import InvalidPaymentRequestError
from payments.models import PlatformFee
from payments.money import MoneyError, format_amount, normalize_currency
from payments.platform_fee_models import MAX_FIXED_AMOUNT, MAX_RATE_BPS
from payments.services._common import audit

BPS_PER_WHOLE = 10_000


class PlatformFeeInvalidError(InvalidPaymentRequestError):
    code = "platform_fee_invalid"
    default_message = "The platform fee is not valid."


@dataclass(frozen=True)
class PlatformFeeTerms:
    """A merchant's platform fee as numbers: `rate_bps` of each charge plus `fixed_amount`
    minor units on charges in `fixed_currency`."""

    rate_bps: int = 0
    fixed_amount: int = 0
    fixed_currency: str = ""

    @property
    def is_zero(self) -> bool:
        return self.rate_bps == 0 and self.fixed_amount == 0

    def describe(self) -> str:
        """For people: '2.50% + £0.30 per GBP charge', '1.00%', 'none'."""
        parts = []
        if self.rate_bps:
            parts.append(f"{self.rate_bps / 100:.2f}%")
        if self.fixed_amount:
            currency = self.fixed_currency
            parts.append(
                f"{format_amount(self.fixed_amount, currency)} per {currency.upper()} charge"
            )
        return " + ".join(parts) or "none"


def _whole(value: Any, *, param: str, maximum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlatformFeeInvalidError(f"{what} must be a whole number.", param=param)
    whole: int = value
    if not 0 <= whole <= maximum:
        raise PlatformFeeInvalidError(f"{what} must be between 0 and {maximum}.", param=param)
    return whole


def platform_fee_terms_checked(
    *, rate_bps: Any, fixed_amount: Any, fixed_currency: Any
) -> PlatformFeeTerms:
    """Terms from untrusted input, or `PlatformFeeInvalidError` naming the bad field."""
    rate = _whole(rate_bps, param="rate_bps", maximum=MAX_RATE_BPS, what="The rate in basis points")
    fixed = _whole(
        fixed_amount,
        param="fixed_amount",
        maximum=MAX_FIXED_AMOUNT,
        what="The fixed amount in minor units",
    )
    currency = ""
    if fixed:
        if not isinstance(fixed_currency, str) or not fixed_currency.strip():
            raise PlatformFeeInvalidError(
                "A fixed amount needs its currency.", param="fixed_currency"
            )
        try:
            currency = normalize_currency(fixed_currency)
        except MoneyError as exc:
            raise PlatformFeeInvalidError(str(exc), param="fixed_currency") from exc
    return PlatformFeeTerms(rate_bps=rate, fixed_amount=fixed, fixed_currency=currency)


def platform_fee_terms(merchant: Merchant) -> PlatformFeeTerms:
    """The merchant's platform fee now (none when platform staff never set one)."""
    row = PlatformFee.objects.filter(merchant=merchant).first()
    if row is None:
        return PlatformFeeTerms()
    return PlatformFeeTerms(
        rate_bps=row.rate_bps, fixed_amount=row.fixed_amount, fixed_currency=row.fixed_currency
    )


def platform_fee_amount(*, terms: PlatformFeeTerms, amount: int, currency: str) -> int:
    """The fee on a charge of `amount` minor units of `currency`: the rate rounded half up,
    plus the fixed part in its own currency, never more than the charge."""
    fee = (amount * terms.rate_bps * 2 + BPS_PER_WHOLE) // (2 * BPS_PER_WHOLE)
    if terms.fixed_amount and currency == terms.fixed_currency:
        fee += terms.fixed_amount
    return min(fee, amount)


def platform_fee_prorated(*, requested: int, amount: int, captured: int) -> int:
    """The share of a charge's requested fee that a partial capture of `captured` carries
    (rounded half up): a merchant capturing half of an authorisation pays half its fee."""
    if amount <= 0 or requested <= 0:
        return 0
    return min((requested * captured * 2 + amount) // (2 * amount), captured)


def platform_fee_set(
    *,
    merchant: Merchant,
    rate_bps: Any,
    fixed_amount: Any,
    fixed_currency: Any = "",
    actor: Actor,
    request: HttpRequest | None = None,
) -> PlatformFee:
    """Platform staff set the merchant's platform fee; audited with before and after.

    Applies to charges created from now on: a charge already begun keeps the fee its row was
    created with (`Payment.platform_fee_requested`). Bad input changes nothing."""
    terms = platform_fee_terms_checked(
        rate_bps=rate_bps, fixed_amount=fixed_amount, fixed_currency=fixed_currency
    )
    with transaction.atomic():
        row, _ = PlatformFee.objects.select_for_update().get_or_create(merchant=merchant)
        before = {
            "rate_bps": row.rate_bps,
            "fixed_amount": row.fixed_amount,
            "fixed_currency": row.fixed_currency,
        }
        row.rate_bps = terms.rate_bps
        row.fixed_amount = terms.fixed_amount
        row.fixed_currency = terms.fixed_currency
        row.save()
        audit(
            action="platform_fee.set",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="merchant",
            target_id=merchant.public_id,
            payload={
                "before": before,
                "after": {
                    "rate_bps": row.rate_bps,
                    "fixed_amount": row.fixed_amount,
                    "fixed_currency": row.fixed_currency,
                },
            },
        )
    return row
