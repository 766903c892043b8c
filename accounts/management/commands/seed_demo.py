"""`manage.py seed_demo`: idempotent demo merchants and one login per role, printed as a table.

The passwords are fixed and documented on purpose: this is a local demo and the printed
table is how a newcomer logs in. Each user still enrolls TOTP on first login. The command
refuses to run under production settings. Apps seed their own demo data (payments,
customers) through `accounts.demo`, after the logins exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from accounts.demo import demo_seeders
from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from compliance.actors import Actor
from compliance.services import audit_record
from config.exceptions import ApplicationError

DEMO_PASSWORD = "ledgerline-demo-2026"  # noqa: S105 - documented local demo login


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
)


def refusal_reason() -> str | None:
    """Why seeding must not run here, or None. Production settings never get demo logins."""
    # Overridden settings (tests) carry no SETTINGS_MODULE; the process's module still counts.
    module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
    if not settings.DEBUG and module.endswith(".production"):
        return "seed_demo refuses to run with production settings (demo passwords are public)."
    return None


class Command(BaseCommand):
    help = "Creates (or resets) the demo merchants and one login per role, then prints them."

    def handle(self, *args: Any, **options: Any) -> None:
        reason = refusal_reason()
        if reason:
            raise CommandError(reason)
        try:
            rows, merchants = self._seed()
            notes = [line for seeder in demo_seeders() for line in seeder(merchants)]
        except (DatabaseError, ValidationError, ApplicationError) as error:
            raise CommandError(f"seed_demo failed: {error}".splitlines()[0]) from error
        self._print(rows)
        for note in notes:
            self.stdout.write(note)

    @transaction.atomic
    def _seed(self) -> tuple[list[tuple[str, str, str, str]], dict[str, Merchant]]:
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
        rows = []
        for login in LOGINS:
            user, _ = User.objects.get_or_create(
                email=login.email, defaults={"full_name": login.full_name}
            )
            password_validation.validate_password(DEMO_PASSWORD, user)
            if not user.check_password(DEMO_PASSWORD):
                user.set_password(DEMO_PASSWORD)
            user.is_active = True
            user.save()
            for slug, role in login.roles.items():
                Membership.objects.update_or_create(
                    user=user, merchant=merchants[slug], defaults={"role": role}
                )
            roles = ", ".join(sorted(set(login.roles.values())))
            where = ", ".join(merchants[slug].slug for slug in login.roles)
            rows.append((login.email, DEMO_PASSWORD, roles, where))
        audit_record(
            action="demo.seeded",
            actor=Actor.system("seed_demo"),
            payload={"merchants": len(merchants), "users": len(rows)},
        )
        return rows, merchants

    def _print(self, rows: list[tuple[str, str, str, str]]) -> None:
        header = ("email", "password", "role", "merchants")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        line = "  ".join(f"{{:<{width}}}" for width in widths)
        self.stdout.write("Demo logins (each sets up an authenticator app at first login):")
        for row in [header, tuple("-" * width for width in widths), *rows]:
            self.stdout.write(line.format(*row).rstrip())
