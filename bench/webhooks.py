"""Webhook benchmark: acknowledgement against a bare view on one gunicorn, then end to end.

    DATABASE_URL=postgres://... REDIS_URL=redis://.../<db> python -m bench webhooks

gunicorn (4 sync workers, `bench.settings_webhooks`) serves the real `/webhooks/stripe/` and,
on the same server, `/bench/bare`, a view that only returns a small JSON through the same
middleware. `wrk` posts distinct, validly signed events (signed beforehand, read by a Lua
script) at 8 connections and at 1, alternating bare and webhook rounds; the report gives
medians of throughput and p50/p99 and the ratio to the bare view of the same round.

End to end: the outbox relay (`relay_inbound_events`) and one `celery worker` (prefork, 2 pool
processes by default) on the same machine,
10,000 payment events on 10,000 payments, 30% of the deliveries repeats, shuffled, posted at a
fixed rate; backlog sampled while they arrive. Then the effects are counted: every event
stored and applied once (one status change audited per payment), none lost.

Works in its own database (`ll_bench_hooks` on DATABASE_URL's server, created and migrated
here). Publishes to REDIS_URL's database and purges its default queue: give it a database of
its own. Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import django

# BENCH_DATABASE gives parallel runs (another checkout's, say) databases of their own.
DATABASE = os.environ.get("BENCH_DATABASE", "ll_bench_hooks")
SECRET = "whsec_bench_current"  # noqa: S105 - a benchmark-only secret, set for gunicorn below
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.25
TARGET_P99_MS = {8: 15.0, 1: 5.0}
TARGET_E2E_RATE = 250.0
# Past this after the last acknowledgement, what is left is reported as not applied in time.
DRAIN_LIMIT_SECONDS = 60.0
# Enough signed events that no wrk round runs out of distinct ones.
EVENTS_PER_SECOND_CEILING = {8: 4000, 1: 1500}

WRK_SCRIPT = r"""
local lines, index, path = {}, 0, "/"
local counter, threads = 0, {}
wrapped = 0  -- a global, so that done() can read it from each thread

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  local stride, n = tonumber(args[3]), 0
  for line in io.lines(args[2]) do
    if n % stride == id then table.insert(lines, line) end
    n = n + 1
  end
end

function request()
  index = index + 1
  if index > #lines then index, wrapped = 1, wrapped + 1 end
  local line = lines[index]
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = line:sub(1, tab - 1),
  }, line:sub(tab + 1))
end

function done(summary, latency, requests)
  local laps = 0
  for _, thread in ipairs(threads) do laps = laps + thread:get("wrapped") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non2xx": %d, "socket_errors": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, laps))
end
"""


def _print(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


# --- Setup ----------------------------------------------------------------------------------


def _database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    params = connection.settings_dict
    with admin_connection(params) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    connection.close()
    params["NAME"] = DATABASE
    call_command("migrate", verbosity=0)
    # Earlier runs' events only slow the unique index down; each run starts from none.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE payments_outboxentry, payments_inboundevent")


@dataclass(frozen=True)
class Fixture:
    account: str
    merchant_public_id: str
    intents: list[str]
    # (a)'s events go to another merchant, so that (b) counts only its own.
    ack_account: str


def _connected_merchant(name: str) -> tuple[Any, str]:
    """A new merchant with its connected account, and the account's id."""
    from accounts.models import Merchant
    from payments.models import ProcessorAccount

    merchant = Merchant.objects.create(
        slug=f"bench-hooks-{name}",
        legal_name="Bench Hooks Ltd",
        country="GB",
        default_currency="gbp",
    )
    account = ProcessorAccount.objects.create(merchant=merchant, stripe_account_id=f"acct_{name}")
    return merchant, account.stripe_account_id


def _seed(events: int) -> Fixture:
    from payments.models import Payment
    from payments.state import PaymentStatus

    run_id = uuid.uuid4().hex[:12]
    merchant, account = _connected_merchant(f"bench_{run_id}")
    _, ack_account = _connected_merchant(f"bench_ack_{run_id}")
    intents = [f"pi_bench_{run_id}_{index}" for index in range(events)]
    Payment.objects.bulk_create(
        (
            Payment(
                merchant=merchant,
                status=PaymentStatus.PROCESSING,
                amount=1500,
                currency="gbp",
                stripe_payment_method_id="pm_card_visa",
                stripe_payment_intent_id=intent,
            )
            for intent in intents
        ),
        batch_size=2000,
    )
    return Fixture(
        account=account,
        merchant_public_id=merchant.public_id,
        intents=intents,
        ack_account=ack_account,
    )


