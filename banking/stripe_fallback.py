"""Stripe's own micro-deposits: the second fallback when Plaid's micro-deposits failed or expired.

On the customer's `/link/<token>/` page an account whose Plaid verification failed or expired
can be verified by Stripe instead:
1. `stripe_fallback_start`: a SetupIntent on the merchant's connected account (us_bank_account,
   verification by micro-deposits only) for the customer's Stripe twin; its client secret goes
   to the page, never to storage.
2. The page runs Stripe.js (`collectBankAccountForSetup`, `confirmUsBankAccountSetup`): the
   customer types routing and account numbers on Stripe's form, on Stripe's origin, and accepts
   the mandate there. Ledgerline never sees the numbers.
3. `stripe_fallback_collected`: we read the SetupIntent back; once Stripe sent the deposits
   (`requires_action`, verify_with_microdeposits) the verification awaits the code. The account
   Stripe collected must end in the same 4 digits as the one linked through Plaid.
4. `stripe_fallback_verify`: the customer returns with the code from the deposit's statement
   description; we call verify_microdeposits. A wrong code is counted (Stripe allows 10; we
   refuse before asking Stripe an 11th time); success marks the account verified by Stripe and
   keeps the verified PaymentMethod for ACH debits (banking.ach). Every change is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from banking.exceptions import (
    BankLinkSessionUnavailableError,
    InvalidBankingRequestError,
    PlaidMicrodepositCodeError,
)
from banking.models import (
    BankAccount,
    BankLinkSession,
    PlaidItemStatus,
    StripeBankVerification,
    StripeVerificationStatus,
    VerificationState,
)
from banking.services import bank_link_session_check_usable
from compliance.actors import Actor
from compliance.services import audit_record
from inbound.models import InboundEvent
from payments import services as payments
from payments.exceptions import ProcessorRequestError

logger = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = 10  # Stripe fails the SetupIntent at the 10th wrong answer
OPEN = (StripeVerificationStatus.COLLECTING, StripeVerificationStatus.AWAITING_CODE)
ELIGIBLE_STATES = (VerificationState.FAILED, VerificationState.EXPIRED)
_MISMATCH = "payment_method_microdeposit_verification_descriptor_code_mismatch"
_FINAL_ERRORS = (
    "payment_method_microdeposit_verification_attempts_exceeded",
    "payment_method_microdeposit_verification_timeout",
    "setup_intent_unexpected_state",
)


class BankSetup(Protocol):
    """What banking reads of the bank setup payments' services return (a SetupIntent): named
    here so banking depends on these attributes, not on payments' gateway types."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def payment_method_id(self) -> str: ...
    @property
    def last4(self) -> str: ...
    @property
    def microdeposit_type(self) -> str: ...
    @property
    def error_code(self) -> str: ...


class StripeFallbackCodeError(PlaidMicrodepositCodeError):
    """A wrong code for Stripe's micro-deposits (422), with the attempts left."""

    code = "stripe_microdeposit_code_invalid"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            f"The code did not match. {attempts_left} attempt"
            f"{'' if attempts_left == 1 else 's'} left."
        )
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class StartedVerification:
    """A verification and the SetupIntent's client secret, for the page only (never stored)."""

    verification: StripeBankVerification
    client_secret: str = field(repr=False)


def _audit(
    verification: StripeBankVerification, action: str, payload: dict[str, object], outcome: str
) -> None:
    audit_record(
        action=action,
        request=None,
        actor=Actor.anonymous(),
        merchant_id=verification.merchant.public_id,
        target_type="bank_account",
        target_id=verification.bank_account.public_id,
        outcome=outcome,
        payload={"verification": verification.public_id, **payload},
    )


def stripe_fallback_eligible(account: BankAccount) -> bool:
    """Plaid's micro-deposits failed or expired on a live, still-connected account."""
    return (
        account.verification_state in ELIGIBLE_STATES
        and account.disconnected_at is None
        and account.item.status not in (PlaidItemStatus.REVOKED, PlaidItemStatus.REMOVED)
    )


def stripe_fallback_account(*, session: BankLinkSession, public_id: str) -> BankAccount:
    """The session's account `public_id` (any other answers unavailable: no enumeration)."""
    bank_link_session_check_usable(session=session)
    account = (
        BankAccount.objects.select_related("item", "customer", "merchant")
        .filter(item_id=session.item_id, public_id=public_id)
        .first()
    )
    if session.item_id is None or account is None:
        raise BankLinkSessionUnavailableError("No such bank account on this link.")
    return account


def stripe_fallback_current(account: BankAccount) -> StripeBankVerification | None:
    """The verification in progress, else the latest one."""
    return (
        StripeBankVerification.objects.select_related("merchant", "bank_account")
        .filter(bank_account=account)
        .order_by("-created_at", "-id")
        .first()
    )


