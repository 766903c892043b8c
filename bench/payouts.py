"""Payouts benchmark: the payout detail page over a large history, and the payout CSV's memory.

    DATABASE_URL=postgres://... python -m bench payouts [--payments 1000000] [--payouts 10000]
        [--large 100000] [--medium 10000] [--samples 200] [--fresh]

Works on the payments bench's merchant and database (`<DATABASE_URL name>_bench_payments`, with
`--payments` payments seeded by `seed_bulk`, shared with `bench payments` and `bench overview`),
so the payouts sit next to 1,000,000 payments, as a busy shop's do. On top of them it writes
once, in SQL (the rows the money mirror would hold):
- a `charge` balance transaction for every succeeded payment (the processor's card fee, net)
  and a `refund` one for every refunded payment, linked to their payments;
- per currency in time order, the first `--large` items swept by one big payout and the next
  `--medium` by another (the CSV cases), and all the rest by `--payouts` automatic payouts of
  equal shares (about 76 items each at 1,000,000 payments), each with its own debit;
- every payout's amount equal to its items' net, as the processor's are;
- rows in the order the processor made them (all currencies interleaved), so a payout's items
  lie spread over the table as a live one's do, not packed together.
Then:
(a) `GET /balance/payouts/<id>/` for random payouts, cold: the cache is emptied before every
    request, so each computes the contents' aggregate and the first page of items (target p95
    < 60 ms); p50/p95 of the in-process request time and of its database time, the page's
    queries, and each of its payout queries under `EXPLAIN ANALYZE` with the index it used; then
    the big payout's page, cold and warm (its contents are cached for a finished payout);
(b) `GET /balance/payouts/<id>/export` of the medium and the big payout, streamed through the
    view: rows, time, rows/s, and the memory it took side by side: Python's peak allocation
    (tracemalloc, a second pass) and the growth of the process's resident set, which must be
    the same at 10,000 and 100,000 rows (flat).
Requests go through Django's test client in this process, so the times are server time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import tracemalloc
from typing import Any

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

TARGET_DETAIL_P95_MS = 60.0
# Page size of the process's resident-set reading (/proc/self/statm counts pages).
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
RSS_EVERY_ROWS = 500
LARGE_ID = "po_benchlarge"
MEDIUM_ID = "po_benchmedium"


# --- Seeding --------------------------------------------------------------------------------

# One row per balance transaction a payment made: its charge (succeeded payments) and its
# refund (refunded ones), with the sandbox's card fee (2.9% + 30, half up; ledger.card_fee).
_ITEMS_SQL = """
CREATE TEMP TABLE bench_items AS
SELECT i.*,
       row_number() OVER (PARTITION BY i.currency ORDER BY i.created, i.payment_id, i.kind)
           AS rn,
       count(*) OVER (PARTITION BY i.currency) AS n
FROM (
    SELECT p.id AS payment_id, p.currency, p.created_at AS created, 'charge' AS kind,
           p.amount_captured AS amount, (p.amount_captured * 29 + 500) / 1000 + 30 AS fee,
           p.processor_charge_id AS source
    FROM payments_payment p
    WHERE p.merchant_id = %(merchant)s AND p.status = 'succeeded' AND p.amount_captured > 0
    UNION ALL
    SELECT p.id, p.currency, p.updated_at, 'refund', -p.amount_refunded, 0,
           're_' || substr(p.public_id, 5)
    FROM payments_payment p
    WHERE p.merchant_id = %(merchant)s AND p.amount_refunded > 0
) i
"""

_PAYOUTS_SQL = """
INSERT INTO payments_payout (public_id, merchant_id, processor, processor_payout_id, amount,
    currency, status, automatic, arrival_date, failure_code, failure_message,
    processor_created_at, created_at, updated_at)
SELECT b.payout, %(merchant)s, 'stripe', b.payout, sum(b.amount - b.fee), b.currency, 'paid',
       true, max(b.created) + interval '3 days', '', '', max(b.created) + interval '2 days',
       max(b.created) + interval '2 days', max(b.created) + interval '2 days'
FROM bench_items b GROUP BY b.payout, b.currency
"""

_TRANSACTIONS_SQL = """
INSERT INTO payments_balancetransaction (public_id, merchant_id, processor,
    processor_transaction_id, type, amount, fee, net, currency, description,
    processor_source_id, payment_id, payout_id, available_on, processor_created_at, created_at)
