"""Users (email login), merchants (tenants), memberships with roles, invitations, API keys,
enrolment links and backup codes."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin

from accounts.roles import Role, role_allows
from config.ids import new_public_id


def _user_public_id() -> str:
    return new_public_id("usr")


def _merchant_public_id() -> str:
    return new_public_id("mer")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    """A person who logs in. Audit entries name them only by `public_id` (a pseudonym)."""

    public_id = models.CharField(
        max_length=32, unique=True, default=_user_public_id, editable=False
    )
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class Merchant(models.Model):
    """A business on the platform; every tenant-owned row points at one."""

    public_id = models.CharField(
        max_length=32, unique=True, default=_merchant_public_id, editable=False
    )
    slug = models.SlugField(max_length=64, unique=True)
    legal_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    default_currency = models.CharField(max_length=3, help_text="ISO 4217, lower case")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="merchant_country_alpha2"
            ),
            models.CheckConstraint(
                condition=models.Q(default_currency__regex=r"^[a-z]{3}$"),
                name="merchant_currency_iso4217",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "merchant"], name="membership_user_merchant_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"

    def has_permission(self, permission: str) -> bool:
        """Whether this member's role grants `permission` (config.permissions' `Member`)."""
        return role_allows(self.role, permission)


def _api_key_public_id() -> str:
    return new_public_id("key")


class ApiKey(models.Model):
    """A merchant's secret API key. Only a keyed hash of the secret is stored; shown once."""

    public_id = models.CharField(
        max_length=32, unique=True, default=_api_key_public_id, editable=False
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a key")
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="api_key_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def _invitation_public_id() -> str:
    return new_public_id("inv")


class Invitation(models.Model):
    """An offer to join a merchant with a role, redeemed once through a secret link.

    Only a keyed hash of the link's token is stored: a database reader cannot accept an
    invitation, and the token is shown to the inviter only once.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=_invitation_public_id, editable=False
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="invitation_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "accepted_at", "revoked_at"])]

    def __str__(self) -> str:
        return f"Invitation {self.public_id} to {self.merchant} ({self.role})"

    def is_pending(self, *, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


def _enrolment_link_public_id() -> str:
    return new_public_id("enl")


class EnrolmentLink(models.Model):
    """A single-use, expiring grant to set up a person's first authenticator.

    The password alone never enrols a device (whoever learnt it would enrol their own): the
    first authenticator needs this link too, issued by an owner or admin of the person's team,
    by platform staff, by `seed_demo`, or created with the invitation the person accepted. Only
    a keyed hash of the link's token is stored.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=_enrolment_link_public_id, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at", "revoked_at"])]

    def __str__(self) -> str:
        return f"Enrolment link {self.public_id} for {self.user}"

    def is_pending(self, *, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.used_at is None and self.revoked_at is None and self.expires_at > now


# django-otp ships no type hints: its classes are Any to mypy.
class BackupCodeDevice(ThrottlingMixin, Device):  # type: ignore[misc]
    """django-otp device for single-use recovery codes, stored only as keyed hashes.

    django-otp's own StaticDevice keeps its tokens in plaintext; a database leak would then
    hand out second factors. Here each code is a `BackupCode` row holding an HMAC.
    """

    class Meta(Device.Meta):  # type: ignore[misc]
        verbose_name = "backup code set"

    def verify_token(self, token: Any) -> bool:
        from accounts.backup_codes import consume_backup_code

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if consume_backup_code(device=self, code=str(token)):
            self.throttle_reset()
            return True
        self.throttle_increment()
        return False

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_BACKUP_CODE_THROTTLE_FACTOR", 1))


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Backup code {self.pk} ({'used' if self.used_at else 'unused'})"
