"""Payments data: connected accounts, customers, payments, refunds, disputes, links, events.

Money is integer minor units + lower-case ISO 4217 currency. The database enforces the money
invariants (0 <= refunded <= captured <= amount) and one payment per processor payment. No card
number, CVC or track data is ever stored: only brand, last 4, expiry, fingerprint and country.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from config.ids import new_public_id
from payments.dispute_models import (  # noqa: F401 - migrations
    Dispute,
    DisputeEvidenceFile,
    DisputeStatus,
    _dispute_id,
)
from payments.state import PaymentStatus, RefundStatus

__all__ = [
    "BalanceTotal",
    "BalanceTransaction",
    "BalanceTransactionType",
    "CaptureMethod",
    "Customer",
    "CustomerDayCount",
    "Dispute",
    "DisputeEvidenceFile",
    "DisputeStatus",
    "Payment",
    "PaymentDayTotal",
    "PaymentLink",
    "PaymentMethodType",
    "PaymentStatus",
    "Payout",
    "PayoutStatus",
    "PlatformFee",
    "Processor",
    "ProcessorAccount",
    "ProcessorCredential",
    "ProcessorOutage",
    "Refund",
    "RefundStatus",
    "RoutingRank",
]

_CURRENCY = Q(currency__regex=r"^[a-z]{3}$")


def _customer_id() -> str:
    return new_public_id("cus")


def _payment_id() -> str:
    return new_public_id("pay")


def _refund_id() -> str:
    return new_public_id("re")


def _payout_id() -> str:
    return new_public_id("po")


def _balance_transaction_id() -> str:
    return new_public_id("txn")


def _link_id() -> str:
    return new_public_id("plink")


def _link_token() -> str:
    # 256 bits: the token alone opens the public payment page, so it must be unguessable.
    return secrets.token_urlsafe(32)


class CaptureMethod(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    MANUAL = "manual", "Manual"


class Processor(models.TextChoices):
    """Who holds an object: the gateway that `payments.gateways.gateway_named` returns for it."""

    STRIPE = "stripe", "Stripe"
    BRAINTREE = "braintree", "Braintree"


class RoutingRank(models.IntegerChoices):
    """Where a connected processor account stands in the merchant's routing."""

    PRIMARY = 1, "Primary"
    SECONDARY = 2, "Secondary"


class PaymentMethodType(models.TextChoices):
    CARD = "card", "Card"
    # ACH Direct Debit from a linked, verified US bank account (banking.ach).
    US_BANK_ACCOUNT = "us_bank_account", "Bank debit (ACH)"


class ProcessorAccount(models.Model):
    """A merchant's account at one processor (a Stripe Connect connected account, a Braintree
    merchant account); every processor call for the merchant goes through the gateway of
    `processor` with its id. A merchant has at most one account per processor; `routing_rank`
    says which one the pay page and the API use first (primary) and which one takes over
    while the primary is down (secondary); an account without a rank is connected but unused.
    """

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="processor_accounts"
    )
    processor = models.CharField(max_length=16, choices=Processor.choices, default=Processor.STRIPE)
    processor_account_id = models.CharField(max_length=64)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    routing_rank = models.PositiveSmallIntegerField(
        choices=RoutingRank.choices, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "processor_account_id"], name="processor_account_unique"
            ),
            models.UniqueConstraint(
                fields=["merchant", "processor"], name="processor_account_one_per_processor"
            ),
            models.UniqueConstraint(
                fields=["merchant", "routing_rank"],
                condition=Q(routing_rank__isnull=False),
                name="processor_account_one_per_rank",
            ),
            models.CheckConstraint(
                condition=Q(processor__in=Processor.values), name="processor_account_processor"
            ),
            models.CheckConstraint(
                condition=Q(routing_rank__isnull=True) | Q(routing_rank__in=RoutingRank.values),
                name="processor_account_rank_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.processor}:{self.processor_account_id} ({self.merchant_id})"


class ProcessorOutage(models.Model):
    """An operator's mark that a processor is down for everyone (platform staff, in the admin).

    While a processor is marked down the pay page renders a merchant's secondary processor
    instead, as it does while the primary's circuit breaker is open (`payments.routing`).
    """

    processor = models.CharField(max_length=16, choices=Processor.choices, unique=True)
    marked_down = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(processor__in=Processor.values), name="processor_outage_processor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.processor}: {'down' if self.marked_down else 'up'}"


class Customer(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=_customer_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="customers"
    )
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The processor that holds `processor_customer_id` (the merchant's when it was created).
    processor = models.CharField(max_length=16, choices=Processor.choices, default=Processor.STRIPE)
    processor_customer_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "processor_customer_id"],
                condition=~Q(processor_customer_id=""),
                name="customer_one_per_processor_customer",
            ),
            models.CheckConstraint(
                condition=Q(processor__in=Processor.values), name="customer_processor_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "-created_at", "-id"], name="customer_merchant_keyset"
            ),
            models.Index(fields=["merchant", "email"], name="customer_merchant_email"),
        ]

    def __str__(self) -> str:
        return self.public_id