SELECT 'txn_bench' || b.kind || b.payment_id, %(merchant)s, 'stripe',
       'txn_bench' || b.kind || b.payment_id, b.kind, b.amount, b.fee, b.amount - b.fee,
       b.currency, '', b.source, b.payment_id, po.id, b.created + interval '2 days', b.created,
       b.created
FROM bench_items b JOIN payments_payout po
    ON po.merchant_id = %(merchant)s AND po.processor_payout_id = b.payout
ORDER BY b.created
"""

# Each payout's own debit, listed under it as the processor lists it (not part of its contents).
_DEBITS_SQL = """
INSERT INTO payments_balancetransaction (public_id, merchant_id, processor,
    processor_transaction_id, type, amount, fee, net, currency, description,
    processor_source_id, payment_id, payout_id, available_on, processor_created_at, created_at)
SELECT 'txn_debit' || substr(po.public_id, 4), %(merchant)s, 'stripe',
       'txn_debit' || substr(po.public_id, 4), 'payout', -po.amount, 0, -po.amount, po.currency,
       'STRIPE PAYOUT', po.processor_payout_id, NULL, po.id, po.processor_created_at,
       po.processor_created_at, po.processor_created_at
FROM payments_payout po
WHERE po.merchant_id = %(merchant)s AND po.processor_payout_id LIKE 'po_bench%%'
"""


def _execute(sql_text: str, params: dict[str, Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql_text, params)
        return int(cursor.rowcount)


def _allocate(counts: dict[str, int], *, payouts: int, large: int, medium: int) -> dict[str, int]:
    """How many of the `payouts` equal-share payouts each currency gets, by its items left
    once the big and medium payouts took theirs (from the largest currency); at least one."""
    biggest = max(counts, key=lambda currency: counts[currency])
    left = {c: n - (large + medium if c == biggest else 0) for c, n in counts.items()}
    if left[biggest] < 1:
        raise SystemExit(
            f"bench payouts: {counts[biggest]:,} {biggest} items cannot fill payouts of "
            f"{large:,} and {medium:,} items; seed more payments or lower --large/--medium"
        )
    total = sum(left.values())
    shares = {c: max(1, round(payouts * n / total)) for c, n in left.items()}
    shares[biggest] += payouts - sum(shares.values())
    return shares


def _seed_payouts(merchant: Any, *, payouts: int, large: int, medium: int) -> None:
    """The payouts and balance transactions above, written once (kept while the shape holds)."""
    from django.db import transaction

    from payments.models import BalanceTransaction, Payout

    bench_payouts = Payout.objects.filter(
        merchant=merchant, processor_payout_id__startswith="po_bench"
    )
    big_items = (
        BalanceTransaction.objects.filter(merchant=merchant, payout__processor_payout_id=LARGE_ID)
        .exclude(type="payout")
        .count()
    )
    if bench_payouts.count() == payouts + 2 and big_items == large:
        _print(f"reusing {payouts + 2:,} payouts of {merchant.slug}")
        return
    started = time.perf_counter()
    with transaction.atomic():
        if bench_payouts.exists():
            _print("the payouts' shape changed: rewriting them")
            BalanceTransaction.objects.filter(merchant=merchant).delete()
            bench_payouts.delete()
        _execute(_ITEMS_SQL, {"merchant": merchant.pk})
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT currency, max(n) FROM bench_items GROUP BY currency")
            counts = {currency: int(n) for currency, n in cursor.fetchall()}
        shares = _allocate(counts, payouts=payouts, large=large, medium=medium)
        biggest = max(counts, key=lambda currency: counts[currency])
        _execute("ALTER TABLE bench_items ADD COLUMN payout text")
        # The biggest currency's oldest items go to the big payout, the next to the medium one;
        # every other item to one of its currency's equal shares, in time order.
        for currency, share in shares.items():
            offset = large + medium if currency == biggest else 0
            _execute(
                "UPDATE bench_items SET payout = CASE"
                " WHEN %(big)s AND rn <= %(large)s THEN %(large_id)s"
                " WHEN %(big)s AND rn <= %(offset)s THEN %(medium_id)s"
                " ELSE 'po_bench' || currency"
                "   || lpad(((rn - %(offset)s - 1) * %(share)s / (n - %(offset)s))::text, 6, '0')"
                " END WHERE currency = %(currency)s",
                {
                    "big": currency == biggest,
                    "large": large,
                    "large_id": LARGE_ID,
                    "medium_id": MEDIUM_ID,
                    "offset": offset,
                    "share": share,
                    "currency": currency,
                },
            )
        made = _execute(_PAYOUTS_SQL, {"merchant": merchant.pk})
        items = _execute(_TRANSACTIONS_SQL, {"merchant": merchant.pk})
        debits = _execute(_DEBITS_SQL, {"merchant": merchant.pk})
        _execute("DROP TABLE bench_items")
    _execute("VACUUM ANALYZE payments_payout")
    _execute("VACUUM ANALYZE payments_balancetransaction")
    _print(
        f"seeded {made:,} payouts ({large:,} and {medium:,} items, then {payouts:,} in"
        f" {len(shares)} currencies) and {items + debits:,} balance transactions in"
        f" {time.perf_counter() - started:.0f} s"
    )


# --- (a) the detail page --------------------------------------------------------------------


def _load() -> str:
    """The machine's load, to read wall times by (the benchmarks share a small machine)."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} CPUs"


