"""`manage.py enrolment_link EMAIL`: a one-time link for a person's first authenticator.

For the operator: the first platform administrator (after `createsuperuser`) and anyone the
admin cannot reach yet. The link is printed as the last line; only its hash is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from accounts.links import base_url, enrolment_url
from accounts.lockout import normalize_email
from accounts.models import User
from accounts.services import enrolment_link_issue
from config.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Issues a one-time enrolment link (set up a first authenticator) and prints it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the person's login email")
        parser.add_argument(
            "--base-url", default=None, help="the site's address (default: LEDGERLINE_BASE_URL)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=normalize_email(options["email"])).first()
        if user is None:
            raise CommandError("enrolment_link: no user has that email address")
        try:
            issued = enrolment_link_issue(user=user, issued_by=None, via="enrolment_link")
        except (ApplicationError, DatabaseError) as error:
            raise CommandError(f"enrolment_link: {error}".splitlines()[0]) from error
        self.stdout.write(
            f"Open once, within {issued.link.expires_at:%Y-%m-%d %H:%M} UTC, with the password:"
        )
        self.stdout.write(enrolment_url(token=issued.token, base=base_url(options["base_url"])))