def stripe_fallback_start(*, account: BankAccount) -> StartedVerification:
    """Open (or reuse) a Stripe verification for the account and its SetupIntent."""
    current = stripe_fallback_current(account)
    if current is not None and current.status in OPEN and current.stripe_setup_intent_id:
        setup = payments.merchant_bank_setup_retrieve(
            merchant=account.merchant, intent_id=current.stripe_setup_intent_id
        )
        if setup.status in ("requires_payment_method", "requires_confirmation", "requires_action"):
            return StartedVerification(current, setup.client_secret)
    if not stripe_fallback_eligible(account):
        raise InvalidBankingRequestError(
            "Only an account whose bank verification failed or expired can be verified with "
            "Stripe.",
            param="bank_account",
            code="stripe_fallback_not_available",
        )
    with transaction.atomic():
        locked = BankAccount.objects.select_for_update().get(pk=account.pk)
        StripeBankVerification.objects.filter(bank_account=locked, status__in=OPEN).update(
            status=StripeVerificationStatus.FAILED, failure_code="superseded"
        )
        verification = StripeBankVerification.objects.create(
            merchant=account.merchant, bank_account=locked
        )
        _audit(verification, "bank_account.stripe_verification_start", {}, "success")
    # Key from our row: a retried start replays Stripe's answer instead of a second intent.
    setup = payments.customer_processor_bank_setup_create(
        customer=account.customer,
        idempotency_key=f"{verification.public_id}_setup",
        metadata={
            "ledgerline_bank_account": account.public_id,
            "ledgerline_verification": verification.public_id,
        },
    )
    StripeBankVerification.objects.filter(pk=verification.pk).update(
        stripe_setup_intent_id=setup.id
    )
    verification.stripe_setup_intent_id = setup.id
    return StartedVerification(verification, setup.client_secret)


def stripe_fallback_collected(*, account: BankAccount) -> StripeBankVerification:
    """Read the SetupIntent back after Stripe's form: deposits sent -> awaiting the code."""
    verification = stripe_fallback_current(account)
    if verification is None or verification.status not in OPEN:
        raise InvalidBankingRequestError(
            "There is no Stripe verification in progress.", code="stripe_fallback_not_started"
        )
    return stripe_fallback_sync(verification=verification)


def stripe_fallback_sync(*, verification: StripeBankVerification) -> StripeBankVerification:
    """Re-read the SetupIntent from Stripe and apply it (pages); call with no transaction open."""
    return _apply_setup(verification, stripe_fallback_read(verification))


def stripe_fallback_read(verification: StripeBankVerification) -> BankSetup:
    """The verification's SetupIntent as Stripe holds it now (a read; writes nothing)."""
    return payments.merchant_bank_setup_retrieve(
        merchant=verification.merchant, intent_id=verification.stripe_setup_intent_id
    )


def _apply_setup(verification: StripeBankVerification, setup: BankSetup) -> StripeBankVerification:
    """Move the verification forward to what Stripe says now; verified and failed are final.

    collecting -> awaiting_code (deposits sent) -> verified (the code matched), or failed
    (another account's last 4, attempts exceeded, expired, canceled)."""
    with transaction.atomic():
        locked = (
            StripeBankVerification.objects.select_for_update(of=("self",))
            .select_related("merchant", "bank_account")
            .get(pk=verification.pk)
        )
        if locked.status not in OPEN:
            return locked
        if setup.payment_method_id:
            locked.stripe_payment_method_id = setup.payment_method_id
            locked.last4 = setup.last4 or locked.last4
        mask = locked.bank_account.mask
        collected = setup.status in ("requires_action", "succeeded")
        if collected and locked.last4 and mask and locked.last4 != mask:
            # Another account than the one linked: its deposits must not verify this one.
            return _fail(locked, "account_mismatch")
        if setup.status == "succeeded":
            return _verified(locked)
        if setup.status == "requires_action" and setup.microdeposit_type:
            if locked.status == StripeVerificationStatus.COLLECTING:
                locked.status = StripeVerificationStatus.AWAITING_CODE
                locked.save()
                _audit(
                    locked,
                    "bank_account.stripe_microdeposits_sent",
                    {"last4": locked.last4},
                    "success",
                )
            return locked
        if setup.status == "canceled" or (
            setup.status == "requires_payment_method" and setup.error_code
        ):
            return _fail(locked, setup.error_code or "canceled")
        return locked  # the customer has not finished Stripe's form


def _fail(locked: StripeBankVerification, reason: str) -> StripeBankVerification:
    locked.status = StripeVerificationStatus.FAILED
    locked.failure_code = reason[-80:]
    locked.save()
    _audit(locked, "bank_account.stripe_verification_failed", {"reason": reason}, "failure")
    return locked


