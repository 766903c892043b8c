"""Payments benchmark: API create latency over the bare processor call, and list pages at depth.

    DATABASE_URL=postgres://... python -m bench payments [--payments 1000000] [--creates 200]

(a) `POST /api/v1/payments` against the Stripe sandbox (in a thread, as in the tests), each
    request interleaved with the same charge made straight through the gateway, so the
    difference of medians is our own overhead; then a burst of API creates for throughput.
(b) With N payments seeded by `seed_bulk` for one merchant, the dashboard list `/payments/` and
    the API list, on the first page and deep pages (cursors taken from deep in the keyset):
    p50/p95 of the in-process request time, the page's database time, and the list query's
    own execution time from `EXPLAIN ANALYZE` with the index it used.

Needs PostgreSQL (the targets are about its planner and indexes). Works in its own database,
`<DATABASE_URL name>_bench_payments`, created and migrated here and kept between runs so the
1,000,000 rows are seeded once (`--fresh` starts over). Requests go through Django's test
client in this process: no network hop, so the times are server time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import django

LIST_PAGE_SIZE = 25
CREATE_BODY = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}
TARGET_OVERHEAD_MS = 15.0
TARGET_PAGE_P95_MS = 60.0
TARGET_QUERY_MS = 2.0
CASE_BUDGET_SECONDS = 10.0


def _print(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


# --- Database -------------------------------------------------------------------------------


def _prepare_database(*, fresh: bool) -> str:
    """Point the default connection at the benchmark database, creating it when missing."""
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    params = connection.settings_dict
    name = f"{params['NAME']}_bench_payments"
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
    return name


# --- (a) API create -------------------------------------------------------------------------


def _sandbox() -> Any:
    from django.conf import settings

    from payments.gateways.stripe import client as stripe_client
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    settings.STRIPE_API_BASE = handle.url
    settings.STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"  # noqa: S105 - the sandbox's key
    stripe_client.clear_client_cache()
    return handle


def _api_client(merchant: Any, role: str) -> Any:
    from django.test import Client

    from accounts import services

    _, secret = services.api_key_create(
        merchant=merchant, name=f"bench {role}", role=role, created_by=None
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _durable_commits(queries: list[dict[str, str]]) -> int:
    """COMMITs, plus writes run in autocommit mode (each of those is a commit of its own)."""
    commits, in_transaction = 0, False
    for query in queries:
        text = query["sql"]
        if text == "BEGIN":
            in_transaction = True
        elif text in ("COMMIT", "ROLLBACK"):
            commits += text == "COMMIT"
            in_transaction = False
        elif not in_transaction and text.startswith(("INSERT", "UPDATE", "DELETE")):
            commits += 1
    return commits


def bench_create(*, creates: int) -> None:
    from accounts.models import Merchant
    from accounts.roles import Role
    from payments.gateways import gateway_named
    from payments.models import ProcessorAccount

    run_id = uuid.uuid4().hex[:12]
    # A new merchant per run: the in-thread sandbox starts empty, so an earlier run's
    # connected account would be unknown to it.
    merchant = Merchant.objects.create(
        slug=f"bench-api-{run_id}", legal_name="Bench API Ltd", country="GB", default_currency="gbp"
    )
    client = _api_client(merchant, Role.DEVELOPER)
    body = json.dumps(CREATE_BODY)

    def api_create(index: int) -> None:
        response = client.post(
            "/api/v1/payments",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"bench-{run_id}-{index}",
        )
        if response.status_code not in (200, 201):
            raise SystemExit(f"bench payments: create answered {response.status_code}")

    for index in range(10):  # warm-up; the first create also makes the connected account
        api_create(-1 - index)
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id

    gateway = gateway_named("stripe")

    def bare_create(index: int) -> None:
        gateway.charge_create(
            account=account,
            key=f"bench-bare-{run_id}-{index}",
            reference=f"bench-bare-{run_id}-{index}",
            method_type="card",
            capture_manually=False,
            **CREATE_BODY,  # type: ignore[arg-type]
        )

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        api_create(-100)
    # Copied now: every later request resets the connection's query log.
    create_queries = list(captured.captured_queries)
    commits = _durable_commits(create_queries)
    db_time = sum(float(q["time"]) for q in create_queries)
    api_times: list[float] = []
    bare_times: list[float] = []
    for index in range(creates):
        api_times.append(_timed(partial(api_create, index))[0])
        bare_times.append(_timed(partial(bare_create, index))[0])
    overheads = [a - b for a, b in zip(api_times, bare_times, strict=True)]
    burst_started = time.perf_counter()
    for index in range(creates):
        api_create(creates + index)
    burst = time.perf_counter() - burst_started
    own_times = _own_work_times(api_create, account=account, start=2 * creates, count=creates)

    api_p50, bare_p50 = statistics.median(api_times), statistics.median(bare_times)
    _print(f"(a) POST /api/v1/payments, {creates} interleaved pairs, sandbox in-thread")
    _print(f"    API create      p50 {_ms(api_p50)}  p99 {_ms(_percentile(api_times, 0.99))}")
    _print(f"    bare processor  p50 {_ms(bare_p50)}  p99 {_ms(_percentile(bare_times, 0.99))}")
    overhead_p50 = statistics.median(overheads)
    verdict = "meets" if overhead_p50 * 1000 < TARGET_OVERHEAD_MS else "MISSES"
    _print(
        f"    our overhead    p50 {_ms(overhead_p50)} (ratio API/bare {api_p50 / bare_p50:.2f}x)"
        f"; {verdict} the < {TARGET_OVERHEAD_MS:.0f} ms target"
    )
    _print(
        f"    own work        p50 {_ms(statistics.median(own_times))}"
        f"  p99 {_ms(_percentile(own_times, 0.99))} (the whole create, processor answered"
        " from memory)"
    )
    _print(
        f"    one create ran {len(create_queries)} SQL statements ({commits} durable commits)"
        f" taking {_ms(db_time)} of database time"
    )
    _print(
        f"    throughput      {creates / burst:.0f} creates/s, one client, one process "
        f"({creates} sequential creates in {burst:.1f} s)"
    )


def _own_work_times(
    api_create: Callable[[int], None], *, account: str, start: int, count: int
) -> list[float]:
    """API creates whose processor call returns a prepared answer at once.

    The sandbox's own latency varies by tens of milliseconds from call to call (TCP
    delayed acknowledgements on its two-write responses), which makes the difference of
    medians noisy; this times everything of ours (middleware, idempotency, both
    transactions, audit, serializers) with the processor call taken out.
    """
    import dataclasses

    from payments.gateways import gateway_named

    gateway: Any = gateway_named("stripe")
    real = gateway.charge_create
    own_key = f"bench-own-{uuid.uuid4().hex[:12]}"
    answer = real(
        account=account,
        key=own_key,
        reference=own_key,
        method_type="card",
        capture_manually=False,
        **CREATE_BODY,
    )
    issued = iter(range(count + 1))

    def prepared(**_: Any) -> Any:
        # A fresh intent id per payment: a payment never adopts another payment's intent.
        return dataclasses.replace(answer, id=f"{answer.id}_{next(issued)}")

    # On the registry's one instance, as services reach it; `del` restores the class's method.
    gateway.charge_create = prepared
    try:
        return [_timed(partial(api_create, start + index))[0] for index in range(count)]
    finally:
        del gateway.charge_create


# --- (b) Lists at depth ---------------------------------------------------------------------


def _seed_list_merchant(payments: int) -> Any:
    from django.core.management import call_command

    from accounts.models import Merchant
    from payments.models import Payment

    merchant, _ = Merchant.objects.get_or_create(
        slug=f"bench-{payments}",
        defaults={"legal_name": "Bench Lists Ltd", "country": "GB", "default_currency": "gbp"},
    )
    existing = Payment.objects.filter(merchant=merchant).count()
    if existing < payments:
        _print(f"seeding {payments - existing:,} payments (seed_bulk) for {merchant.slug}")
        started = time.perf_counter()
        call_command(
            "seed_bulk", payments=payments - existing, merchant=merchant.slug, stdout=sys.stdout
        )
        _print(f"seeded in {time.perf_counter() - started:.0f} s")
    else:
        _print(f"reusing {existing:,} payments of {merchant.slug}")
    return merchant


def _dashboard_client(merchant: Any) -> Any:
    from accounts.models import Membership, User
    from accounts.roles import Role
    from tests.factories import verified_client

    user, _ = User.objects.get_or_create(email="bench-owner@example.test")
    Membership.objects.get_or_create(user=user, merchant=merchant, defaults={"role": Role.OWNER})
    return verified_client(user, merchant=merchant)


def _cursors(merchant: Any, payments: int) -> Iterator[tuple[str, str | None]]:
    from payments.models import Payment

    yield "first page", None
    ordered = Payment.objects.filter(merchant=merchant).order_by("-created_at", "-pk")
    for depth in sorted({10_000, payments // 2, payments - LIST_PAGE_SIZE}):
        if 0 < depth < payments:
            # One OFFSET query here to find the cursor; the pages themselves never use OFFSET.
            cursor = ordered.values_list("public_id", flat=True)[depth - 1]
            yield f"after {depth:,}", cursor


def _explain_ms(sql_text: str, repeats: int = 7) -> tuple[float, str]:
    """Median execution time of `sql_text` under EXPLAIN ANALYZE, and the indexes it used."""
    from django.db import connection

    times: list[float] = []
    indexes: set[str] = set()
    with connection.cursor() as cursor:
        for _ in range(repeats):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql_text}")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            times.append(plan[0]["Execution Time"] / 1000)
            stack = [plan[0]["Plan"]]
            while stack:
                node = stack.pop()
                if "Index Name" in node:
                    indexes.add(node["Index Name"])
                stack.extend(node.get("Plans", []))
    return statistics.median(times), ", ".join(sorted(indexes)) or "no index (sequential scan)"


def _list_query(queries: list[dict[str, str]]) -> str | None:
    for query in queries:
        text = query["sql"]
        if (
            'FROM "payments_payment"' in text
            and 'ORDER BY "payments_payment"."created_at" DESC' in text
            and "LIMIT" in text
        ):
            return text
    return None


def _measure_page(client: Any, url: str, samples: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        client.get(url)
    times: list[float] = []
    budget = time.perf_counter() + CASE_BUDGET_SECONDS
    # A pathologically slow case (a full scan per page) gets fewer samples, not ten minutes.
    while len(times) < samples and (len(times) < 5 or time.perf_counter() < budget):
        elapsed, response = _timed(lambda: client.get(url))
        if response.status_code != 200:
            raise SystemExit(f"bench payments: GET {url} answered {response.status_code}")
        times.append(elapsed)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = list(captured.captured_queries)
    list_sql = _list_query(queries)
    query_ms, index = _explain_ms(list_sql) if list_sql else (float("nan"), "not found")
    return {
        "samples": len(times),
        "p50": statistics.median(times),
        "p95": _percentile(times, 0.95),
        "queries": len(queries),
        "db": sum(float(q["time"]) for q in queries),
        "query": query_ms,
        "index": index,
    }


def bench_lists(*, payments: int, samples: int) -> None:
    from accounts.roles import Role

    merchant = _seed_list_merchant(payments)
    dashboard = _dashboard_client(merchant)
    api = _api_client(merchant, Role.VIEWER)
    _print(f"(b) payments lists, {payments:,} payments of one merchant, {samples} samples each")
    _print(
        "    surface    page            p50        p95        db/page    queries  "
        "list query (EXPLAIN ANALYZE)"
    )
    worst_p95 = worst_query = 0.0
    first_p50: dict[str, float] = {}
    for label, cursor in _cursors(merchant, payments):
        suffix = f"starting_after={cursor}" if cursor else ""
        for surface, client, url in (
            ("dashboard", dashboard, f"/payments/?{suffix}"),
            ("API", api, f"/api/v1/payments?limit={LIST_PAGE_SIZE}&{suffix}"),
        ):
            result = _measure_page(client, url, samples)
            first_p50.setdefault(surface, result["p50"])
            worst_p95 = max(worst_p95, result["p95"])
            worst_query = max(worst_query, result["query"])
            _print(
                f"    {surface:<10} {label:<15} {_ms(result['p50']):>10} {_ms(result['p95']):>10}"
                f" {_ms(result['db']):>10} {result['queries']:>8}  {_ms(result['query'])}"
                f" via {result['index']}; n={result['samples']}"
                f"  (p50 {result['p50'] / first_p50[surface]:.2f}x first page)"
            )
    page_ok = "meets" if worst_p95 * 1000 < TARGET_PAGE_P95_MS else "MISSES"
    query_ok = "meets" if worst_query * 1000 < TARGET_QUERY_MS else "MISSES"
    _print(
        f"    worst page p95 {_ms(worst_p95)}: {page_ok} the < {TARGET_PAGE_P95_MS:.0f} ms target;"
        f" worst list query {_ms(worst_query)}: {query_ok} the < {TARGET_QUERY_MS:.0f} ms target"
    )


def require_postgresql(bench: str) -> None:
    """Exit with a reason unless DATABASE_URL names PostgreSQL (the targets are for it)."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        _print(f"bench {bench}: needs PostgreSQL; set DATABASE_URL=postgres://... (skipped)")
        raise SystemExit(1)