def _detail_queries(queries: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The page's queries on payouts and balance transactions, labelled."""
    found = []
    for query in queries:
        text = query["sql"]
        if 'FROM "payments_balancetransaction"' in text:
            found.append(("contents" if "GROUP BY" in text else "items page", text))
        elif 'FROM "payments_payout"' in text:
            found.append(("payout", text))
    return found


def _measure(client: Any, urls: list[str], *, cold: bool) -> dict[str, Any]:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    totals: list[float] = []
    cpu_times: list[float] = []
    db_times: list[float] = []
    counts: list[int] = []
    for url in urls:
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            cpu_times.append(time.process_time() - cpu_started)
        if response.status_code != 200:
            raise SystemExit(f"bench payouts: GET {url} answered {response.status_code}")
        totals.append(elapsed)
        db_times.append(sum(float(q["time"]) for q in captured.captured_queries))
        counts.append(len(captured.captured_queries))
    return {
        "p50": statistics.median(totals),
        "p95": _percentile(totals, 0.95),
        "db": statistics.median(db_times),
        "cpu": statistics.median(cpu_times),
        "queries": max(counts),
    }


def _report(label: str, result: dict[str, Any], *, target: bool = True) -> float:
    verdict = ""
    if target:
        meets = result["p95"] * 1000 < TARGET_DETAIL_P95_MS
        verdict = f"; {'meets' if meets else 'MISSES'} the < {TARGET_DETAIL_P95_MS:.0f} ms target"
    _print(
        f"    {label:<31} p50 {_ms(result['p50']):>9}  p95 {_ms(result['p95']):>9}"
        f"  db p50 {_ms(result['db']):>8}  cpu p50 {_ms(result['cpu']):>8}"
        f"  {result['queries']} queries{verdict}"
    )
    return float(result["p95"])


def _explain_page(client: Any, url: str) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    for label, text in _detail_queries(list(captured.captured_queries)):
        query_time, index = _explain_ms(text)
        _print(f"      {label:<12} {_ms(query_time):>10} via {index}")


def bench_detail(client: Any, merchant: Any, *, samples: int) -> None:
    from django.urls import reverse

    from payments.models import BalanceTransaction, Payout

    ids = list(
        Payout.objects.filter(merchant=merchant)
        .exclude(processor_payout_id__in=(LARGE_ID, MEDIUM_ID))
        .values_list("public_id", flat=True)
    )
    rng = random.Random(11)  # noqa: S311 - picks pages, not secrets
    urls = [reverse("payout-detail", args=[rng.choice(ids)]) for _ in range(samples)]
    items = BalanceTransaction.objects.filter(merchant=merchant).count()
    _print(
        f"(a) payout detail: {len(ids):,} payouts (+2 big ones), {items:,} balance transactions"
        f" and the merchant's payments; {samples} requests, random payouts; {_load()}"
    )
    _measure(client, urls[:10], cold=True)  # warm-up: connections, templates, plans
    cold = _report("random payout, cold", _measure(client, urls, cold=True))
    _report("random payout, warm", _measure(client, urls, cold=False), target=False)
    _print("    its payout queries under EXPLAIN ANALYZE (median of 7):")
    _explain_page(client, urls[0])
    large = Payout.objects.get(merchant=merchant, processor_payout_id=LARGE_ID)
    large_url = reverse("payout-detail", args=[large.public_id])
    count = BalanceTransaction.objects.filter(payout=large).exclude(type="payout").count()
    big = max(10, samples // 10)
    _report(
        f"payout of {count:,} items, cold",
        _measure(client, [large_url] * big, cold=True),
        target=False,
    )
    _report(
        f"payout of {count:,} items, warm",
        _measure(client, [large_url] * big, cold=False),
        target=False,
    )
    _print("    its payout queries under EXPLAIN ANALYZE (median of 7):")
    _explain_page(client, large_url)
    verdict = "meets" if cold * 1000 < TARGET_DETAIL_P95_MS else "MISSES"
    _print(
        f"    payout detail p95 (cold, random payouts) {_ms(cold)}: {verdict} the"
        f" < {TARGET_DETAIL_P95_MS:.0f} ms target ({_load()}; the cpu column is this"
        " process's own time, which other processes' load does not lengthen)"
    )


# --- (b) the CSV ----------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def _stream(client: Any, url: str, *, watch_rss: bool) -> tuple[int, int, int, int]:
    """Lines and bytes of the streamed CSV, the resident set before and its growth while
    streaming (its highest reading every `RSS_EVERY_ROWS` lines)."""
    response = client.get(url)
    if response.status_code != 200 or not response.streaming:
        raise SystemExit(f"bench payouts: GET {url} answered {response.status_code}")
    start = peak = _rss_bytes() if watch_rss else 0
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
        if watch_rss and lines % RSS_EVERY_ROWS == 0:
            peak = max(peak, _rss_bytes())
    response.close()
    return lines, size, start, (max(peak, _rss_bytes()) - start) if watch_rss else 0


def bench_csv(client: Any, merchant: Any) -> None:
    import gc

    from django.urls import reverse

    from payments.models import Payout

    _print("(b) payout CSV streamed through the export view (server-side cursor, chunks of rows)")
    _print("    rows        time      rows/s     MB    Python peak   RSS growth (of)")
    peaks: list[float] = []
    for processor_id in (MEDIUM_ID, LARGE_ID):
        payout = Payout.objects.get(merchant=merchant, processor_payout_id=processor_id)
        url = reverse("payout-export", args=[payout.public_id])
        gc.collect()
        started = time.perf_counter()
        lines, size, rss_before, rss = _stream(client, url, watch_rss=True)
        elapsed = time.perf_counter() - started
        gc.collect()
        # Python's own allocations on a second pass: tracemalloc slows Python several times.
        tracemalloc.start()
        _stream(client, url, watch_rss=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows = lines - 2  # the header and the total
        peaks.append(peak)
        _print(
            f"    {rows:>7,} {elapsed:>9.2f} s {rows / elapsed:>9,.0f} {size / 1e6:>7.1f}"
            f" {peak / 1e6:>10.2f} MB {rss / 1e6:>9.2f} MB ({rss_before / 1e6:.0f} MB)"
        )
    ratio = peaks[1] / peaks[0] if peaks[0] else float("nan")
    flat = "flat" if ratio < 1.5 else "NOT flat"
    _print(f"    Python peak at 10x the rows: {ratio:.2f}x ({flat})")


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench payouts")
    parser.add_argument("--payments", type=int, default=1_000_000, help="the merchant's payments")
    parser.add_argument("--payouts", type=int, default=10_000, help="equal-share payouts")
    parser.add_argument("--large", type=int, default=100_000, help="items of the big payout")
    parser.add_argument("--medium", type=int, default=10_000, help="items of the medium payout")
    parser.add_argument("--samples", type=int, default=200, help="detail requests per case")
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    options = parser.parse_args(argv)
    require_postgresql("payouts")
    if min(options.payouts, options.large, options.medium, options.samples) < 1:
        _print("bench payouts: --payouts, --large, --medium and --samples must be >= 1")
        raise SystemExit(1)
    name = django_for_bench(fresh=options.fresh)
    _print(f"database: postgresql {name}")
    merchant = _seed_list_merchant(options.payments)
    _seed_payouts(merchant, payouts=options.payouts, large=options.large, medium=options.medium)
    client = _dashboard_client(merchant)
    bench_detail(client, merchant, samples=options.samples)
    bench_csv(client, merchant)