def _verified(locked: StripeBankVerification) -> StripeBankVerification:
    """Stripe verified the account: it may move money, with Stripe's PaymentMethod."""
    bank = BankAccount.objects.select_for_update().get(pk=locked.bank_account_id)
    now = timezone.now()
    locked.status = StripeVerificationStatus.VERIFIED
    locked.verified_at = now
    locked.save()
    previous = bank.verification_state
    bank.verification_state = VerificationState.VERIFIED
    bank.verified_by = "stripe"
    bank.verified_at = now
    bank.stripe_payment_method_id = locked.stripe_payment_method_id
    bank.save(
        update_fields=[
            "verification_state",
            "verified_by",
            "verified_at",
            "stripe_payment_method_id",
            "updated_at",
        ]
    )
    _audit(
        locked,
        "bank_account.verify_stripe",
        {"from": previous, "to": VerificationState.VERIFIED, "last4": locked.last4},
        "success",
    )
    return locked


def stripe_fallback_verify(
    *, account: BankAccount, code: str, resumed: bool = False
) -> StripeBankVerification:
    """Check the customer's code with Stripe; on success the account is verified by Stripe.

    `resumed`: an earlier submission of this code lost Stripe's answer (which Stripe may keep
    under the attempt's key as a 500), so the SetupIntent is read back first; an attempt
    that already verified the account is not sent again.
    """
    text = code.strip().upper()
    if not (len(text) == 6 and text.startswith("SM") and text.isalnum()):
        raise InvalidBankingRequestError(
            "Enter the 6-character code that starts with SM.", param="code"
        )
    verification = stripe_fallback_current(account)
    if resumed and verification is not None and verification.stripe_setup_intent_id:
        verification = stripe_fallback_sync(verification=verification)
        if verification.status == StripeVerificationStatus.VERIFIED:
            return verification
    if verification is None or verification.status != StripeVerificationStatus.AWAITING_CODE:
        raise InvalidBankingRequestError(
            "No Stripe micro-deposits are waiting for a code.", code="stripe_fallback_not_started"
        )
    if verification.code_attempts >= MAX_CODE_ATTEMPTS:
        raise StripeFallbackCodeError(0)
    try:
        setup = payments.merchant_bank_setup_verify(
            merchant=account.merchant,
            intent_id=verification.stripe_setup_intent_id,
            descriptor_code=text,
            # One key per attempt from our row: a lost answer retried is the same attempt.
            idempotency_key=f"{verification.public_id}_verify_{verification.code_attempts + 1}",
        )
    except ProcessorRequestError as exc:
        return _verify_refused(verification, exc)
    return _apply_setup(verification, setup)


def _verify_refused(
    verification: StripeBankVerification, exc: ProcessorRequestError
) -> StripeBankVerification:
    with transaction.atomic():
        locked = StripeBankVerification.objects.select_for_update().get(pk=verification.pk)
        if exc.code == _MISMATCH:
            locked.code_attempts += 1
            if locked.code_attempts >= MAX_CODE_ATTEMPTS:
                locked.status = StripeVerificationStatus.FAILED
                locked.failure_code = "attempts_exceeded"
            locked.save()
            _audit(
                locked,
                "bank_account.stripe_code_rejected",
                {"attempts": locked.code_attempts},
                "failure",
            )
        elif exc.code in _FINAL_ERRORS:
            if exc.code == _FINAL_ERRORS[0]:  # Stripe's answer to the 10th wrong code
                locked.code_attempts += 1
            _fail(locked, exc.code)
        else:
            raise exc
    if locked.status == StripeVerificationStatus.FAILED:
        raise InvalidBankingRequestError(
            "Stripe could not verify this account with micro-deposits. Link it again or ask "
            "for a new link.",
            code="stripe_verification_failed",
        )
    raise StripeFallbackCodeError(MAX_CODE_ATTEMPTS - locked.code_attempts)


# --- Stripe's SetupIntent events ---------------------------------------------------------------

SETUP_INTENT_EVENTS = (
    "setup_intent.requires_action",
    "setup_intent.succeeded",
    "setup_intent.setup_failed",
    "setup_intent.canceled",
)


@dataclass(frozen=True)
class _SetupRead:
    verification: StripeBankVerification
    setup: BankSetup


def setup_intent_event_fetch(event: InboundEvent) -> _SetupRead | str:
    """Read back the event's SetupIntent from Stripe (the pipeline's fetch step, no transaction
    open); a note instead when it is not an open verification of ours."""
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    intent_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(intent_id, str) or event.merchant_id is None:
        return "not a SetupIntent of a Ledgerline merchant"
    verification = (
        StripeBankVerification.objects.select_related("merchant", "bank_account")
        .filter(stripe_setup_intent_id=intent_id, merchant_id=event.merchant_id)
        .first()
    )
    if verification is None:
        return "not a Ledgerline bank verification"
    return _SetupRead(verification=verification, setup=stripe_fallback_read(verification))


def setup_intent_event_apply(event: InboundEvent, read: _SetupRead | str) -> str | None:
    """A SetupIntent of ours changed at Stripe (e.g. verified on Stripe's hosted page): apply
    it forward-only, whatever order the events come in."""
    if isinstance(read, str):
        return read
    _apply_setup(read.verification, read.setup)
    return None
