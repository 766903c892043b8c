"""`manage.py create_api_key --merchant SLUG [--name NAME] [--role ROLE]`: mint a secret API key.

For operators and scripts: the secret is printed once, as the last line of output, so
`manage.py create_api_key --merchant demo | tail -n 1` captures it. Only its keyed hash is
stored. The audit entry names the command as the actor (`Actor.system("create_api_key")`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from accounts import services
from accounts.models import Merchant
from accounts.roles import Role
from config.exceptions import ApplicationError

KEY_ROLES = [role for role in Role.values if role != Role.OWNER]


class Command(BaseCommand):
    help = "Create a secret API key for a merchant; prints the secret as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="The merchant's slug.")
        parser.add_argument("--name", default="API key", help="A label for the key.")
        parser.add_argument(
            "--role",
            default=Role.DEVELOPER,
            help=f"What the key may do: one of {', '.join(KEY_ROLES)} (default developer).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["merchant"]
        role: str = options["role"]
        if role not in KEY_ROLES:
            raise CommandError(f"bad role {role!r}: use one of {', '.join(KEY_ROLES)}")
        try:
            merchant = Merchant.objects.filter(slug=slug).first()
            if merchant is None:
                raise CommandError(f"unknown merchant {slug!r}")
            api_key, secret = services.api_key_create(
                merchant=merchant, name=options["name"], role=role, created_by=None
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except DatabaseError as exc:
            raise CommandError(f"database error: {type(exc).__name__}") from exc
        self.stdout.write(
            f"Created API key {api_key.public_id} ({api_key.prefix}…, role {api_key.role}) "
            f"for merchant {merchant.slug}."
        )
        self.stdout.write("Store the secret now: it is shown only this once.")
        self.stdout.write(secret)
