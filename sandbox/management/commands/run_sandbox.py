"""`manage.py run_sandbox`: serve the Stripe, Plaid and Braintree stand-ins in the foreground."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sandbox.__main__ import add_arguments
from sandbox.server import serve
from sandbox.stripe.provider import DEFAULT_WEBHOOK_SECRET


class Command(BaseCommand):
    help = (
        "Run the offline processor sandbox (Stripe, Plaid and Braintree wire formats) "
        "on its own origin."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
        try:
            serve(
                port=options["port"],
                host=options["host"],
                state_file=options["state_file"],
                webhook_url=options["webhook_url"],
                webhook_secrets=options["webhook_secret"] or [DEFAULT_WEBHOOK_SECRET],
                plaid_client_id=options["plaid_client_id"],
                plaid_secret=options["plaid_secret"],
                braintree_webhook_url=options["braintree_webhook_url"],
                announce=self.stdout.write,
            )
        except OSError as exc:
            raise CommandError(
                f"cannot serve on {options['host']}:{options['port']}: {exc}"
            ) from exc
