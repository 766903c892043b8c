"""Overview benchmark: the home page `/` for each period over a large history.

    DATABASE_URL=postgres://... python -m bench overview [--payments 1000000] [--samples 30]

With N payments seeded by `seed_bulk` for one merchant (spread over its last 90 days, as a busy
shop's), the overview is requested in-process through Django's test client (server time, no
network hop) for every preset period, two ways:
- cold: the figures cache is emptied before each request, so every request runs the
  aggregates (both periods of four tables, the chart's series, other currencies) and the
  recent activity on the database: the worst case, once a minute per merchant and period;
- warm: the figures come from the cache (the page says they refresh every minute).
Reported: p50 and p95 of each, against the < 100 ms p95 target, plus the database time of one
cold request. Shares the payments bench's database (`<name>_bench_payments`), so the rows are
seeded once for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import django

from bench.payments import (
    _dashboard_client,
    _ms,
    _percentile,
    _prepare_database,
    _print,
    _seed_list_merchant,
)

TARGET_P95_MS = 100.0
PERIODS = ("today", "7d", "4w", "mtd")


def _measure(client: Any, url: str, samples: int, *, cold: bool) -> dict[str, float]:
    from django.core.cache import cache

    for _ in range(2):
        client.get(url)
    times: list[float] = []
    for _ in range(samples):
        if cold:
            cache.clear()
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"bench overview: GET {url} answered {response.status_code}")
        times.append(elapsed)
    return {"p50": statistics.median(times), "p95": _percentile(times, 0.95)}


def _db_time(client: Any, url: str) -> tuple[float, int]:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return sum(float(q["time"]) for q in captured.captured_queries), len(captured)


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench overview")
    parser.add_argument("--payments", type=int, default=1_000_000, help="rows of one merchant")
    parser.add_argument("--samples", type=int, default=30, help="requests per case")
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    options = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        _print("bench overview: needs PostgreSQL; set DATABASE_URL=postgres://... (skipped)")
        raise SystemExit(1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    import warnings

    from django.conf import settings

    # Production-like request handling, as the payments bench: no static-file rescans.
    warnings.filterwarnings("ignore", message="No directory at")
    settings.WHITENOISE_AUTOREFRESH = False
    settings.AUDIT_SEAL_INLINE = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    name = _prepare_database(fresh=options.fresh)
    _print(f"database {name}")
    merchant = _seed_list_merchant(options.payments)
    from django.db import connection

    with connection.cursor() as cursor:
        # A bulk load leaves the visibility map empty; autovacuum fills it on a live table, and
        # the overview's index-only scans need it.
        cursor.execute("VACUUM ANALYZE payments_payment")
    client = _dashboard_client(merchant)
    _print(f"overview `/`, {options.payments:,} payments of one merchant, {options.samples} each")
    _print("    period   cold p50   cold p95   warm p50   warm p95   db (cold)  queries")
    worst_cold = worst_warm = 0.0
    for period in PERIODS:
        url = f"/?period={period}"
        cold = _measure(client, url, options.samples, cold=True)
        warm = _measure(client, url, options.samples, cold=False)
        db, queries = _db_time(client, url)
        worst_cold = max(worst_cold, cold["p95"])
        worst_warm = max(worst_warm, warm["p95"])
        _print(
            f"    {period:<7} {_ms(cold['p50']):>10} {_ms(cold['p95']):>10}"
            f" {_ms(warm['p50']):>10} {_ms(warm['p95']):>10} {_ms(db):>10} {queries:>8}"
        )
    for label, worst in (("cold", worst_cold), ("warm", worst_warm)):
        verdict = "meets" if worst * 1000 < TARGET_P95_MS else "MISSES"
        _print(f"    worst {label} p95 {_ms(worst)}: {verdict} the < {TARGET_P95_MS:.0f} ms target")
