"""`manage.py seed_bulk --payments N [--merchant SLUG]`: fast, realistic payments for benchmarks.

Adds N payments (and a pool of customers) to one merchant on every run; nothing is replaced.
The spread looks like a real shop's last 90 days: mostly succeeded, some declines, refunds,
cancellations and authorisations awaiting capture, in five currencies (one zero-decimal),
log-normal amounts, four card brands. Every row satisfies the model's CheckConstraints, and
no value ever looks like a card number: only brand, last 4, expiry and a fingerprint.
Refunded amounts are set on payments (the list shows them); no Refund rows are written, since
the benchmarks read payments only.

PostgreSQL loads with `COPY ... FROM STDIN` (psycopg 3), about 1,000,000 rows a minute;
other databases use `bulk_create`. A progress bar shows on a terminal only.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import string
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Merchant
from payments.models import CaptureMethod, Customer, Payment
from payments.state import PaymentStatus

DEFAULT_MERCHANT = "bulk"
MAX_PAYMENTS = 50_000_000
WINDOW = timedelta(days=90)
CUSTOMERS_PER_PAYMENT = 0.1  # about ten payments per customer
ANONYMOUS_SHARE = 0.25  # guest checkouts: no customer

S = PaymentStatus
STATUSES = (
    (S.SUCCEEDED, 80),
    (S.REQUIRES_PAYMENT_METHOD, 8),  # the last attempt was declined
    (S.CANCELED, 4),
    (S.REQUIRES_CAPTURE, 3),
    (S.REQUIRES_ACTION, 2),
    (S.REQUIRES_CONFIRMATION, 2),
    (S.PROCESSING, 1),
)
# currency, weight, median amount (minor units), minimum charge (minor units)
CURRENCIES = (
    ("gbp", 40, 2_500, 30),
    ("usd", 30, 3_000, 50),
    ("eur", 20, 2_800, 50),
    ("jpy", 6, 3_500, 50),  # zero-decimal: yen
    ("sek", 4, 30_000, 300),
)
BRANDS = (("visa", 55), ("mastercard", 30), ("amex", 10), ("discover", 5))
CARD_COUNTRIES = ("GB", "US", "DE", "FR", "IE", "JP", "SE", "NL")
DECLINE_CODES = ("generic_decline", "insufficient_funds", "do_not_honor", "fraudulent")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Femi", "Grace", "Hiro", "Ines", "Jonas")
LAST_NAMES = ("Okafor", "Smith", "Tanaka", "Novak", "Garcia", "Khan", "Larsen", "Moreau")

_ALPHABET = (string.ascii_letters + string.digits).encode("ascii")
# os.urandom bytes -> base62 characters without modulo bias: 248 = 4 * 62, the rest is dropped.
_BASE62_TABLE = bytes(_ALPHABET[b % 62] for b in range(256))
_BASE62_DROP = bytes(range(248, 256))
# Thirteen digits in a row could form a Luhn-valid card-like number; never emit one.
_DIGIT_RUN = re.compile(r"\d{13}")


def random_base62(count: int, length: int) -> list[str]:
    """`count` random strings of `length` base62 characters, like `config.ids.new_public_id`.

    Generated in one C-speed pass (secrets.choice per character would dominate a 1M-row run).
    """
    total = count * length
    while True:
        text = b""
        while len(text) < total:
            raw = os.urandom((total - len(text)) * 256 // 248 + 64)
            text += raw.translate(_BASE62_TABLE, _BASE62_DROP)
        chunk = text[:total].decode("ascii")
        if not _DIGIT_RUN.search(chunk):
            return [chunk[i : i + length] for i in range(0, total, length)]


class _Generator:
    """Builds realistic Customer and Payment field values (by attname) with one seeded RNG."""

    def __init__(self, *, rng: random.Random, merchant: Merchant, now: datetime) -> None:
        self.rng = rng
        self.merchant = merchant
        self.now = now

    def _moment(self) -> datetime:
        return self.now - WINDOW * self.rng.random()

    def customers(self, count: int) -> list[dict[str, Any]]:
        rng = self.rng
        ids = random_base62(count, 24)
        rows = []
        for public_id in ids:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = self._moment()
            rows.append(
                {
                    "public_id": f"cus_{public_id}",
                    "merchant_id": self.merchant.pk,
                    "email": f"{first}.{last}.{public_id[:6]}@example.test".lower(),
                    "name": f"{first} {last}",
                    "description": "",
                    "metadata": {},
                    "processor_customer_id": "",
                    "created_at": created,
                    "updated_at": created,
                }
            )
        return rows

    def payments(self, count: int, customer_ids: list[int]) -> list[dict[str, Any]]:
        rng = self.rng
        statuses = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES], k=count)
        currencies = rng.choices(CURRENCIES, [c[1] for c in CURRENCIES], k=count)
        brands = rng.choices([b for b, _ in BRANDS], [w for _, w in BRANDS], k=count)
        public_ids = random_base62(count, 24)
        intent_ids = random_base62(count, 24)
        method_ids = random_base62(count, 24)
        charge_ids = random_base62(count, 24)
        fingerprints = random_base62(count, 16)
        this_year = self.now.year
        rows = []
        for i in range(count):
            status = statuses[i]
            currency, _, median, minimum = currencies[i]
            amount = max(minimum, min(median * 400, int(rng.lognormvariate(math.log(median), 0.9))))
            manual = status == S.REQUIRES_CAPTURE or rng.random() < 0.08
            captured = capturable = refunded = 0
            failure_code = decline_code = failure_message = ""
            if status == S.SUCCEEDED:
                # A manual capture sometimes takes less than was authorised.
                captured = amount if not manual or rng.random() < 0.8 else max(1, amount * 3 // 4)
                roll = rng.random()
                if roll < 0.05:
                    refunded = captured
                elif roll < 0.08:
                    refunded = rng.randint(1, captured)
            elif status == S.REQUIRES_CAPTURE:
                capturable = amount
            elif status == S.REQUIRES_PAYMENT_METHOD:
                failure_code = "card_declined"
                decline_code = rng.choice(DECLINE_CODES)
                failure_message = "Your card was declined."
            created = self._moment()
            customer = (
                rng.choice(customer_ids)
                if customer_ids and rng.random() >= ANONYMOUS_SHARE
                else None
            )
            rows.append(
                {
                    "public_id": f"pay_{public_ids[i]}",
                    "merchant_id": self.merchant.pk,
                    "customer_id": customer,
                    "payment_link_id": None,
                    "status": status,
                    "amount": amount,
                    "amount_capturable": capturable,
                    "amount_captured": captured,
                    "amount_refunded": refunded,
                    "currency": currency,
                    "capture_method": CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
                    "description": f"Order {rng.randrange(100_000, 1_000_000)}",
                    "metadata": {},
                    "card_brand": brands[i],
                    "card_last4": f"{rng.randrange(10_000):04d}",
                    "card_exp_month": rng.randint(1, 12),
                    "card_exp_year": this_year + rng.randint(0, 5),
                    "card_fingerprint": fingerprints[i],
                    "card_country": rng.choice(CARD_COUNTRIES),
                    "failure_code": failure_code,
                    "decline_code": decline_code,
                    "failure_message": failure_message,
                    "next_action_url": "",
                    "processor_payment_method_id": f"pm_{method_ids[i]}",
                    "processor_payment_id": f"pi_{intent_ids[i]}",
                    "processor_charge_id": (
                        f"ch_{charge_ids[i]}" if status in (S.SUCCEEDED, S.REQUIRES_CAPTURE) else ""
                    ),
                    "created_at": created,
                    "updated_at": created + timedelta(seconds=rng.randint(1, 120)),
                }
            )
        return rows


class _Loader:
    """Writes field-value dicts of one model: COPY on PostgreSQL, bulk_create elsewhere.

    Fields the generator does not know (added to the model later) get their default, so a
    new nullable or defaulted column never breaks seeding; one without a default says so.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.defaults: dict[str, Any] = {}
        for field in self.fields:
            if field.has_default() or field.null:
                self.defaults[field.attname] = field.get_default()
        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.copy_sql = f"COPY {table} ({columns}) FROM STDIN"
        self.json_fields = {f.attname for f in self.fields if isinstance(f, models.JSONField)}

    def _value(self, row: dict[str, Any], attname: str) -> Any:
        if attname in row:
            return row[attname]
        if attname in self.defaults:
            return self.defaults[attname]
        raise CommandError(f"{self.model.__name__}.{attname} has no default; seed_bulk must set it")

    def write(self, rows: list[dict[str, Any]]) -> None:
        if connection.vendor == "postgresql":
            self._copy(rows)
        else:
            objects = [
                self.model(**{f.attname: self._value(row, f.attname) for f in self.fields})
                for row in rows
            ]
            self.model._default_manager.bulk_create(objects, batch_size=500)

    def _copy(self, rows: list[dict[str, Any]]) -> None:
        attnames = [f.attname for f in self.fields]
        with connection.cursor() as cursor, cursor.copy(self.copy_sql) as copy:
            for row in rows:
                values = [self._value(row, name) for name in attnames]
                for index, name in enumerate(attnames):
                    if name in self.json_fields:
                        values[index] = json.dumps(values[index])
                copy.write_row(values)