class PaymentLink(models.Model):
    """A shareable `/pay/<token>/` page for a fixed amount, single-use or reusable."""

    public_id = models.CharField(max_length=32, unique=True, default=_link_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="payment_links"
    )
    token = models.CharField(max_length=64, unique=True, default=_link_token, editable=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500)
    reusable = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Set when a single-use link is paid; the link stops accepting payments from then on.
    completed_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="plink_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY, name="plink_currency_iso4217"),
        ]
        indexes = [
            models.Index(fields=["merchant", "-created_at", "-id"], name="plink_merchant_keyset"),
        ]

    def __str__(self) -> str:
        return self.public_id


class Payment(models.Model):
    """A card payment or ACH debit, mirroring one PaymentIntent on the merchant's connected
    account."""

    public_id = models.CharField(max_length=32, unique=True, default=_payment_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="payments"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    payment_link = models.ForeignKey(
        PaymentLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.REQUIRES_CONFIRMATION
    )
    amount = models.BigIntegerField()
    amount_capturable = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    capture_method = models.CharField(
        max_length=16, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC
    )
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    payment_method_type = models.CharField(
        max_length=32, choices=PaymentMethodType.choices, default=PaymentMethodType.CARD
    )
    # Last 4 of the debited bank account (ACH only); never the account or routing number.
    bank_last4 = models.CharField(max_length=4, blank=True, default="")
    # Card facts the processor returns; never the number or the CVC.
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    card_country = models.CharField(max_length=2, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # Where the customer completes 3-D Secure while the payment is requires_action.
    next_action_url = models.URLField(max_length=2000, blank=True)
    # What the processor kept of the charge (its fee, and the platform's application fee) and
    # what reached the merchant's balance, in minor units: null until the processor reports
    # its balance transaction (payments.payouts.balance_transactions_apply).
    fee = models.BigIntegerField(null=True, blank=True)
    platform_fee = models.BigIntegerField(null=True, blank=True)
    net = models.BigIntegerField(null=True, blank=True)
    # The platform fee asked of the processor with the charge, fixed when the row is created
    # (from the merchant's `PlatformFee` then), so a resent request carries the same parameters
    # under the same idempotency key and a fee change never reaches a charge already begun.
    platform_fee_requested = models.BigIntegerField(default=0)
    # The processor that charged: captures, cancels, refunds and disputes go to it.
    processor = models.CharField(max_length=16, choices=Processor.choices, default=Processor.STRIPE)
    processor_payment_method_id = models.CharField(max_length=64)
    processor_payment_id = models.CharField(max_length=64, blank=True, default="")
    processor_charge_id = models.CharField(max_length=64, blank=True)
    # A default rather than auto_now_add so bulk seeding and imports can set history.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0)
                & Q(amount_refunded__lte=F("amount_captured"))
                & Q(amount_captured__lte=F("amount")),
                name="payment_refunded_le_captured_le_amount",
            ),
            models.CheckConstraint(
                condition=Q(amount_capturable__gte=0) & Q(amount_capturable__lte=F("amount")),
                name="payment_capturable_in_range",
            ),
            models.CheckConstraint(condition=_CURRENCY, name="payment_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(platform_fee_requested__gte=0)
                & Q(platform_fee_requested__lte=F("amount")),
                name="payment_platform_fee_requested_in_range",
            ),
            models.CheckConstraint(
                condition=Q(payment_method_type__in=PaymentMethodType.values),
                name="payment_method_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.UniqueConstraint(
                fields=["processor", "processor_payment_id"],
                condition=~Q(processor_payment_id=""),
                name="payment_one_per_processor_payment",
            ),
            models.CheckConstraint(
                condition=Q(processor__in=Processor.values), name="payment_processor_valid"
            ),
        ]
        indexes = [
            # Keyset pagination of the merchant's list, newest first, at any depth.
            models.Index(fields=["merchant", "-created_at", "-id"], name="payment_merchant_keyset"),
            models.Index(
                fields=["merchant", "status", "-created_at", "-id"], name="payment_status_keyset"
            ),
            models.Index(fields=["status", "updated_at"], name="payment_status_updated"),
            # Dashboard filters that the keyset indexes cannot narrow: a rare last 4 or amount
            # would otherwise scan the merchant's whole history to fill one page.
            models.Index(
                fields=["merchant", "card_last4", "-created_at", "-id"],
                name="payment_last4_keyset",
            ),
            models.Index(fields=["merchant", "currency", "amount"], name="payment_amount"),
            models.Index(
                fields=["merchant", "created_at"],
                include=["status", "currency", "amount_captured", "net"],
                name="payment_overview",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def method_label(self) -> str:
        """What paid, for display: the card's brand and last 4, or the debited account's last 4."""
        if self.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT:
            label = PaymentMethodType.US_BANK_ACCOUNT.label
            return f"{label} ···· {self.bank_last4}" if self.bank_last4 else label
        if self.card_last4:
            return f"{self.card_brand[:1].upper()}{self.card_brand[1:]} ···· {self.card_last4}"
        return ""


class Refund(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=_refund_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="refunds"
    )
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    reason = models.CharField(max_length=32, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    # At the processor of its payment (`payment.processor`); unique on its own: processors'
    # ids do not collide (Stripe's carry a `re_` prefix), so no per-processor key is needed.
    processor_refund_id = models.CharField(max_length=64, blank=True, default="")
    # As on Payment: the fee the processor returned or kept (usually 0) and the net debit
    # (negative), null until the processor reports the refund's balance transaction.
    fee = models.BigIntegerField(null=True, blank=True)
    net = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY, name="refund_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(status__in=RefundStatus.values), name="refund_status_valid"
            ),
            models.UniqueConstraint(
                fields=["processor_refund_id"],
                condition=~Q(processor_refund_id=""),
                name="refund_one_per_processor_refund",
            ),
        ]
        indexes = [
            models.Index(fields=["payment", "-created_at", "-id"], name="refund_payment_keyset"),
        ]

    def __str__(self) -> str:
        return self.public_id


def _credential_id() -> str:
    return new_public_id("pcred")


class ProcessorCredential(models.Model):
    """A processor account's API keys (Braintree's public and private key), sealed with the
    project's envelope encryption (`config.envelope`, the key ring banking's vault uses).

    `ciphertext` holds both keys; nothing here is ever shown again. `public_key_digest` (SHA-256
    of the public key) finds the account a webhook's signature names without opening any
    secret: Braintree signs notifications as `public_key|hmac`.
    """

    public_id = models.CharField(max_length=32, unique=True, default=_credential_id, editable=False)
    account = models.OneToOneField(
        ProcessorAccount, on_delete=models.CASCADE, related_name="credential"
    )
    public_key_digest = models.CharField(max_length=64, unique=True)
    # "local:<key id>" or "kms:<KMS key id>": which key-encryption key wraps `wrapped_key`.
    key_id = models.CharField(max_length=300)
    wrapped_key = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    # Reconciliation's mark: transactions whose status changed since then are searched next.
    reconciled_through = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key_id", "id"], name="processor_credential_key_id")]

    def __str__(self) -> str:
        return self.public_id


# Money out lives in its own module (a concern of its own); imported here so that
# `payments.models` stays the one place every payments model is found.
from payments.balance_total_models import BalanceTotal  # noqa: E402
from payments.day_total_models import CustomerDayCount, PaymentDayTotal  # noqa: E402
from payments.payout_models import (  # noqa: E402
    BalanceTransaction,
    BalanceTransactionType,
    Payout,
    PayoutStatus,
)
from payments.platform_fee_models import PlatformFee  # noqa: E402
