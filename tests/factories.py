"""factory_boy factories and session helpers shared by every test suite.

`verified_client(user)` gives a Django test client logged in with a password *and* an OTP
(the state every dashboard page requires); `member(role)` makes a user with a membership.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import factory
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import session_security
from accounts.models import Membership, Merchant, User
from accounts.roles import Role

TEST_PASSWORD = "correct horse battery staple 42"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.django.Password(TEST_PASSWORD)


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    slug = factory.Sequence(lambda n: f"merchant-{n}")
    legal_name = factory.Sequence(lambda n: f"Merchant {n} Ltd")
    country = "GB"
    default_currency = "gbp"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    merchant = factory.SubFactory(MerchantFactory)
    role = Role.OWNER


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Test phone"
    confirmed = True


def member(
    role: str = Role.OWNER, merchant: Merchant | None = None, **user_fields: Any
) -> Membership:
    """A new user with `role` in `merchant` (a new merchant when None)."""
    merchant = merchant or MerchantFactory.create()
    user = UserFactory.create(**user_fields)
    membership: Membership = MembershipFactory.create(user=user, merchant=merchant, role=role)
    return membership


def totp_now(device: TOTPDevice, *, at: datetime | None = None) -> str:
    """The code an authenticator app would show for `device` now (or at `at`)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = (at or timezone.now()).timestamp()
    return f"{totp.token():0{device.digits}d}"


def login_password_only(user: User, client: Client | None = None) -> Client:
    """A client whose session proved the password but no OTP yet."""
    client = client or Client()
    client.force_login(user, backend=MODEL_BACKEND)
    session = client.session
    now = timezone.now().isoformat()
    session[session_security.AUTHENTICATED_AT] = now
    session[session_security.LAST_SEEN_AT] = now
    session.save()
    return client


def open_enrolment_link(user: User, client: Client) -> str:
    """Issue `user` an enrolment link and open it in `client` (logged in or not); its token."""
    from django.urls import reverse

    from accounts.services import enrolment_link_issue

    issued = enrolment_link_issue(user=user, issued_by=None, via="test")
    url = reverse("accounts:enrolment_link", args=[issued.token])
    data = {"password": TEST_PASSWORD} if not client.session.get("_auth_user_id") else None
    response = client.post(url, data) if data else client.get(url)
    assert response.status_code == 302, response.status_code
    return issued.token


def verified_client(
    user: User, client: Client | None = None, *, merchant: Merchant | None = None
) -> Client:
    """A client logged in with password and OTP just now (so step-up is fresh too).

    Uses the user's first confirmed TOTP device, creating one if there is none. `merchant`
    makes that merchant current (the user must be a member of it).
    """
    client = login_password_only(user, client)
    device: TOTPDevice = TOTPDevice.objects.filter(
        user=user, confirmed=True
    ).first() or TOTPDeviceFactory.create(user=user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[session_security.OTP_VERIFIED_AT] = timezone.now().isoformat()
    if merchant is not None:
        session[session_security.CURRENT_MERCHANT] = merchant.public_id
    session.save()
    return client
