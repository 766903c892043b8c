"""rotate_encryption_key: re-wrap every stored data key under the newest key-encryption key.

Every sealed secret is covered: banking's vault (Plaid access tokens) and payments' processor
credentials (Braintree API keys), through `payments.services.processor_credentials_rewrap`.

Only data keys are re-wrapped; payload ciphertexts are never read or rewritten. Work is done
in committed batches of rows still under an older key, so an interrupted run resumes where it
stopped and a second run finds nothing to do. Rows another process holds are skipped for the
next run (`SKIP LOCKED`). `--dry-run` only counts.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from banking.exceptions import VaultError
from banking.models import VaultSecret
from banking.vault import newest_key_id, vault_rewrap
from payments.services import processor_credentials_rewrap


class Command(BaseCommand):
    help = "Re-wrap every stored data key under the newest key (ENCRYPTION_KEYS or KMS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = max(1, int(options["batch_size"]))
        try:
            target = newest_key_id()
        except VaultError as exc:
            raise CommandError(exc.message) from exc
        pending = VaultSecret.objects.exclude(key_id=target)
        total = pending.count()
        if options["dry_run"]:
            credentials = processor_credentials_rewrap(target_key_id=target, dry_run=True)
            self.stdout.write(
                f"{total + credentials.pending} data keys would be re-wrapped under {target}."
            )
            return

        rewrapped = 0
        failures: list[str] = []
        last_pk = 0
        bar = tqdm(total=total, unit="key", disable=not sys.stderr.isatty(), file=sys.stderr)
        try:
            while True:
                with transaction.atomic():
                    batch = list(
                        VaultSecret.objects.select_for_update(skip_locked=True)
                        .exclude(key_id=target)
                        .filter(pk__gt=last_pk)
                        .order_by("pk")[:batch_size]
                    )
                    if not batch:
                        break
                    for secret in batch:
                        try:
                            # A savepoint per row: one bad row must not undo the batch.
                            with transaction.atomic():
                                rewrapped += int(vault_rewrap(secret=secret, target_key_id=target))
                        except VaultError as exc:
                            failures.append(f"{secret.public_id}: {exc.message}")
                        bar.update(1)
                    last_pk = batch[-1].pk
        finally:
            bar.close()

        credentials = processor_credentials_rewrap(target_key_id=target)
        rewrapped += credentials.rewrapped
        failures.extend(credentials.failures)
        self.stdout.write(f"Re-wrapped {rewrapped} data keys under {target}.")
        if failures:
            raise CommandError(
                f"{len(failures)} data keys could not be re-wrapped; first: {failures[0]}"
            )