def _batches(total: int, size: int) -> Iterator[int]:
    while total > 0:
        step = min(size, total)
        yield step
        total -= step


class Command(BaseCommand):
    help = "Add N realistic payments (and customers) to a merchant, fast, for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--payments", type=int, required=True, help="How many to add.")
        parser.add_argument(
            "--merchant",
            help=f"The merchant's slug (default: {DEFAULT_MERCHANT!r}, created when missing).",
        )
        parser.add_argument("--batch-size", type=int, default=20_000, help="Rows per transaction.")
        parser.add_argument("--seed", type=int, help="Seed the generator for repeatable data.")

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["payments"]
        batch_size: int = options["batch_size"]
        if not 1 <= count <= MAX_PAYMENTS:
            raise CommandError(f"--payments must be between 1 and {MAX_PAYMENTS:,}")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if settings.SETTINGS_MODULE.endswith(".production"):
            raise CommandError("seed_bulk refuses to run with production settings (fake payments)")
        try:
            self._seed(count, batch_size, options["merchant"], options["seed"])
        except DatabaseError as exc:
            raise CommandError(
                f"database error: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from exc

    def _merchant(self, slug: str | None) -> Merchant:
        if slug is not None:
            merchant = Merchant.objects.filter(slug=slug).first()
            if merchant is None:
                raise CommandError(f"unknown merchant {slug!r}")
            return merchant
        merchant, _ = Merchant.objects.get_or_create(
            slug=DEFAULT_MERCHANT,
            defaults={
                "legal_name": "Bulk Benchmark Ltd",
                "country": "GB",
                "default_currency": "gbp",
            },
        )
        return merchant

    def _seed(self, count: int, batch_size: int, slug: str | None, seed: int | None) -> None:
        merchant = self._merchant(slug)
        before = Payment.objects.filter(merchant=merchant).count()
        self.stdout.write(f"Merchant {merchant.slug}: {before:,} payments exist; adding {count:,}.")
        generator = _Generator(
            rng=random.Random(seed),  # noqa: S311 - fake data, not secrets
            merchant=merchant,
            now=timezone.now(),
        )
        started = time.perf_counter()
        customer_loader, payment_loader = _Loader(Customer), _Loader(Payment)
        customers = max(1, int(count * CUSTOMERS_PER_PAYMENT))
        for step in _batches(customers, batch_size):
            with transaction.atomic():
                customer_loader.write(generator.customers(step))
        customer_ids = list(Customer.objects.filter(merchant=merchant).values_list("pk", flat=True))
        interactive = sys.stderr.isatty()
        with tqdm(
            total=count, unit="payments", unit_scale=True, disable=not interactive, file=sys.stderr
        ) as bar:
            for step in _batches(count, batch_size):
                with transaction.atomic():
                    payment_loader.write(generator.payments(step, customer_ids))
                bar.update(step)
        if connection.vendor == "postgresql":
            # Fresh planner statistics, so the keyset indexes are used from the first query.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Customer._meta.db_table)}")
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Payment._meta.db_table)}")
        elapsed = time.perf_counter() - started
        after = Payment.objects.filter(merchant=merchant).count()
        self.stdout.write(
            f"Added {count:,} payments and {customers:,} customers in {elapsed:.1f} s "
            f"({count / max(elapsed, 1e-9):,.0f} payments/s); merchant {merchant.slug} now has "
            f"{after:,} payments."
        )
