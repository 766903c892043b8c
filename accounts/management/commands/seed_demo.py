"""`manage.py seed_demo`: idempotent demo merchants, one login per role and platform staff.

The passwords are fixed and documented on purpose: this is a local demo and the printed
lines are how a newcomer logs in. A password alone never sets up an authenticator, so every
login that has none yet gets a fresh one-time enrolment link (earlier ones stop working).
Output is plain and parseable, logins last, one line each:

    login email=<email> password=<password> role=<role> merchants=<slug,...|-> enrol=<url|enrolled>

The command refuses to run under production settings. Apps seed their own demo data
(payments, customers) through `accounts.demo`, after the logins exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, transaction
from django.db.models import Q

from accounts.demo import demo_seeders
from accounts.links import base_url, enrolment_url
from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from accounts.selectors import user_has_authenticator
from accounts.services import enrolment_link_issue
from compliance.actors import Actor
from compliance.services import audit_record
from config.exceptions import ApplicationError

DEMO_PASSWORD = "ledgerline-demo-2026"  # noqa: S105 - documented local demo login
SUPPORT_GROUP = "Support agents"
COMPLIANCE_GROUP = "Compliance officers"
# What support reads to answer a merchant (view only: the admin shows no add/change/delete).
SUPPORT_PERMISSIONS = (
    "accounts.view_merchant",
    "accounts.view_membership",
    "payments.view_customer",
    "payments.view_payment",
    "payments.view_refund",
    "payments.view_paymentlink",
    "payments.view_dispute",
)
# `approve_datarequest` arrives with the data-request model; granted once it exists.
COMPLIANCE_PERMISSIONS = (
    "compliance.view_auditentry",
    "compliance.view_auditcheckpoint",
    "compliance.view_auditverification",
    "compliance.approve_datarequest",
)


@dataclass(frozen=True)
class DemoMerchant:
    slug: str
    legal_name: str
    country: str
    currency: str


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    roles: dict[str, str]  # merchant slug -> role
    staff_group: str = ""  # platform staff: their admin group (and no merchant)


@dataclass(frozen=True)
class PrintedLogin:
    email: str
    role: str
    merchants: str
    enrol: str


MERCHANTS = (
    DemoMerchant("demo", "Demo Coffee Ltd", "GB", "gbp"),
    DemoMerchant("acme", "Acme Corp", "US", "usd"),
)
LOGINS = (
    DemoLogin(
        "owner@demo.ledgerline.test", "Olivia Owner", {"demo": Role.OWNER, "acme": Role.OWNER}
    ),
    DemoLogin("admin@demo.ledgerline.test", "Adam Admin", {"demo": Role.ADMIN}),
    DemoLogin("developer@demo.ledgerline.test", "Dev Developer", {"demo": Role.DEVELOPER}),
    DemoLogin("analyst@demo.ledgerline.test", "Ana Analyst", {"demo": Role.ANALYST}),
    DemoLogin("viewer@demo.ledgerline.test", "Vic Viewer", {"demo": Role.VIEWER}),
    DemoLogin("support@staff.ledgerline.test", "Sam Support", {}, staff_group=SUPPORT_GROUP),
    DemoLogin(
        "compliance@staff.ledgerline.test", "Cora Compliance", {}, staff_group=COMPLIANCE_GROUP
    ),
)
STAFF_ROLES = {SUPPORT_GROUP: "staff-support", COMPLIANCE_GROUP: "staff-compliance"}


def refusal_reason() -> str | None:
    """Why seeding must not run here, or None. Production settings never get demo logins."""
    # Overridden settings (tests) carry no SETTINGS_MODULE; the process's module still counts.
    module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
    if not settings.DEBUG and module.endswith(".production"):
        return "seed_demo refuses to run with production settings (demo passwords are public)."
    return None


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    """The named permissions that exist (a model not built yet simply has none)."""
    wanted = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(wanted))


def staff_groups() -> dict[str, Group]:
    """The staff groups with their permissions (created or brought up to date)."""
    groups = {}
    for name, permissions in (
        (SUPPORT_GROUP, SUPPORT_PERMISSIONS),
        (COMPLIANCE_GROUP, COMPLIANCE_PERMISSIONS),
    ):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(permissions))
        groups[name] = group
    return groups


class Command(BaseCommand):
    help = (
        "Creates (or resets) the demo merchants, one login per role and platform staff, then "
        "prints one line per login with its enrolment link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default=None,
            help="the dashboard's address in the printed links (default: LEDGERLINE_BASE_URL "
            "or http://127.0.0.1:8000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason = refusal_reason()
        if reason:
            raise CommandError(reason)
        base = base_url(options["base_url"])
        try:
            logins, merchants = self._seed(base)
            notes = [line for seeder in demo_seeders() for line in seeder(merchants)]
        except (DatabaseError, ValidationError, ApplicationError) as error:
            raise CommandError(f"seed_demo failed: {error}".splitlines()[0]) from error
        for note in notes:
            self.stdout.write(note)
        self.stdout.write(
            "Demo logins: log in with the password; a login without an authenticator opens its "
            "enrolment link (once) to set one up."
        )
        for login in logins:
            self.stdout.write(
                f"login email={login.email} password={DEMO_PASSWORD} role={login.role} "
                f"merchants={login.merchants} enrol={login.enrol}"
            )

    @transaction.atomic
    def _seed(self, base: str) -> tuple[list[PrintedLogin], dict[str, Merchant]]:
        merchants: dict[str, Merchant] = {}
        for spec in MERCHANTS:
            merchant, _ = Merchant.objects.update_or_create(
                slug=spec.slug,
                defaults={
                    "legal_name": spec.legal_name,
                    "country": spec.country,
                    "default_currency": spec.currency,
                },
            )
            merchants[spec.slug] = merchant
        groups = staff_groups()
        printed = []
        for login in LOGINS:
            user, _ = User.objects.get_or_create(
                email=login.email, defaults={"full_name": login.full_name}
            )
            password_validation.validate_password(DEMO_PASSWORD, user)
            if not user.check_password(DEMO_PASSWORD):
                user.set_password(DEMO_PASSWORD)
            user.is_active = True
            user.is_staff = bool(login.staff_group)
            user.save()
            if login.staff_group:
                user.groups.set([groups[login.staff_group]])
            for slug, role in login.roles.items():
                Membership.objects.update_or_create(
                    user=user, merchant=merchants[slug], defaults={"role": role}
                )
            if user_has_authenticator(user=user):
                enrol = "enrolled"
            else:
                issued = enrolment_link_issue(user=user, issued_by=None, via="seed_demo")
                enrol = enrolment_url(token=issued.token, base=base)
            role = STAFF_ROLES.get(login.staff_group) or ",".join(sorted(set(login.roles.values())))
            printed.append(
                PrintedLogin(
                    email=login.email,
                    role=role,
                    merchants=",".join(login.roles) or "-",
                    enrol=enrol,
                )
            )
        audit_record(
            action="demo.seeded",
            actor=Actor.system("seed_demo"),
            payload={"merchants": len(merchants), "users": len(printed)},
        )
        return printed, merchants
