"""The processor-neutral payment boundary: the protocol every payment gateway implements.

Written in the product's words (a charge, a refund, a customer), never a processor's (a
PaymentIntent, a transaction). Each gateway package maps its processor's objects, statuses and
errors into what is defined here (statuses into `PaymentStatus` / `RefundStatus`, errors into
`payments.exceptions`), so services never learn which processor they talk to; a second
processor is a second package registered in `payments.gateways`.

Conventions every implementation keeps:
- `account` is the merchant's id at the processor (`ProcessorAccount.processor_account_id`).
- `key` is an idempotency key the caller derived from its own committed row: the same key and
  parameters must never act twice (a processor without idempotency keys finds its earlier
  attempt by `reference` before acting again).
- `reference` is our row's public id (`pay_...`, `re_...`, `cus_...`); the gateway stores it
  with the processor's object so `charge_find` / `refund_find` can recover a lost answer.
- Every call has a timeout, bounded retries for retryable errors only and a circuit breaker.
- `platform_fee` is the platform's application fee on a charge, in the charge's minor units,
  computed by the services; only a gateway whose `takes_platform_fee` is true accepts one above
  0 (the processor takes it out of the charge and reports it in its balance transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from payments.state import PaymentStatus, RefundStatus


@dataclass(frozen=True)
class CardFacts:
    """What Ledgerline may keep of a card: never its number or CVC."""

    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str = ""
    country: str = ""


@dataclass(frozen=True)
class Charge:
    """A payment at the processor, as Ledgerline mirrors it.

    `status` is the processor's state mapped to ours; None when the gateway met a state it does
    not know (the services then leave the payment as it is and log it).
    """

    id: str
    status: PaymentStatus | None
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    amount_refunded: int = 0
    # The processor's id of the money movement itself, when it differs from `id` (Stripe's
    # charge of a PaymentIntent); disputes name it.
    charge_id: str = ""
    card: CardFacts | None = None
    failure_code: str = ""
    decline_code: str = ""
    failure_message: str = ""
    # Where the customer completes 3-D Secure while the status is requires_action.
    next_action_url: str = ""
    # Our payment's public id, when the processor's object carries it.
    reference: str = ""


@dataclass(frozen=True)
class RefundState:
    """A refund at the processor; `status` mapped to ours (None: unknown to the gateway)."""

    id: str
    status: RefundStatus | None
    amount: int
    currency: str
    charge_id: str = ""
    failure_reason: str = ""
    reference: str = ""


@dataclass(frozen=True)
class CustomerRef:
    """A customer's twin at the processor."""

    id: str
    deleted: bool = False


@dataclass(frozen=True)
class AccountState:
    """What the merchant's processor account may do."""

    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class BankSource:
    """A customer's bank account kept at the processor: last 4 and status, never the number."""

    id: str
    last4: str = ""
    status: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class BankSetup:
    """The processor's own collection and micro-deposit verification of a bank account."""

    id: str
    status: str
    client_secret: str = ""
    payment_method_id: str = ""
    last4: str = ""
    microdeposit_type: str = ""
    arrival_date: int | None = None
    error_code: str = ""


@dataclass(frozen=True)
class CheckoutConfig:
    """What the pay page needs to load the processor's card form from the processor's origin.

    `origins` are the CSP sources the page adds to `script-src` / `frame-src` / `connect-src`.
    """

    processor: str
    script_url: str
    publishable_key: str
    account: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class DisputeState:
    """A dispute at the processor. `status` is a `payments.models.DisputeStatus` value (the
    gateway maps its processor's states onto them), "" when the gateway does not know it."""

    id: str
    status: str
    amount: int
    currency: str
    reason: str = ""
    # The charge it disputes, as `Charge.id` names it (our payment's `processor_payment_id`).
    charge_id: str = ""
    evidence_due_by: datetime | None = None
    # How many times evidence was submitted: above 0, a lost answer's submission happened.
    submission_count: int = 0


@dataclass(frozen=True)
class EvidenceFileRef:
    """A document uploaded to the processor as dispute evidence."""

    id: str
    size: int
    type: str


@dataclass(frozen=True)
class Funds:
    """An amount of one currency in the merchant's processor balance."""

    amount: int
    currency: str


@dataclass(frozen=True)
class Balance:
    """The merchant's balance at the processor: available (can be paid out) and pending."""

    available: tuple[Funds, ...]
    pending: tuple[Funds, ...]


