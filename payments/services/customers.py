"""Customers: our rows, and their twins at the merchant's processor (made when first needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from payments.gateways import gateway_for
from payments.models import Customer, ProcessorAccount
from payments.services._common import audit


def customer_create(
    *,
    merchant: Merchant,
    actor: Actor | None,
    email: str = "",
    name: str = "",
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    request: HttpRequest | None = None,
) -> Customer:
    """A local customer; its Stripe twin is created when it first pays (see below)."""
    with transaction.atomic():
        customer = Customer.objects.create(
            merchant=merchant,
            email=email.strip().lower(),
            name=name.strip(),
            description=description.strip(),
            metadata=dict(metadata or {}),
        )
        audit(
            action="customer.create",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="customer",
            target_id=customer.public_id,
            payload={},
        )
    return customer


def customer_update(
    *,
    customer: Customer,
    actor: Actor | None,
    fields: Mapping[str, Any],
    request: HttpRequest | None = None,
) -> Customer:
    allowed = {"email", "name", "description", "metadata"}
    changes = {key: value for key, value in fields.items() if key in allowed}
    if "email" in changes:
        changes["email"] = str(changes["email"]).strip().lower()
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        for key, value in changes.items():
            setattr(locked, key, value)
        locked.save()
        audit(
            action="customer.update",
            merchant=locked.merchant,
            actor=actor,
            request=request,
            target_type="customer",
            target_id=locked.public_id,
            payload={"fields": sorted(changes)},
        )
    if locked.processor_customer_id and changes:
        account = ProcessorAccount.objects.get(
            merchant_id=locked.merchant_id, processor=locked.processor
        )
        remote = {k: str(v) for k, v in changes.items() if k in {"email", "name", "description"}}
        if remote:
            gateway_for(locked).customer_update(
                account=account.processor_account_id,
                customer=locked.processor_customer_id,
                **remote,
            )
    return locked


def customer_processor_ensure(*, customer: Customer, account: ProcessorAccount) -> str | None:
    """The customer's id at the account's processor, its twin created there on first use.

    A customer has its twin at one processor: a payment routed to another processor is made
    without a processor customer there (None), which only means the card is not kept with one.
    """
    if customer.processor_customer_id:
        if customer.processor != account.processor:
            return None
        return customer.processor_customer_id
    data = gateway_for(account).customer_ensure(
        account=account.processor_account_id,
        key=f"{customer.public_id}_create",
        reference=customer.public_id,
        email=customer.email,
        name=customer.name,
        description=customer.description,
    )
    Customer.objects.filter(pk=customer.pk, processor_customer_id="").update(
        processor=account.processor, processor_customer_id=data.id
    )
    customer.processor = account.processor
    customer.processor_customer_id = data.id
    return data.id
