"""ACH debits of linked bank accounts through Stripe, on the merchant's connected account.

Flow (Plaid's documented Stripe integration with the Payment Intents API):
1. refuse unless the account can move money (verified, connected, its Plaid item active) and
   the debit is in USD: nothing is created or charged;
2. the first debit of an account asks Plaid for a one-time Stripe bank-account token
   (`/processor/stripe/bank_account_token/create` -> `btok_`) and attaches it to the
   customer's Stripe twin as a source (`ba_`), whose id is kept on the account (an account
   Stripe verified itself already has its `us_bank_account` PaymentMethod there);
3. a `BankDebit` row keyed by the caller's idempotency key and its payment are committed
   together, then the PaymentIntent is created and confirmed with the key `<pay id>_create`
   (payments.services.payment_create_bank_debit). It answers `processing`; the
   `payment_intent.succeeded` / `payment_intent.payment_failed` webhooks settle the payment.
A repeated request with the same key finds the same payment and, if its outcome is still
unknown, resumes it with the same processor key: it never debits twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import Merchant
from banking.exceptions import (
    BankAccountNotFoundError,
    BankAccountNotVerifiedError,
    InvalidBankingRequestError,
)
from banking.gateways import plaid as plaid_gateway
from banking.models import BankAccount, BankDebit, PlaidItemStatus, VerificationState
from banking.selectors import bank_account_get
from banking.services import plaid_item_access_token
from compliance.actors import Actor
from compliance.services import audit_record
from payments import services as payments
from payments.models import Payment

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255


class BankDebitKeyReusedError(InvalidBankingRequestError):
    """The idempotency key names an earlier debit of another account or amount."""

    status_code = 422
    code = "idempotency_key_reused"
    default_message = "This idempotency key was used for another debit."


def bank_account_debit_check(*, account: BankAccount, currency: str) -> None:
    """Raise a 4xx ApplicationError unless this account may be debited in `currency`."""
    if account.disconnected_at is not None:
        raise BankAccountNotVerifiedError("The bank account was disconnected.")
    if account.item.status == PlaidItemStatus.LOGIN_REQUIRED:
        raise BankAccountNotVerifiedError(
            "The bank connection needs the customer to sign in again before it can be debited.",
            code="item_login_required",
        )
    if account.item.status != PlaidItemStatus.ACTIVE:
        raise BankAccountNotVerifiedError(
            f"The bank connection is {account.item.get_status_display().lower()}."
        )
    if account.verification_state != VerificationState.VERIFIED:
        raise BankAccountNotVerifiedError(
            f"The bank account is not verified ({account.get_verification_state_display()})."
        )
    if account.type != "depository" or account.subtype not in ("checking", "savings"):
        raise InvalidBankingRequestError(
            "Only checking and savings accounts can be debited.", param="bank_account"
        )
    if currency.strip().lower() != "usd":
        raise InvalidBankingRequestError(
            "Bank debits (ACH) are in USD only.", param="currency", code="currency_unsupported"
        )


def _stripe_payment_method(*, account: BankAccount, actor: Actor | None) -> str:
    """The account's debit instrument at Stripe; made from a fresh Plaid token the first time."""
    if account.stripe_payment_method_id:
        return account.stripe_payment_method_id
    token = plaid_gateway.processor_stripe_bank_account_token_create(
        access_token=plaid_item_access_token(item=account.item),
        account_id=account.plaid_account_id,
    )
    # A lost answer retried with the same token replays; a new token (a later attempt) is a
    # new request: at worst a spare source, never money moved.
    token_hash = hashlib.sha256(token.encode()).hexdigest()[:16]
    source = payments.customer_processor_bank_account_attach(
        customer=account.customer,
        token=token,
        idempotency_key=f"{account.public_id}_stripe_source_{token_hash}",
    )
    with transaction.atomic():
        locked = BankAccount.objects.select_for_update().get(pk=account.pk)
        if not locked.stripe_payment_method_id:
            locked.stripe_payment_method_id = source.id
            locked.save(update_fields=["stripe_payment_method_id", "updated_at"])
            audit_record(
                action="bank_account.stripe_source_create",
                request=None,
                actor=actor,
                merchant_id=account.merchant.public_id,
                target_type="bank_account",
                target_id=account.public_id,
                outcome="success",
                payload={"processor": "stripe", "last4": source.last4},
            )
    account.stripe_payment_method_id = locked.stripe_payment_method_id
    return locked.stripe_payment_method_id