@dataclass(frozen=True)
class PayoutState:
    """A payout at the processor. `status` is one of `payments.models.PayoutStatus`'s values
    (None: a state the gateway does not know); times are aware UTC datetimes."""

    id: str
    status: str | None
    amount: int
    currency: str
    arrival_date: datetime
    created: datetime
    automatic: bool = True
    failure_code: str = ""
    failure_message: str = ""
    # The key of the merchant's request that asked for it (a payout made from the dashboard).
    reference: str = ""


@dataclass(frozen=True)
class BalanceEntry:
    """One balance transaction at the processor (`type`: a `BalanceTransactionType` value).

    `source` is the processor's id of what moved the money: a charge's payment id as our
    payments hold it (`Payment.processor_payment_id`), a refund, dispute or payout id.
    `payout` is the payout that swept it or that it belongs to, when known."""

    id: str
    type: str
    amount: int
    fee: int
    net: int
    currency: str
    available_on: datetime
    created: datetime
    source: str = ""
    platform_fee: int = 0
    description: str = ""
    payout: str = ""


@dataclass(frozen=True)
class BalanceEntryPage:
    entries: tuple[BalanceEntry, ...]
    has_more: bool


@dataclass(frozen=True)
class PayoutPage:
    payouts: tuple[PayoutState, ...]
    has_more: bool


@dataclass(frozen=True)
class PayoutSchedule:
    """When the processor pays the balance out: `interval` daily / weekly / monthly / manual,
    after `delay_days`; `weekly_anchor` (a weekday name) or `monthly_anchor` (1-31)."""

    interval: str
    delay_days: int
    weekly_anchor: str = ""
    monthly_anchor: int | None = None


