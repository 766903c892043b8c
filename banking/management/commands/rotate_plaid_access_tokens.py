"""rotate_plaid_access_tokens: have Plaid replace items' access tokens and keep the new ones.

Each item is rotated by `plaid_item_rotate_access_token` (Plaid's
/item/access_token/invalidate, the new token sealed under the item's binding, the old vault
row deleted, audited), one item per transaction. A run rotates the items whose current token
was sealed before the run started (or before `--sealed-before`), in primary-key batches, so an
interrupted run resumes by passing the time it printed: items it already rotated hold newer
tokens and are passed over. Removed and revoked items have no usable token and are skipped.
`--dry-run` only counts. Failures are reported in one line and the exit is non-zero.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from banking.models import PlaidItem
from banking.selectors import SYNCABLE_ITEM_STATUSES
from banking.services import plaid_item_rotate_access_token
from compliance.actors import Actor
from config.exceptions import ApplicationError

BATCH_SIZE = 100


def _aware(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(
            f"--sealed-before must be an ISO 8601 time with a UTC offset, not {value!r}"
        )
    return parsed


class Command(BaseCommand):
    help = "Rotate Plaid access tokens (all live items, or one with --item)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--item", help="Only this item (pitem_...).")
        parser.add_argument(
            "--sealed-before",
            help="Rotate tokens sealed before this time (ISO 8601, e.g. the time an interrupted "
            "run printed); default: when this run starts.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = _aware(options["sealed_before"]) if options["sealed_before"] else timezone.now()
        items: QuerySet[PlaidItem] = PlaidItem.objects.filter(
            status__in=SYNCABLE_ITEM_STATUSES,
            access_token__isnull=False,
            access_token__created_at__lt=cutoff,
        )
        if options["item"]:
            found = PlaidItem.objects.filter(public_id=options["item"]).first()
            if found is None:
                raise CommandError(f"No Plaid item {options['item']!r}.")
            if found.status not in SYNCABLE_ITEM_STATUSES or found.access_token_id is None:
                raise CommandError(
                    f"{found.public_id} is {found.status}: it has no token to rotate."
                )
            items = items.filter(pk=found.pk)
        total = items.count()
        if options["dry_run"]:
            self.stdout.write(
                f"{total} access tokens sealed before {cutoff.isoformat()} would be rotated."
            )
            return
        self.stdout.write(
            f"Rotating {total} access tokens sealed before {cutoff.isoformat()} "
            f"(to resume an interrupted run: --sealed-before {cutoff.isoformat()})."
        )
        rotated, failures = self._rotate(items, total)
        self.stdout.write(f"Rotated {rotated} access tokens.")
        if failures:
            raise CommandError(
                f"{len(failures)} access tokens could not be rotated; first: {failures[0]}"
            )

    def _rotate(self, items: QuerySet[PlaidItem], total: int) -> tuple[int, list[str]]:
        actor = Actor.system("rotate_plaid_access_tokens")
        rotated = 0
        failures: list[str] = []
        last_pk = 0
        bar = tqdm(total=total, unit="item", disable=not sys.stderr.isatty(), file=sys.stderr)
        try:
            while True:
                batch = list(
                    items.filter(pk__gt=last_pk)
                    .select_related("merchant", "access_token")
                    .order_by("pk")[:BATCH_SIZE]
                )
                if not batch:
                    break
                for item in batch:
                    try:
                        plaid_item_rotate_access_token(item=item, actor=actor)
                        rotated += 1
                    except ApplicationError as exc:
                        failures.append(f"{item.public_id}: {exc.code}")
                    bar.update(1)
                last_pk = batch[-1].pk
        finally:
            bar.close()
        return rotated, failures
