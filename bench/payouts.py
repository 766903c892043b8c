"""Payouts benchmark: the payout detail page over many payouts, and the payout CSV's memory.

    DATABASE_URL=postgres://... python -m bench payouts [--payouts 10000] [--items 20]
        [--large 100000] [--samples 200] [--fresh]

Seeds one merchant with `--payouts` paid payouts of `--items` balance transactions each, plus
one payout of `--large` items (COPY, as `seed_bulk` does), in its own database
`<DATABASE_URL name>_bench_payouts` kept between runs. Then:
(a) `GET /balance/payouts/<id>/` for random payouts: p50/p95 of the in-process request time
    (target p95 < 60 ms) and of its database time; the same for the large payout;
(b) the large payout's CSV streamed end to end: rows, time, and peak Python memory
    (tracemalloc), which must stay flat (a few MB, not the payout's size).
Requests go through Django's test client in this process, so the times are server time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from typing import Any

import django

TARGET_DETAIL_P95_MS = 60.0
BATCH = 20_000


def _print(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _prepare_database(*, fresh: bool) -> None:
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    params = connection.settings_dict
    name = f"{params['NAME']}_bench_payouts"
    with admin_connection(params) as admin:
        if fresh:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()
    params["NAME"] = name
    call_command("migrate", verbosity=0)


def _copy(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    from django.db import connection

    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _seed(*, payouts: int, items: int, large: int) -> tuple[Any, Any]:
    """The merchant and its large payout, seeded once (reused when already there)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Merchant
    from payments.models import BalanceTransaction, Payout

    merchant, _ = Merchant.objects.get_or_create(
        slug=f"bench-payouts-{payouts}-{items}",
        defaults={"legal_name": "Bench Payouts Ltd", "country": "GB", "default_currency": "gbp"},
    )
    existing = Payout.objects.filter(merchant=merchant).count()
    if existing >= payouts + 1:
        _print(f"reusing {existing:,} payouts of {merchant.slug}")
        return merchant, Payout.objects.filter(
            merchant=merchant, processor_payout_id="po_large"
        ).get()
    started = time.perf_counter()
    now = timezone.now()
    rng = random.Random(7)  # noqa: S311 - benchmark data, not secrets
    payout_columns = [
        "public_id",
        "merchant_id",
        "processor",
        "processor_payout_id",
        "amount",
        "currency",
        "status",
        "automatic",
        "arrival_date",
        "failure_code",
        "failure_message",
        "processor_created_at",
        "created_at",
        "updated_at",
    ]
    sizes = [items] * payouts + [large]
    names = [f"po_b{index:08d}" for index in range(payouts)] + ["po_large"]
    rows = []
    for index, (name, size) in enumerate(zip(names, sizes, strict=True)):
        at = now - timedelta(days=payouts - index)
        rows.append(
            (
                f"po_bench{index:08d}",
                merchant.pk,
                "stripe",
                name,
                size * 97,
                "gbp",
                "paid",
                True,
                at + timedelta(days=1),
                "",
                "",
                at,
                at,
                at,
            )
        )
    _copy(Payout._meta.db_table, payout_columns, rows)
    ids = dict(Payout.objects.filter(merchant=merchant).values_list("processor_payout_id", "pk"))
    txn_columns = [
        "public_id",
        "merchant_id",
        "processor",
        "processor_transaction_id",
        "type",
        "amount",
        "fee",
        "net",
        "currency",
        "description",
        "processor_source_id",
        "payout_id",
        "available_on",
        "processor_created_at",
        "created_at",
    ]
    written = 0
    batch: list[tuple[Any, ...]] = []
    for name, size in zip(names, sizes, strict=True):
        payout_pk = ids[name]
        for _ in range(size):
            at = now - timedelta(seconds=rng.randint(0, 90 * 86400))
            batch.append(
                (
                    f"txn_bench{written:010d}",
                    merchant.pk,
                    "stripe",
                    f"txn_src{written:010d}",
                    "charge",
                    100,
                    3,
                    97,
                    "gbp",
                    "",
                    f"ch_bench{written:010d}",
                    payout_pk,
                    at,
                    at,
                    at,
                )
            )
            written += 1
            if len(batch) >= BATCH:
                _copy(BalanceTransaction._meta.db_table, txn_columns, batch)
                batch = []
    if batch:
        _copy(BalanceTransaction._meta.db_table, txn_columns, batch)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Payout._meta.db_table}")
        cursor.execute(f"ANALYZE {BalanceTransaction._meta.db_table}")
    _print(
        f"seeded {payouts + 1:,} payouts and {written:,} balance transactions in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return merchant, Payout.objects.get(merchant=merchant, processor_payout_id="po_large")


def _client(merchant: Any) -> Any:
    from accounts.models import Membership, User
    from accounts.roles import Role
    from tests.factories import verified_client

    user, _ = User.objects.get_or_create(email="bench-payouts-owner@example.test")
    Membership.objects.get_or_create(user=user, merchant=merchant, defaults={"role": Role.OWNER})
    return verified_client(user, merchant=merchant)


def _measure(client: Any, urls: list[str]) -> tuple[list[float], list[float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    totals: list[float] = []
    db_times: list[float] = []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"bench payouts: {url} answered {response.status_code}")
        totals.append(elapsed)
        db_times.append(sum(float(q["time"]) for q in captured.captured_queries))
    return totals, db_times


def _report(label: str, totals: list[float], db_times: list[float]) -> None:
    p95 = _percentile(totals, 0.95) * 1000
    verdict = "meets" if p95 < TARGET_DETAIL_P95_MS else "MISSES"
    _print(
        f"    {label}: p50 {statistics.median(totals) * 1000:.1f} ms  p95 {p95:.1f} ms"
        f" (db p50 {statistics.median(db_times) * 1000:.1f} ms); {verdict} the"
        f" < {TARGET_DETAIL_P95_MS:.0f} ms p95 target"
    )


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench payouts")
    parser.add_argument("--payouts", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.urls import reverse

    from payments.models import Payout
    from payments.payout_reports import payout_csv_lines

    if connection.vendor != "postgresql":
        raise SystemExit("bench payouts: needs PostgreSQL (set DATABASE_URL)")
    settings.ALLOWED_HOSTS = ["*"]
    _prepare_database(fresh=args.fresh)
    merchant, large = _seed(payouts=args.payouts, items=args.items, large=args.large)
    client = _client(merchant)
    ids = list(
        Payout.objects.filter(merchant=merchant)
        .exclude(pk=large.pk)
        .values_list("public_id", flat=True)
    )
    rng = random.Random(11)  # noqa: S311
    picked = [rng.choice(ids) for _ in range(args.samples)]
    urls = [reverse("payout-detail", args=[public_id]) for public_id in picked]
    _measure(client, urls[:10])  # warm-up
    _print(f"(a) payout detail, {len(ids):,} payouts of {args.items} items, {len(urls)} requests")
    _report("random payout", *_measure(client, urls))
    large_url = reverse("payout-detail", args=[large.public_id])
    _report(
        f"payout of {args.large:,} items (first page)",
        *_measure(client, [large_url] * max(20, args.samples // 10)),
    )
    deep = Payout.objects.get(pk=large.pk)
    _print(f"(b) CSV of the payout of {args.large:,} items, streamed")
    started = time.perf_counter()
    lines = sum(1 for _ in payout_csv_lines(deep))
    elapsed = time.perf_counter() - started
    # Memory on a second pass: tracemalloc slows Python several times over.
    tracemalloc.start()
    sum(1 for _ in payout_csv_lines(deep))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _print(
        f"    {lines - 2:,} rows in {elapsed:.1f} s ({(lines - 2) / elapsed:,.0f} rows/s);"
        f" peak Python memory {peak / 1024 / 1024:.1f} MB"
    )
