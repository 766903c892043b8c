"""Merchant onboarding: the merchant's account at its processor and what it may do."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import MerchantNotReadyError
from payments.gateways import DEFAULT_PROCESSOR, gateway_named
from payments.models import ProcessorAccount, RoutingRank
from payments.services._common import audit, merchant_account


def merchant_connect_account_ensure(
    *,
    merchant: Merchant,
    actor: Actor | None = None,
    request: HttpRequest | None = None,
    processor: str = DEFAULT_PROCESSOR,
) -> ProcessorAccount:
    """The merchant's processor account, created at the processor on first use.

    Concurrent first calls share one idempotency key, so the processor creates one account.
    """
    existing = ProcessorAccount.objects.filter(merchant=merchant, processor=processor).first()
    if existing is not None:
        return existing
    data = gateway_named(processor).account_create(
        country=merchant.country, email="", key=f"{merchant.public_id}_connect_account"
    )
    try:
        with transaction.atomic():
            account = ProcessorAccount.objects.create(
                merchant=merchant,
                processor=processor,
                processor_account_id=data.id,
                charges_enabled=data.charges_enabled,
                payouts_enabled=data.payouts_enabled,
                details_submitted=data.details_submitted,
                # The merchant's first processor takes its payments.
                routing_rank=None
                if ProcessorAccount.objects.filter(
                    merchant=merchant, routing_rank=RoutingRank.PRIMARY
                ).exists()
                else RoutingRank.PRIMARY,
            )
            audit(
                action="merchant.processor_account_create",
                merchant=merchant,
                actor=actor or Actor.system("payments.onboarding"),
                request=request,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={"charges_enabled": data.charges_enabled},
            )
    except IntegrityError:
        # Another request stored the same account first.
        return ProcessorAccount.objects.get(merchant=merchant, processor=processor)
    return account


def merchant_account_refresh(*, merchant: Merchant) -> ProcessorAccount:
    """Pull the account's capabilities (also what the `account.updated` handler calls)."""
    account, gateway = merchant_account(merchant.pk)
    data = gateway.account_retrieve(account=account.processor_account_id)
    return processor_account_apply(
        account=account,
        charges_enabled=data.charges_enabled,
        payouts_enabled=data.payouts_enabled,
        details_submitted=data.details_submitted,
    )


def processor_account_apply(
    *,
    account: ProcessorAccount,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
) -> ProcessorAccount:
    with transaction.atomic():
        locked = ProcessorAccount.objects.select_for_update().get(pk=account.pk)
        locked.charges_enabled = charges_enabled
        locked.payouts_enabled = payouts_enabled
        locked.details_submitted = details_submitted
        locked.save(
            update_fields=["charges_enabled", "payouts_enabled", "details_submitted", "updated_at"]
        )
    return locked


def chargeable_account(merchant: Merchant, *, processor: str | None = None) -> ProcessorAccount:
    """The merchant's account at `processor` (None: its primary), which must be allowed to
    charge (else a 409 for the merchant). The default processor's account is opened on first
    use; another processor's is connected by the merchant (its settings page) or it is a 409."""
    account = None
    if processor is None:
        account = ProcessorAccount.objects.filter(
            merchant=merchant, routing_rank=RoutingRank.PRIMARY
        ).first()
    elif processor != DEFAULT_PROCESSOR:
        account = ProcessorAccount.objects.filter(merchant=merchant, processor=processor).first()
        if account is None:
            raise MerchantNotReadyError()
    if account is None:
        account = merchant_connect_account_ensure(merchant=merchant)
    if not account.charges_enabled:
        raise MerchantNotReadyError()
    return account
