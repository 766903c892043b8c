"""The hook through which banking offers ACH debits to the payments API.

Payments never imports banking (see docs/architecture.md); banking registers its debit
function here from `BankingConfig.ready()`, the way it adds its webhook handlers. Without a
registered function, bank debits are refused as an invalid request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from payments.exceptions import InvalidPaymentRequestError
from payments.models import Payment


class BankDebitCreator(Protocol):
    def __call__(
        self,
        *,
        merchant: Merchant,
        bank_account: str,
        amount: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str] | None,
        idempotency_key: str,
        actor: Actor | None,
        request: HttpRequest | None,
        on_created: Callable[[Payment], None] | None,
        on_settled: Callable[[Payment], None] | None,
    ) -> Payment: ...


_creator: list[BankDebitCreator] = []


def bank_debit_creator_register(creator: BankDebitCreator) -> None:
    """Called once by banking at start-up; a second registration replaces the first."""
    _creator[:] = [creator]


def bank_debit_creator() -> BankDebitCreator:
    """The registered function that debits a merchant's linked bank account (`ba_...`)."""
    if not _creator:
        raise InvalidPaymentRequestError(
            "Bank debits are not available.", param="bank_account", code="bank_debits_disabled"
        )
    return _creator[0]