class PaymentGateway(Protocol):
    """One processor. Every method may raise `payments.exceptions.PaymentError` subclasses:
    `CardDeclinedError`, `ProcessorRequestError` (refused, nothing happened),
    `ProcessorUnavailableError` (not sent), `ProcessorOutcomeUnknownError` /
    `ProcessorConflictError` (it may have acted: reconcile, never resend under another key)."""

    name: str
    # Whether the processor can take the platform's application fee out of a charge.
    takes_platform_fee: bool

    def ensure_available(self) -> None:
        """Raise `ProcessorUnavailableError` when the processor's circuit breaker is open, so a
        caller refuses before it writes anything."""
        ...

    def checkout_config(self, *, account: str) -> CheckoutConfig: ...

    # --- Accounts (onboarding) ----------------------------------------------------------------
    def account_create(self, *, country: str, email: str, key: str) -> AccountState: ...

    def account_retrieve(self, *, account: str) -> AccountState: ...

    def account_onboarding_link(self, *, account: str, refresh_url: str, return_url: str) -> str:
        """A one-time URL where the merchant gives the processor its details."""
        ...

    # --- Customers ----------------------------------------------------------------------------
    def customer_ensure(
        self, *, account: str, key: str, reference: str, email: str, name: str, description: str
    ) -> CustomerRef:
        """Create the customer's twin (the same key never creates two)."""
        ...

    def customer_update(
        self,
        *,
        account: str,
        customer: str,
        email: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> CustomerRef:
        """Change what is given (None: unchanged)."""
        ...

    def customer_delete(self, *, account: str, customer: str) -> CustomerRef: ...

    # --- Charges ------------------------------------------------------------------------------
    def charge_create(
        self,
        *,
        account: str,
        key: str,
        reference: str,
        amount: int,
        currency: str,
        method_type: str,
        payment_method: str,
        capture_manually: bool,
        description: str = "",
        customer: str | None = None,
        return_url: str | None = None,
        platform_fee: int = 0,
    ) -> Charge:
        """Create and confirm a charge: a card (`method_type` "card") or a bank debit
        ("us_bank_account", needs `customer`, settles later by events), the processor taking
        `platform_fee` out of it for the platform."""
        ...

    def charge_retrieve(self, *, account: str, charge: str) -> Charge: ...

    def charge_find(
        self, *, account: str, reference: str, created_since: datetime
    ) -> Charge | None:
        """The charge our row `reference` made, for an answer that never reached us."""
        ...

    def charge_capture(
        self,
        *,
        account: str,
        charge: str,
        amount: int | None,
        key: str,
        platform_fee: int | None = None,
    ) -> Charge:
        """Capture an authorised charge, all of it (`amount` None) or part; `platform_fee`
        replaces the fee asked at creation (None: keep it)."""
        ...

    def charge_cancel(
        self, *, account: str, charge: str, key: str, reason: str | None = None
    ) -> Charge: ...

    # --- Refunds ------------------------------------------------------------------------------
    def refund_create(
        self,
        *,
        account: str,
        charge: str,
        amount: int,
        key: str,
        reference: str,
        reason: str | None = None,
    ) -> RefundState: ...

    def refund_retrieve(self, *, account: str, refund: str) -> RefundState: ...

    def refund_find(self, *, account: str, charge: str, reference: str) -> RefundState | None: ...

    # --- Bank accounts at the processor (the source of an ACH debit) ----------------------------
    def bank_source_attach(
        self, *, account: str, customer: str, token: str, key: str
    ) -> BankSource:
        """Keep a one-time bank-account token (Plaid's processor token) as a customer's source."""
        ...

    def bank_setup_create(
        self, *, account: str, customer: str, key: str, metadata: Mapping[str, str]
    ) -> BankSetup:
        """Let the processor collect a bank account and verify it by micro-deposits;
        `metadata` names our rows on the processor's object."""
        ...

    def bank_setup_retrieve(self, *, account: str, setup: str) -> BankSetup: ...

    def bank_setup_verify(self, *, account: str, setup: str, code: str, key: str) -> BankSetup: ...


@runtime_checkable
class DisputeGateway(PaymentGateway, Protocol):
    """A processor whose disputes can be answered from Ledgerline (Stripe and Braintree);
    another's are answered in its own dashboard. `isinstance(gateway, DisputeGateway)` tells
    them apart.

    Evidence is named by the fields of `payments.dispute_evidence` (TEXT_FIELDS, FILE_FIELDS);
    a gateway maps them onto its processor's evidence form."""

    def dispute_retrieve(self, *, account: str, dispute: str) -> DisputeState: ...

    def dispute_evidence_file_upload(
        self, *, account: str, filename: str, content: BinaryIO, key: str
    ) -> EvidenceFileRef:
        """Send one evidence document (already checked for type, size and card numbers)."""
        ...

    def dispute_evidence_submit(
        self,
        *,
        account: str,
        dispute: str,
        text: Mapping[str, str],
        files: Mapping[str, str],
        key: str,
    ) -> DisputeState:
        """Attach `text` and the uploaded `files` (field -> EvidenceFileRef.id) and submit them
        for the card network's review; the processor refuses a second submission."""
        ...

    def dispute_accept(self, *, account: str, dispute: str, key: str) -> DisputeState:
        """Concede the dispute: it is lost at once and the withdrawn amount stays withdrawn."""
        ...


@runtime_checkable
class MoneyOutGateway(PaymentGateway, Protocol):
    """A processor whose balance, balance transactions and payouts Ledgerline mirrors (Stripe
    today). Braintree has no payout, balance or schedule API, so it is not one: its
    disbursements are mirrored from its notifications (`payments.braintree_payouts`)."""

    def balance_retrieve(self, *, account: str) -> Balance: ...

    def payout_retrieve(self, *, account: str, payout: str) -> PayoutState: ...

    def payout_list(
        self, *, account: str, starting_after: str | None = None, limit: int = 100
    ) -> PayoutPage:
        """The account's payouts, newest first."""
        ...

    def balance_entry_list(
        self,
        *,
        account: str,
        payout: str | None = None,
        created_gte: datetime | None = None,
        starting_after: str | None = None,
        limit: int = 100,
    ) -> BalanceEntryPage:
        """Balance transactions, newest first: all, those created since `created_gte`, or
        those a payout swept (and its own), each entry's `payout` then set to it."""
        ...

    def payout_create(
        self, *, account: str, amount: int, currency: str, key: str, reference: str
    ) -> PayoutState:
        """Pay `amount` of the available balance out now (a manual payout); `reference` is
        kept with it so that `payout_find` tells whether a request whose answer was lost
        made one."""
        ...

    def payout_find(
        self, *, account: str, reference: str, created_gte: datetime
    ) -> PayoutState | None:
        """The payout created since `created_gte` that carries `reference`, if any."""
        ...

    def balance_entry_retrieve(self, *, account: str, entry: str) -> BalanceEntry:
        """One balance transaction, as a charge, refund or dispute names it."""
        ...

    def payout_schedule_retrieve(self, *, account: str) -> PayoutSchedule: ...

    def payout_schedule_update(
        self, *, account: str, schedule: PayoutSchedule, key: str
    ) -> PayoutSchedule: ...
