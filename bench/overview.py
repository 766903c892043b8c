"""Overview benchmark: the home page `/` for each period over a large history, and what
keeping the per-day payment totals costs a payment write.

    DATABASE_URL=postgres://... python -m bench overview [--payments 1000000] [--samples 30]
        [--writes 200]

With N payments seeded by `seed_bulk` for one merchant (spread over its last 90 days, as a busy
shop's; the day-total triggers count them as they are copied in), the totals are rebuilt with
`rebuild_payment_day_totals` (which reports any day the triggers got wrong: there should be
none). The overview is then requested in-process through Django's test client (server time, no
network hop) for every preset period and a custom range over the whole history, two ways:
- cold: the figures cache is emptied before each request, so every request reads the day
  totals, the partial days' payments, refunds, disputes, customers and the recent activity
  on the database: the worst case, once a minute per merchant and period;
- warm: the figures come from the cache (the page says they refresh every minute).
Reported: p50 and p95 of each, against the < 100 ms p95 target, plus the database time of one
cold request as Django saw it and as the server executed it (EXPLAIN ANALYZE of each read).

Write overhead: `--writes` succeeded payments of today (all on one totals row, the hottest
case) are saved with their status flipped to canceled and back (`payment.save()`, each its own
transaction), and as many payments are created and deleted again, in alternating rounds with
the day-total triggers enabled and disabled (`ALTER TABLE ... DISABLE TRIGGER`); reported: the
median time of each write both ways and their ratio. Every write is undone in the same mode, so
the totals stay exact; a final `rebuild_payment_day_totals --check` proves it.

Shares the payments bench's database (`<name>_bench_payments`), so the rows are seeded once for
both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from bench.payments import (
    _dashboard_client,
    _explain_ms,
    _ms,
    _percentile,
    _print,
    _seed_list_merchant,
    django_for_bench,
    require_postgresql,
)

TARGET_P95_MS = 100.0
PERIODS = ("today", "7d", "4w", "mtd")
WRITE_ROUNDS = 40  # short rounds, alternating, so that load from elsewhere hits both ways
DAY_TOTAL_TRIGGERS = ("insert", "update", "delete", "truncate")


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


def _db_time(client: Any, url: str) -> tuple[float, float, int]:
    """One cold request's query time as Django saw it, the server's own execution time of its
    reads (median of 5 EXPLAIN ANALYZE each: what the load on a shared machine inflates
    least), and the number of queries."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    executed = sum(_explain_ms(sql, repeats=5)[0] for sql in reads)
    return sum(float(q["time"]) for q in captured.captured_queries), executed, len(captured)


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench overview")
    parser.add_argument("--payments", type=int, default=1_000_000, help="rows of one merchant")
    parser.add_argument("--samples", type=int, default=30, help="requests per case")
    parser.add_argument("--writes", type=int, default=200, help="payments saved per mode")
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    options = parser.parse_args(argv)
    require_postgresql("overview")
    name = django_for_bench(fresh=options.fresh)
    _print(f"database {name}")
    merchant = _seed_list_merchant(options.payments)
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("rebuild_payment_day_totals", merchant=merchant.slug, stdout=sys.stdout)
    _print(f"rebuild_payment_day_totals took {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        # A bulk load leaves the visibility map empty; autovacuum fills it on a live table, and
        # the overview's index-only scans need it.
        for table in ("payments_payment", "payments_customer", "payments_paymentdaytotal"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    client = _dashboard_client(merchant)
    _print(f"overview `/`, {options.payments:,} payments of one merchant, {options.samples} each")
    _print("    period   cold p50   cold p95   warm p50   warm p95  db (cold) db execute  queries")
    worst_cold = worst_warm = 0.0
    today = timezone.now().date()
    whole_history = f"custom&start={today - timedelta(days=89):%Y-%m-%d}&end={today:%Y-%m-%d}"
    for period in (*PERIODS, whole_history):
        url = f"/?period={period}"
        cold = _measure(client, url, options.samples, cold=True)
        warm = _measure(client, url, options.samples, cold=False)
        db, executed, queries = _db_time(client, url)
        worst_cold = max(worst_cold, cold["p95"])
        worst_warm = max(worst_warm, warm["p95"])
        _print(
            f"    {period.split('&')[0]:<7} {_ms(cold['p50']):>10} {_ms(cold['p95']):>10}"
            f" {_ms(warm['p50']):>10} {_ms(warm['p95']):>10} {_ms(db):>10} {_ms(executed):>10}"
            f" {queries:>8}"
        )
    for label, worst in (("cold", worst_cold), ("warm", worst_warm)):
        verdict = "meets" if worst * 1000 < TARGET_P95_MS else "MISSES"
        _print(f"    worst {label} p95 {_ms(worst)}: {verdict} the < {TARGET_P95_MS:.0f} ms target")
    _write_overhead(merchant, options.writes)
    call_command("rebuild_payment_day_totals", check=True, stdout=sys.stdout)


def _set_day_totals_triggers(*, enabled: bool) -> None:
    from django.db import connection

    verb = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        for name in DAY_TOTAL_TRIGGERS:
            trigger = f"payments_day_totals_{name}"
            cursor.execute(f"ALTER TABLE payments_payment {verb} TRIGGER {trigger}")


def _write_overhead(merchant: Any, count: int) -> None:
    """Median payment save and create with and without the day-total triggers (see above)."""
    from payments.models import Payment
    from payments.state import PaymentStatus

    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    payments = list(
        Payment.objects.filter(
            merchant=merchant, status=PaymentStatus.SUCCEEDED, created_at__gte=midnight
        ).order_by("-created_at")[:count]
    )
    if len(payments) < count:
        _print(f"write overhead: only {len(payments)} succeeded payments today, skipped")
        return
    saves: dict[bool, list[float]] = {True: [], False: []}
    creates: dict[bool, list[float]] = {True: [], False: []}
    try:
        share = max(1, count // 10)
        for round_number in range(WRITE_ROUNDS):
            batch = [payments[(round_number * share + n) % count] for n in range(share)]
            for maintained in (True, False):
                _set_day_totals_triggers(enabled=maintained)
                for payment in batch:
                    for status in (PaymentStatus.CANCELED, PaymentStatus.SUCCEEDED):
                        payment.status = status
                        started = time.perf_counter()
                        payment.save()
                        saves[maintained].append(time.perf_counter() - started)
                created = []
                for _n in range(max(1, share // 2)):
                    started = time.perf_counter()
                    created.append(
                        Payment.objects.create(
                            merchant=merchant,
                            amount=2_000,
                            amount_captured=2_000,
                            currency="gbp",
                            status=PaymentStatus.SUCCEEDED,
                            processor_payment_method_id="pm_bench_overhead",
                        )
                    )
                    creates[maintained].append(time.perf_counter() - started)
                Payment.objects.filter(pk__in=[row.pk for row in created]).delete()
    finally:
        _set_day_totals_triggers(enabled=True)
    _print(
        f"write overhead of the day totals ({WRITE_ROUNDS} alternating rounds; median per write,"
        " each its own transaction)"
    )
    _print("    write                          with totals   without     ratio")
    for label, times in (
        (f"save() status flip, {len(saves[True]):,} x", saves),
        (f"create, {len(creates[True]):,} x", creates),
    ):
        with_totals = statistics.median(times[True])
        without = statistics.median(times[False])
        _print(
            f"    {label:<30} {_ms(with_totals):>11} {_ms(without):>9} "
            f"{with_totals / without:>8.2f}x"
        )
    _trigger_share(payments)


def _trigger_share(payments: list[Any]) -> None:
    """The day-total trigger's own time inside an UPDATE, as the server measures it (EXPLAIN
    ANALYZE reports each trigger's time apart, and the shared machine's load inflates it far
    less than a client-side clock): median statement time with the trigger, and without it."""
    import json

    from django.db import connection, transaction

    from payments.state import PaymentStatus

    totals: list[float] = []
    triggers: list[float] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for payment in payments:
            for status in (PaymentStatus.CANCELED, PaymentStatus.SUCCEEDED):
                cursor.execute(
                    "EXPLAIN (ANALYZE, FORMAT JSON) UPDATE payments_payment"
                    " SET status = %s, updated_at = now() WHERE id = %s",
                    [status, payment.pk],
                )
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                totals.append(plan[0]["Execution Time"])
                triggers.append(
                    sum(
                        trigger["Time"]
                        for trigger in plan[0].get("Triggers", [])
                        if trigger["Trigger Name"].startswith("payments_day_totals")
                    )
                )
        transaction.set_rollback(True)
    with_trigger = statistics.median(totals)
    bare = [total - trigger for total, trigger in zip(totals, triggers, strict=True)]
    without = statistics.median(bare)
    _print(
        f"    server time of one status UPDATE ({len(totals):,} x, EXPLAIN ANALYZE): "
        f"{with_trigger:.3f} ms, of which the day-total trigger "
        f"{statistics.median(triggers):.3f} ms: {with_trigger / without:.2f}x"
    )
