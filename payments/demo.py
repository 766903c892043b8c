"""Demo payments for `seed_demo`: customers, card payments through the processor, a link.

Everything goes through the real services and the processor (the sandbox under `make run`),
so the dashboard's refunds and captures work on the demo rows exactly as on real ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accounts.models import Merchant
from compliance.actors import Actor
from payments import services
from payments.exceptions import CardDeclinedError
from payments.models import CaptureMethod, Payment

ACTOR = Actor.system("seed_demo")


@dataclass(frozen=True)
class DemoPayment:
    email: str
    amount: int
    payment_method: str
    capture_method: str = CaptureMethod.AUTOMATIC
    refund: int = 0


DEMO_PAYMENTS = (
    DemoPayment("ada@example.test", 1250, "pm_card_visa"),
    DemoPayment("grace@example.test", 4800, "pm_card_mastercard", refund=800),
    DemoPayment("alan@example.test", 2399, "pm_card_amex"),
    DemoPayment("ada@example.test", 15000, "pm_card_visa", capture_method=CaptureMethod.MANUAL),
    DemoPayment("linus@example.test", 990, "pm_card_chargeDeclinedInsufficientFunds"),
)


def _seed_merchant(merchant: Merchant) -> str:
    if Payment.objects.filter(merchant=merchant).exists():
        return f"{merchant.slug}: demo payments already present"
    services.merchant_connect_account_ensure(merchant=merchant, actor=ACTOR)
    customers = {}
    for spec in DEMO_PAYMENTS:
        if spec.email not in customers:
            customers[spec.email] = services.customer_create(
                merchant=merchant, actor=ACTOR, email=spec.email, name=spec.email.split("@")[0]
            )
        try:
            payment = services.payment_create(
                merchant=merchant,
                actor=ACTOR,
                amount=spec.amount,
                currency=merchant.default_currency,
                payment_method=spec.payment_method,
                capture_method=spec.capture_method,
                customer=customers[spec.email],
                description="Demo order",
            )
        except CardDeclinedError:
            continue  # the declined attempt is recorded on the payment, as in real life
        if spec.refund:
            services.refund_create(payment=payment, actor=ACTOR, amount=spec.refund)
    services.payment_link_create(
        merchant=merchant,
        actor=ACTOR,
        amount=2500,
        currency=merchant.default_currency,
        description="Demo gift card",
        reusable=True,
    )
    count = Payment.objects.filter(merchant=merchant).count()
    return f"{merchant.slug}: {count} demo payments, {len(customers)} customers, 1 payment link"


def seed_demo_payments(merchants: Mapping[str, Merchant]) -> list[str]:
    return [_seed_merchant(merchant) for merchant in merchants.values()]