def django_for_bench(*, fresh: bool) -> str:
    """Django on the benchmark database, handling requests as production does; its name."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    import warnings

    from django.conf import settings

    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collectstatic
    # Production-like request handling: no static-file rescans, audit sealing by beat.
    settings.WHITENOISE_AUTOREFRESH = False
    settings.AUDIT_SEAL_INLINE = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    return _prepare_database(fresh=fresh)


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench payments")
    parser.add_argument("--payments", type=int, default=1_000_000, help="rows for the lists")
    parser.add_argument("--creates", type=int, default=200, help="API creates to time")
    parser.add_argument("--samples", type=int, default=40, help="requests per list case")
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    options = parser.parse_args(argv)
    require_postgresql("payments")
    if options.payments < LIST_PAGE_SIZE * 2 or options.creates < 1 or options.samples < 1:
        _print("bench payments: --payments must be >= 50, --creates and --samples >= 1")
        raise SystemExit(1)
    name = django_for_bench(fresh=options.fresh)
    import logging

    # The SDK logs every request at INFO; that is noise here, and the same for both sides.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    _print(f"database: postgresql {name}")
    handle = _sandbox()
    try:
        bench_create(creates=options.creates)
        bench_lists(payments=options.payments, samples=options.samples)
    finally:
        handle.stop()