def bank_account_debit(
    *,
    merchant: Merchant,
    account: BankAccount,
    amount: int,
    currency: str,
    idempotency_key: str,
    actor: Actor | None,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
    on_created: Callable[[Payment], None] | None = None,
    on_settled: Callable[[Payment], None] | None = None,
) -> Payment:
    """Debit a verified bank account of one of the merchant's customers by ACH.

    The same `idempotency_key` (per merchant) always means the same debit: a repeat returns
    that payment (resumed if its outcome is unknown) and never debits again.
    """
    if account.merchant_id != merchant.pk:
        raise InvalidBankingRequestError("No such bank account.", param="bank_account")
    key = idempotency_key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidBankingRequestError(
            "An idempotency key of 1-255 characters is required.", param="idempotency_key"
        )
    earlier = _earlier_debit(merchant=merchant, key=key, account=account, amount=amount)
    if earlier is not None:
        return earlier
    bank_account_debit_check(account=account, currency=currency)
    method = _stripe_payment_method(account=account, actor=actor)

    def record(payment: Payment) -> None:
        BankDebit.objects.create(
            merchant=merchant, bank_account=account, payment=payment, idempotency_key=key
        )
        # In the payment's own transaction: which account was debited, under which mandate.
        audit_record(
            action="bank_account.debit",
            request=request,
            actor=actor,
            merchant_id=merchant.public_id,
            target_type="bank_account",
            target_id=account.public_id,
            outcome="success",
            payload={
                "payment": payment.public_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "mandate": "offline",
                "step_up": step_up,
            },
        )
        if on_created is not None:
            on_created(payment)

    try:
        return payments.payment_create_bank_debit(
            merchant=merchant,
            actor=actor,
            customer=account.customer,
            amount=amount,
            currency=currency,
            payment_method=method,
            bank_last4=account.mask,
            description=description,
            metadata={**(metadata or {}), "ledgerline_bank_account": account.public_id},
            request=request,
            step_up=step_up,
            on_created=record,
            on_settled=on_settled,
        )
    except IntegrityError:
        # A concurrent request with the same key committed first: that one is the debit.
        earlier = _earlier_debit(merchant=merchant, key=key, account=account, amount=amount)
        if earlier is None:
            raise
        return earlier


def _earlier_debit(
    *, merchant: Merchant, key: str, account: BankAccount, amount: int
) -> Payment | None:
    debit = (
        BankDebit.objects.select_related("payment")
        .filter(merchant=merchant, idempotency_key=key)
        .first()
    )
    if debit is None:
        return None
    if debit.bank_account_id != account.pk or debit.payment.amount != amount:
        raise BankDebitKeyReusedError(param="idempotency_key")
    # Resumes only a debit whose processor outcome was never seen, with its own key.
    return payments.payment_resume(payment=debit.payment)


def bank_debit_from_api(
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
) -> Payment:
    """`POST /api/v1/payments` with `bank_account`: registered with payments.bank_debits."""
    try:
        account = bank_account_get(merchant=merchant, public_id=bank_account)
    except BankAccountNotFoundError as exc:
        raise InvalidBankingRequestError("No such bank account.", param="bank_account") from exc
    return bank_account_debit(
        merchant=merchant,
        account=account,
        amount=amount,
        currency=currency,
        idempotency_key=idempotency_key,
        actor=actor,
        description=description,
        metadata=metadata,
        request=request,
        on_created=on_created,
        on_settled=on_settled,
    )