def _event(intent: str, account: str) -> dict[str, Any]:
    """A `payment_intent.succeeded` as Stripe sends it (the fields we read, at their size)."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "account": account,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{uuid.uuid4().hex[:14]}", "idempotency_key": None},
        "data": {
            "object": {
                "id": intent,
                "object": "payment_intent",
                "amount": 1500,
                "amount_capturable": 0,
                "amount_received": 1500,
                "capture_method": "automatic",
                "currency": "gbp",
                "status": "succeeded",
                "latest_charge": f"ch_{intent[3:]}",
                "metadata": {},
                "payment_method": "pm_card_visa",
            }
        },
    }


def _signed(event: dict[str, Any]) -> tuple[str, bytes]:
    from payments.gateways.stripe.webhooks import signature_header

    body = json.dumps(event, separators=(",", ":")).encode()
    return signature_header(body=body, secrets=(SECRET,)), body


def _outbox_settle() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_outboxentry SET dispatched_at = now() WHERE dispatched_at IS NULL"
        )


def _redis_purge(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).delete("celery", "unacked", "unacked_index")


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own executables and arguments
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_http(port: int, path: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench webhooks: gunicorn did not answer {path} within {seconds:.0f} s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- (a) Acknowledgement against the bare view ----------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    wrapped: int


def _wrk(*, port: int, path: str, connections: int, seconds: float, events: Path) -> WrkResult:
    threads = min(2, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        completed = subprocess.run(  # noqa: S603 - wrk with our own arguments
            [
                shutil.which("wrk") or "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
                "--",
                path,
                str(events),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(script.name)
    output = completed.stdout + completed.stderr
    line = next((x for x in output.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"bench webhooks: wrk gave no result:\n{output}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        failures=data["non2xx"] + data["socket_errors"],
        wrapped=data["wrapped"],
    )


def _write_events(path: Path, count: int, account: str) -> None:
    # Intents nobody holds: the acknowledgement does not look at them, and the worker that
    # may process them later ignores them.
    with path.open("w") as out:
        for _ in range(count):
            header, body = _signed(_event(f"pi_ack_{uuid.uuid4().hex[:16]}", account))
            out.write(f"{header}\t{body.decode()}\n")


def bench_ack(*, port: int, account: str, rounds: int, seconds: float, work: Path) -> bool:
    ok = True
    for connections in (8, 1):
        events = work / f"events-{connections}.tsv"
        # Signed now: the timestamps must stay within the 300 s tolerance while wrk runs.
        _write_events(
            events, int(EVENTS_PER_SECOND_CEILING[connections] * seconds * rounds * 1.2), account
        )
        _wrk(port=port, path="/bench/bare", connections=connections, seconds=1, events=events)
        bare: list[WrkResult] = []
        hooks: list[WrkResult] = []
        started_load = _load()
        for _ in range(rounds):
            bare.append(
                _wrk(
                    port=port,
                    path="/bench/bare",
                    connections=connections,
                    seconds=seconds,
                    events=events,
                )
            )
            hooks.append(
                _wrk(
                    port=port,
                    path="/webhooks/stripe/",
                    connections=connections,
                    seconds=seconds,
                    events=events,
                )
            )
        ratios = [h.rate / b.rate for h, b in zip(hooks, bare, strict=True)]
        ratio = statistics.median(ratios)
        p99 = statistics.median(h.p99_ms for h in hooks)
        target_p99 = TARGET_P99_MS[connections]
        verdict_ratio = "meets" if ratio >= TARGET_RATIO else "MISSES"
        verdict_p99 = "meets" if p99 < target_p99 else "MISSES"
        failures = sum(r.failures for r in (*bare, *hooks))
        wrapped = sum(h.wrapped for h in hooks)
        _print(
            f"(a) {connections} connection(s), {rounds} rounds of {seconds:.0f} s each side "
            f"({started_load} -> {_load()})"
        )
        for label, results in (("bare view", bare), ("webhook ack", hooks)):
            _print(
                f"    {label:<12} {statistics.median(r.rate for r in results):>7.0f} req/s"
                f"  p50 {statistics.median(r.p50_ms for r in results):6.2f} ms"
                f"  p99 {statistics.median(r.p99_ms for r in results):6.2f} ms"
                f"  (rounds: {', '.join(f'{r.rate:.0f}' for r in results)})"
            )
        _print(
            f"    ratio webhook/bare {ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            f": {verdict_ratio} >= {TARGET_RATIO}x; webhook p99 {p99:.2f} ms: {verdict_p99}"
            f" < {target_p99:.0f} ms; non-2xx or socket errors: {failures}"
            + (f"; {wrapped} lap(s) reused events (duplicates)" if wrapped else "")
        )
        ok = ok and ratio >= TARGET_RATIO and p99 < target_p99 and failures == 0
    return ok


# --- (b) End to end with one worker ---------------------------------------------------------


def _deliveries(fixture: Fixture, duplicates: float, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible order, not a secret
    signed = [_signed(_event(intent, fixture.account)) for intent in fixture.intents]
    # `duplicates` of all deliveries are repeats of an event already in the stream.
    repeats = round(len(signed) * duplicates / (1 - duplicates))
    deliveries = signed + [rng.choice(signed) for _ in range(repeats)]
    rng.shuffle(deliveries)
    return deliveries


def _post_paced(
    port: int, deliveries: list[tuple[str, bytes]], rate: float, connections: int
) -> tuple[list[int], float, float]:
    """POST every delivery at `rate` per second over persistent connections; statuses, times."""
    statuses = [0] * len(deliveries)
    next_index = iter(range(len(deliveries)))
    lock = threading.Lock()
    started = time.monotonic() + 0.1

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            header, body = deliveries[index]
            try:
                conn.request(
                    "POST",
                    "/webhooks/stripe/",
                    body=body,
                    headers={"Content-Type": "application/json", "Stripe-Signature": header},
                )
                response = conn.getresponse()
                response.read()
                statuses[index] = response.status
            except (OSError, http.client.HTTPException):
                statuses[index] = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    workers = [threading.Thread(target=sender) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return statuses, started, time.monotonic()


def _backlog(account: str) -> int:
    from inbound.models import InboundEvent, InboundEventStatus

    return InboundEvent.objects.filter(
        account=account, status__in=(InboundEventStatus.RECEIVED, InboundEventStatus.FAILED)
    ).count()


def bench_end_to_end(
    *,
    port: int,
    fixture: Fixture,
    rate: float,
    duplicates: float,
    concurrency: int,
    env: dict[str, str],
    work: Path,
) -> bool:
    from compliance.models import AuditEntry
    from inbound.models import InboundEvent, InboundEventStatus
    from payments.models import Payment
    from payments.state import PaymentStatus

    deliveries = _deliveries(fixture, duplicates, seed=10)
    events = len(fixture.intents)
    delivery_rate = rate * len(deliveries) / events
    worker_argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    relay_argv = [sys.executable, "manage.py", "relay_inbound_events"]
    with (
        _process(worker_argv, env, work / "worker.log"),
        _process(relay_argv, env, work / "relay.log"),
    ):
        time.sleep(3)  # the worker's start, so that it is not counted against the rate
        samples: list[tuple[float, int]] = []
        sending = threading.Event()
        sending.set()

        def sample() -> None:
            while sending.is_set():
                samples.append((time.monotonic(), _backlog(fixture.account)))
                time.sleep(1.0)

        sampler = threading.Thread(target=sample)
        sampler.start()
        load_before = _load()
        statuses, started, sent = _post_paced(port, deliveries, delivery_rate, 8)
        sending.clear()
        sampler.join()
        deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
        while _backlog(fixture.account) and time.monotonic() < deadline:
            time.sleep(0.05)
        drained = time.monotonic()
        load_after = _load()

    stored = InboundEvent.objects.filter(account=fixture.account)
    applied = Payment.objects.filter(
        stripe_payment_intent_id__in=fixture.intents, status=PaymentStatus.SUCCEEDED
    ).count()
    audited = AuditEntry.objects.filter(
        merchant_public_id=fixture.merchant_public_id, action="payment.status_change"
    ).count()
    stored_count = stored.count()
    succeeded_once = stored.filter(status=InboundEventStatus.SUCCEEDED, attempts=1).count()
    pending = stored.filter(
        status__in=(InboundEventStatus.RECEIVED, InboundEventStatus.FAILED)
    ).count()
    # Lost: acknowledged but not stored, or finished without being applied (not merely late).
    lost = (events - stored_count) + (stored_count - succeeded_once - pending)
    twice = audited - applied
    not_ok = sum(1 for status in statuses if status != 200)
    half = [count for at, count in samples if at >= started + (sent - started) / 2]
    e2e_rate = events / (drained - started)
    _print(
        f"(b) end to end: {events:,} events as {len(deliveries):,} deliveries ({duplicates:.0%}"
        f" repeats, shuffled) at {rate:.0f} events/s, gunicorn 4 workers + relay + 1 celery worker"
        f" (prefork, concurrency {concurrency}) ({load_before} -> {load_after})"
    )
    _print(
        f"    sent in {sent - started:.1f} s ({len(deliveries) / (sent - started):.0f} req/s),"
        f" non-200: {not_ok}; drained {drained - sent:.2f} s after the last acknowledgement"
    )
    _print(
        f"    backlog (received, not yet applied), sampled each second: max"
        f" {max(count for _, count in samples)}; {[count for _, count in samples]}"
    )
    _print(
        f"    acknowledged and processed: {e2e_rate:.0f} events/s"
        f" ({'meets' if e2e_rate >= TARGET_E2E_RATE else 'MISSES'} >= {TARGET_E2E_RATE:.0f})"
    )
    _print(
        f"    stored {stored_count:,}, applied once {succeeded_once:,}, still queued {pending:,}"
        f", payments succeeded {applied:,}, status changes audited {audited:,}:"
        f" lost {lost}, applied twice {twice}"
    )
    growing = len(half) > 2 and half[-1] > max(half[0], rate)
    if growing:
        _print("    the backlog GREW while events arrived: the worker is slower than this rate")
    return (
        not_ok == 0
        and lost == 0
        and twice == 0
        and pending == 0
        and not growing
        and e2e_rate >= TARGET_E2E_RATE
    )


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench webhooks")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per side")
    parser.add_argument("--events", type=int, default=10_000, help="end-to-end events")
    parser.add_argument("--duplicates", type=float, default=0.3, help="share of repeats")
    parser.add_argument("--rate", type=float, default=300.0, help="end-to-end events/s")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument(
        "--only", choices=("ack", "e2e"), help="run one part: (a) acknowledgement or (b) end to end"
    )
    options = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        _print("bench webhooks: needs DATABASE_URL=postgres://... and REDIS_URL=redis://...")
        raise SystemExit(1)
    if shutil.which("wrk") is None:
        _print("bench webhooks: needs wrk (apt-get install wrk)")
        raise SystemExit(1)
    if not 0 <= options.duplicates < 1 or options.events < 1 or options.rate <= 0:
        _print("bench webhooks: --duplicates in [0, 1), --events and --rate positive")
        raise SystemExit(1)
    os.environ["STRIPE_WEBHOOK_SECRETS"] = SECRET
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()

    from django.conf import settings

    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    _prepare_database()
    fixture = _seed(options.events)
    _redis_purge(redis_url)
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings_webhooks",
        "DATABASE_URL": _database_url(database_url, DATABASE),
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": redis_url,
        "CELERY_EAGER": "0",
        "LOG_LEVEL": "WARNING",
        "STRIPE_WEBHOOK_SECRETS": SECRET,
    }
    gunicorn = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi",
        "--workers=4",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
    ]
    _print(f"database {DATABASE}; gunicorn 4 sync workers on :{port}; {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with _process(gunicorn, env, work / "gunicorn.log"):
            _wait_http(port, "/healthz")
            ack_ok = options.only == "e2e" or bench_ack(
                port=port,
                account=fixture.ack_account,
                rounds=options.rounds,
                seconds=options.seconds,
                work=work,
            )
            # (a)'s events are not part of (b): acknowledged is all (a) measures of them.
            _outbox_settle()
            e2e_ok = options.only == "ack" or bench_end_to_end(
                port=port,
                fixture=fixture,
                rate=options.rate,
                duplicates=options.duplicates,
                concurrency=options.concurrency,
                env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
                work=work,
            )
    # What the worker did not get to is recorded in the database; the broker keeps nothing.
    _redis_purge(redis_url)
    parts = {"ack": ("acknowledgement", ack_ok), "e2e": ("end to end", e2e_ok)}
    shown = [parts[options.only]] if options.only else list(parts.values())
    _print("targets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in shown))
