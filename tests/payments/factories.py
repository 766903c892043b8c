"""factory_boy factories for payments tests (the shared ones live in tests/factories.py)."""

from __future__ import annotations

from typing import Any

import factory

from accounts.api_keys import generate_secret, hash_secret
from accounts.models import ApiKey
from accounts.roles import Role
from inbound.models import EventProvider, InboundEvent
from payments.models import Customer, Payment, PaymentLink
from payments.state import PaymentStatus
from tests.factories import MerchantFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    merchant = factory.SubFactory(MerchantFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    name = factory.Sequence(lambda n: f"Customer {n}")


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment as a row only (no processor call): for selectors, pagination and isolation."""

    class Meta:
        model = Payment

    merchant = factory.SubFactory(MerchantFactory)
    amount = 1500
    currency = "gbp"
    status = PaymentStatus.SUCCEEDED
    amount_captured = factory.LazyAttribute(
        lambda o: o.amount if o.status == PaymentStatus.SUCCEEDED else 0
    )
    stripe_payment_method_id = "pm_card_visa"
    card_brand = "visa"
    card_last4 = "4242"


class PaymentLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentLink

    merchant = factory.SubFactory(MerchantFactory)
    amount = 2500
    currency = "gbp"
    description = "Annual subscription"


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    provider = EventProvider.STRIPE
    event_id = factory.Sequence(lambda n: f"evt_factory_{n}")
    type = "payment_intent.payment_failed"
    merchant = factory.SubFactory(MerchantFactory)
    payload = factory.LazyFunction(dict)


def api_key_for(merchant: Any, role: str = Role.OWNER) -> tuple[ApiKey, str]:
    """A new API key row for `merchant` and its secret (shown once, as in production)."""
    secret = generate_secret()
    key = ApiKey.objects.create(
        merchant=merchant,
        name=f"{role} key",
        role=role,
        prefix=secret[:12],
        secret_hash=hash_secret(secret),
    )
    return key, secret


def card_payment(merchant: Any, **extra: Any) -> Any:
    """A 20.00 GBP card payment made through the sandbox (captured unless `capture_method`)."""
    from payments import services

    return services.payment_create(
        merchant=merchant,
        actor=None,
        amount=2000,
        currency="gbp",
        payment_method="pm_card_visa",
        **extra,
    )
