"""Merchant onboarding at the processor from the dashboard: ensure the account, get its link.

A service module of its own so the dashboard never reaches into the gateway: it makes sure
the merchant has a connected account (created through the API on first use) and asks the
processor for a one-time onboarding URL on the processor's own site.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from payments.gateways import DEFAULT_PROCESSOR, gateway_for
from payments.models import ProcessorAccount
from payments.services import merchant_account_refresh, merchant_connect_account_ensure


def merchant_onboarding_link(
    *,
    merchant: Merchant,
    actor: Actor | None,
    refresh_url: str,
    return_url: str,
    request: HttpRequest | None = None,
) -> str:
    """A fresh account-onboarding URL for the merchant's connected account.

    Account links expire within minutes and work once, so one is made per click; `refresh_url`
    is where the processor sends the merchant when the link has expired.
    """
    account = merchant_connect_account_ensure(merchant=merchant, actor=actor, request=request)
    return gateway_for(account).account_onboarding_link(
        account=account.processor_account_id, refresh_url=refresh_url, return_url=return_url
    )


def merchant_onboarding_return(*, merchant: Merchant) -> ProcessorAccount | None:
    """Back from onboarding: pull the account's capabilities now rather than wait for a webhook."""
    if not ProcessorAccount.objects.filter(merchant=merchant, processor=DEFAULT_PROCESSOR).exists():
        return None
    return merchant_account_refresh(merchant=merchant)
