"""Banking data: vault secrets, bank-link sessions, Plaid items and linked bank accounts.

No full account or routing number is ever stored: accounts keep name, mask, type, subtype,
institution, Plaid's persistent account id and a keyed fingerprint of the routing number.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.ids import new_public_id


def _secret_id() -> str:
    return new_public_id("vs")


class VaultSecret(models.Model):
    """One envelope-encrypted secret (see banking.vault): wrapped data key + sealed payload."""

    public_id = models.CharField(max_length=32, unique=True, default=_secret_id, editable=False)
    purpose = models.CharField(max_length=32)
    # "local:<key id>" or "kms:<KMS key id>": which key-encryption key wraps `wrapped_key`.
    key_id = models.CharField(max_length=300)
    wrapped_key = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key_id", "id"], name="vault_secret_key_id")]

    def __str__(self) -> str:
        return self.public_id


def _session_id() -> str:
    return new_public_id("bls")


def _item_id() -> str:
    return new_public_id("pitem")


def _account_id() -> str:
    return new_public_id("ba")


class BankLinkSessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    # Accounts are attached; the link stays usable to enter a micro-deposit code or reconnect.
    LINKED = "linked", "Linked"
    CANCELLED = "cancelled", "Cancelled"


class BankLinkSession(models.Model):
    """A merchant's invitation for one customer to link a bank account at `/link/<token>/`.

    Only the SHA-256 of the URL token is stored: the URL is shown once, at creation.
    """

    public_id = models.CharField(max_length=32, unique=True, default=_session_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="bank_link_sessions"
    )
    customer = models.ForeignKey(
        "payments.Customer", on_delete=models.CASCADE, related_name="bank_link_sessions"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=16, choices=BankLinkSessionStatus.choices, default=BankLinkSessionStatus.OPEN
    )
    item = models.ForeignKey(
        "banking.PlaidItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="link_sessions",
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=BankLinkSessionStatus.values),
                name="bank_link_session_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "-created_at", "-id"], name="bank_link_session_keyset"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class PlaidItemStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LOGIN_REQUIRED = "login_required", "Needs the customer to sign in again"
    PENDING_EXPIRATION = "pending_expiration", "Consent expiring soon"
    PENDING_DISCONNECT = "pending_disconnect", "Bank disconnecting soon"
    REVOKED = "revoked", "Permission revoked"
    REMOVED = "removed", "Removed"


class PlaidItem(models.Model):
    """One Plaid Item (a login at one institution); its access token lives in the vault."""

    public_id = models.CharField(max_length=32, unique=True, default=_item_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="plaid_items"
    )
    customer = models.ForeignKey(
        "payments.Customer", on_delete=models.CASCADE, related_name="plaid_items"
    )
    item_id = models.CharField(max_length=128, unique=True)
    institution_id = models.CharField(max_length=64, blank=True, default="")
    institution_name = models.CharField(max_length=200, blank=True, default="")
    # Null once the item is removed: the secret is deleted only after Plaid confirmed removal.
    access_token = models.OneToOneField(
        VaultSecret, null=True, blank=True, on_delete=models.PROTECT, related_name="plaid_item"
    )
    status = models.CharField(
        max_length=24, choices=PlaidItemStatus.choices, default=PlaidItemStatus.ACTIVE
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # When Plaid's state was last read; the reconciliation poll picks the quietest items.
    synced_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    # Set by ITEM: NEW_ACCOUNTS_AVAILABLE: the bank has accounts the customer may share, so the
    # customer's link page offers Link's update mode with Account Select until they have been
    # through it (or a sync finds a newly shared account).
    new_accounts_available_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PlaidItemStatus.values),
                name="plaid_item_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="removed") | models.Q(access_token__isnull=False),
                name="plaid_item_token_unless_removed",
            ),
        ]
        indexes = [models.Index(fields=["status", "synced_at"], name="plaid_item_sync_due")]

    def __str__(self) -> str:
        return self.public_id


class VerificationState(models.TextChoices):
    """Ledgerline's one state machine over Plaid's `verification_status` (banking.verification)."""

    PENDING_AUTOMATIC = "pending_automatic", "Waiting for automated micro-deposits"
    PENDING_MANUAL = "pending_manual", "Waiting for the customer to enter the code"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Verification failed"
    EXPIRED = "expired", "Verification expired"
    # A value Plaid sent that we do not know: never treated as verified.
    UNKNOWN = "unknown", "Unknown (blocked)"


class BankAccount(models.Model):
    """A linked account: display data and verification only, never the full numbers."""

    public_id = models.CharField(max_length=32, unique=True, default=_account_id, editable=False)
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="bank_accounts"
    )
    customer = models.ForeignKey(
        "payments.Customer", on_delete=models.CASCADE, related_name="bank_accounts"
    )
    item = models.ForeignKey(PlaidItem, on_delete=models.PROTECT, related_name="accounts")
    plaid_account_id = models.CharField(max_length=128)
    # Stable across re-links of the same account at institutions that provide it.
    persistent_account_id = models.CharField(max_length=128, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    mask = models.CharField(max_length=4, blank=True, default="")
    type = models.CharField(max_length=32, blank=True, default="")
    subtype = models.CharField(max_length=32, blank=True, default="")
    institution_name = models.CharField(max_length=200, blank=True, default="")
    # Keyed HMAC of routing + account number (banking.services.numbers_fingerprint); empty
    # until Plaid has numbers (micro-deposits pending).
    routing_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # Plaid's value as received ("" means instantly verified); the state below is derived.
    verification_status = models.CharField(max_length=64, blank=True, default="")
    verification_state = models.CharField(max_length=24, choices=VerificationState.choices)
    # Wrong same-day micro-deposit codes the customer reported from Link (Plaid locks at 3);
    # only shown as "attempts left": Plaid's own status decides whether the account verified.
    code_attempts = models.PositiveSmallIntegerField(default=0)
    # The account at Stripe on the merchant's connected account, for ACH debits: a `ba_`
    # source made from Plaid's one-time `btok_` (banking.ach), or the `us_bank_account`
    # PaymentMethod Stripe verified itself (banking.stripe_fallback). Never the numbers.
    stripe_payment_method_id = models.CharField(max_length=64, blank=True, default="")
    # Who verified it: "" / "plaid" (Plaid's verification_status) or "stripe" (Stripe's own
    # micro-deposits, the second fallback after Plaid's failed or expired).
    verified_by = models.CharField(max_length=16, blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "plaid_account_id"], name="bank_account_unique_in_item"
            ),
            models.UniqueConstraint(
                fields=["merchant", "persistent_account_id"],
                condition=~models.Q(persistent_account_id="")
                & models.Q(disconnected_at__isnull=True),
                name="bank_account_one_live_per_persistent_id",
            ),
            models.CheckConstraint(
                condition=models.Q(verification_state__in=VerificationState.values),
                name="bank_account_state_valid",
            ),
            # A mask is the last four digits at most; anything longer would be a number.
            models.CheckConstraint(
                condition=models.Q(mask__regex=r"^[0-9A-Za-z]{0,4}$"),
                name="bank_account_mask_short",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "-created_at", "-id"], name="bank_account_keyset"),
            models.Index(
                fields=["merchant", "routing_fingerprint"], name="bank_account_fingerprint"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def can_move_money(self) -> bool:
        return (
            self.verification_state == VerificationState.VERIFIED
            and self.disconnected_at is None
            and self.item.status == PlaidItemStatus.ACTIVE
        )


class BankDebit(models.Model):
    """One merchant request to debit a bank account by ACH, and the payment it made.

    `(merchant, idempotency_key)` is unique: a repeated request (a double submit, a retried
    API call) finds its payment instead of creating a second debit. The payment's own public
    id then derives the processor's idempotency key (payments.services).
    """

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="bank_debits"
    )
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="debits")
    payment = models.OneToOneField(
        "payments.Payment", on_delete=models.PROTECT, related_name="bank_debit"
    )
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"], name="bank_debit_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"debit {self.payment_id} of {self.bank_account_id}"


def _stripe_verification_id() -> str:
    return new_public_id("sbv")


class StripeVerificationStatus(models.TextChoices):
    # The SetupIntent exists; the customer has not finished Stripe's bank form yet.
    COLLECTING = "collecting", "Waiting for the bank details"
    AWAITING_CODE = "awaiting_code", "Waiting for the micro-deposit code"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"


class StripeBankVerification(models.Model):
    """Stripe's micro-deposit verification of an account whose Plaid verification failed or
    expired: a SetupIntent on the merchant's connected account. Only Stripe's ids, the last 4
    Stripe shows and the attempts are kept; the customer types the numbers on Stripe's form."""

    public_id = models.CharField(
        max_length=32, unique=True, default=_stripe_verification_id, editable=False
    )
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.CASCADE, related_name="stripe_bank_verifications"
    )
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.CASCADE, related_name="stripe_verifications"
    )
    stripe_setup_intent_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(
        max_length=16,
        choices=StripeVerificationStatus.choices,
        default=StripeVerificationStatus.COLLECTING,
    )
    stripe_payment_method_id = models.CharField(max_length=64, blank=True, default="")
    last4 = models.CharField(max_length=4, blank=True, default="")
    # Wrong codes entered here; Stripe fails the SetupIntent at the 10th (we refuse before).
    code_attempts = models.PositiveSmallIntegerField(default=0)
    failure_code = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=StripeVerificationStatus.values),
                name="stripe_verification_status_valid",
            ),
            models.UniqueConstraint(
                fields=["stripe_setup_intent_id"],
                condition=~models.Q(stripe_setup_intent_id=""),
                name="stripe_verification_one_per_setup_intent",
            ),
            # One verification in progress per account at a time.
            models.UniqueConstraint(
                fields=["bank_account"],
                condition=models.Q(status__in=["collecting", "awaiting_code"]),
                name="stripe_verification_one_open_per_account",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id
