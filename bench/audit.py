"""Audit log benchmark: recording throughput (1 vs 4 writers), per-transaction overhead, and
`audit_verify` speed over 1,000,000 entries.

Runs in a throwaway database (`<name>_bench_audit`) created and dropped here. Writers are
separate processes (real parallelism, as web workers are). Reports medians of repeated rounds.

    python -m bench audit [--entries 1000000] [--seconds 3] [--rounds 3] [--only-verify]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any

import django

WRITER_COUNTS = (1, 4)


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _writer(seconds: float, queue: Any) -> None:
    """One writer process: record one entry per transaction until time is up."""
    from django.db import connection, transaction

    from compliance.actors import Actor
    from compliance.services import audit_record

    actor = Actor.system("bench")
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        with transaction.atomic():
            started = time.perf_counter()
            audit_record(
                action="payment.refund.created",
                actor=actor,
                merchant_id="mer_bench",
                target_type="payment",
                target_id=f"pay_{count}",
                payload={"amount": 1250, "currency": "eur"},
            )
            latencies.append(time.perf_counter() - started)
        count += 1
    connection.close()
    queue.put((count, latencies))


def _writers_round(writers: int, seconds: float) -> tuple[float, list[float]]:
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_writer, args=(seconds, queue)) for _ in range(writers)]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    total = sum(count for count, _ in results)
    latencies = [value for _, values in results for value in values]
    return total / seconds, latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def bench_writers(*, seconds: float, rounds: int) -> None:
    rates: dict[int, list[float]] = {count: [] for count in WRITER_COUNTS}
    single_latencies: list[float] = []
    for _ in range(rounds):
        for count in WRITER_COUNTS:
            rate, latencies = _writers_round(count, seconds)
            rates[count].append(rate)
            if count == 1:
                single_latencies.extend(latencies)
    medians = {count: statistics.median(values) for count, values in rates.items()}
    for count in WRITER_COUNTS:
        _print(f"writers={count}: {medians[count]:,.0f} entries/s (median of {rounds})")
    _print(f"4 vs 1 writers: {medians[4] / medians[1]:.2f}x (target >= 1.6x)")
    _print(
        f"overhead per transaction (audit_record, 1 writer): "
        f"p50 {_percentile(single_latencies, 0.5) * 1000:.3f} ms, "
        f"p95 {_percentile(single_latencies, 0.95) * 1000:.3f} ms (target p95 < 2 ms)"
    )


def _generate(entries: int) -> None:
    """Bulk rows straight in SQL (the insert trigger still stamps each one)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO compliance_auditentry (created_at, actor_kind, actor_id,"
                " merchant_public_id, action, target_type, target_id, outcome, ip, user_agent,"
                " request_id, payload)"
                " SELECT now() - (%s - g) * interval '1 millisecond', 'api_key', 'key_bench',"
                " 'mer_bench', 'payment.refund.created', 'payment', 'pay_' || g, 'success',"
                " '203.0.113.7', 'bench/1.0', 'req_' || g,"
                " jsonb_build_object('amount', g, 'currency', 'eur')"
                " FROM generate_series(1, %s) AS g",
                [entries, entries],
            )
        else:
            cursor.execute(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s)"
                " INSERT INTO compliance_auditentry (created_at, actor_kind, actor_id,"
                " merchant_public_id, action, target_type, target_id, outcome, ip, user_agent,"
                " request_id, payload)"
                " SELECT strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'), 'api_key', 'key_bench',"
                " 'mer_bench', 'payment.refund.created', 'payment', 'pay_' || n, 'success',"
                " '203.0.113.7', 'bench/1.0', 'req_' || n,"
                " json_object('amount', n, 'currency', 'eur') FROM g",
                [entries],
            )


def bench_verify(*, entries: int, rounds: int) -> None:
    from compliance.models import AuditSeal
    from compliance.sealer import seal_pending
    from compliance.verifier import verify_log

    existing = AuditSeal.objects.count()
    started = time.perf_counter()
    _generate(entries)
    generated = time.perf_counter()
    result = seal_pending(force_checkpoint=True, wait_for_lock=True)
    sealed = time.perf_counter()
    _print(
        f"generated {entries:,} entries in {generated - started:.1f} s; sealed "
        f"{result.sealed:,} ({len(result.checkpoints)} checkpoints) in {sealed - generated:.1f} s "
        f"({result.sealed / (sealed - generated):,.0f} entries/s)"
    )
    total = existing + result.sealed
    # workers=None is what `audit_verify` does by default (parallel on PostgreSQL).
    for workers, label in ((1, "sequential, --workers 1"), (None, "default workers")):
        rates = []
        segments = 1
        for _ in range(rounds):
            began = time.perf_counter()
            report = verify_log(workers=workers)
            elapsed = time.perf_counter() - began
            if not report.ok:
                raise SystemExit(f"bench audit: verification failed: {report.finding}")
            rates.append(report.verified / elapsed)
            segments = report.segments
        _print(
            f"audit_verify over {total:,} entries ({label}, {segments} segments, "
            f"{os.cpu_count()} CPUs): {statistics.median(rates):,.0f} entries/s "
            f"(median of {rounds}; target >= 100,000/s on PostgreSQL)"
        )
    _print(f"load average after the run: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench audit")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only-verify", action="store_true", help="skip the writer rounds (quicker to rerun)"
    )
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()

    import tempfile

    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    settings.AUDIT_SEAL_INLINE = False
    settings.AUDIT_EXPORT_DIR = tempfile.mkdtemp(prefix="bench-audit-")
    connection.settings_dict.setdefault("TEST", {})["NAME"] = (
        f"{connection.settings_dict['NAME']}_bench_audit"
        if connection.vendor == "postgresql"
        else ""
    )
    _print(f"database: {connection.vendor}")
    old = setup_databases(verbosity=0, interactive=False)
    try:
        _print(f"load average before the run: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if not options.only_verify:
            bench_writers(seconds=options.seconds, rounds=options.rounds)
        bench_verify(entries=options.entries, rounds=options.rounds)
    finally:
        teardown_databases(old, verbosity=0)
