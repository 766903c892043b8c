"""Bank accounts at the processor, for banking's ACH debits: a source made from Plaid's token,
or the processor's own collection and micro-deposit verification. None of these moves money;
the debit itself is `payment_create_bank_debit`. Published for banking (`payments.services`).
"""

from __future__ import annotations

from collections.abc import Mapping

from accounts.models import Merchant
from payments.exceptions import ProcessorRequestError
from payments.gateways import DEFAULT_PROCESSOR, gateway_for
from payments.gateways.base import BankSetup, BankSource, PaymentGateway
from payments.models import Customer, ProcessorAccount
from payments.services._common import merchant_account
from payments.services.accounts import chargeable_account
from payments.services.customers import customer_processor_ensure


def _customer_at_processor(customer: Customer) -> tuple[ProcessorAccount, PaymentGateway, str]:
    # Bank accounts are kept at the default processor (Stripe's ACH), whatever the routing.
    account = chargeable_account(customer.merchant, processor=DEFAULT_PROCESSOR)
    gateway = gateway_for(account)
    gateway.ensure_available()
    twin = customer_processor_ensure(customer=customer, account=account)
    if twin is None:
        raise ProcessorRequestError(
            "This customer is kept at another processor; bank debits need one at this one.",
            code="customer_at_other_processor",
        )
    return account, gateway, twin


def customer_processor_bank_account_attach(
    *, customer: Customer, token: str, idempotency_key: str
) -> BankSource:
    """Attach a one-time bank-account token (Plaid's processor token) to the customer's twin
    at the merchant's processor. The caller keeps the source's id (`BankSource.id`)."""
    account, gateway, processor_customer = _customer_at_processor(customer)
    return gateway.bank_source_attach(
        account=account.processor_account_id,
        customer=processor_customer,
        token=token,
        key=idempotency_key,
    )


def customer_processor_bank_setup_create(
    *, customer: Customer, idempotency_key: str, metadata: Mapping[str, str] | None = None
) -> BankSetup:
    """Ask the merchant's processor to collect and verify (by micro-deposits) a bank account
    of the customer."""
    account, gateway, processor_customer = _customer_at_processor(customer)
    return gateway.bank_setup_create(
        account=account.processor_account_id,
        customer=processor_customer,
        key=idempotency_key,
        metadata=metadata or {},
    )


def merchant_bank_setup_retrieve(*, merchant: Merchant, intent_id: str) -> BankSetup:
    account, gateway = merchant_account(merchant.pk)
    return gateway.bank_setup_retrieve(account=account.processor_account_id, setup=intent_id)


def merchant_bank_setup_verify(
    *, merchant: Merchant, intent_id: str, descriptor_code: str, idempotency_key: str
) -> BankSetup:
    account, gateway = merchant_account(merchant.pk)
    gateway.ensure_available()
    return gateway.bank_setup_verify(
        account=account.processor_account_id,
        setup=intent_id,
        code=descriptor_code,
        key=idempotency_key,
    )
