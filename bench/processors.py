"""Processors side by side: Ledgerline's overhead over the bare processor call, Stripe and
Braintree.

    DATABASE_URL=postgres://... python -m bench processors [--creates 100]

For each processor a merchant whose account is there (Stripe Connect on the sandbox; a
Braintree merchant connected with the sandbox's keys) makes `--creates` card payments through
`payments.services.payment_create`, each interleaved with the same charge made straight
through the processor's gateway, so the difference of medians is Ledgerline's own work (row,
audit, state machine, transactions) for that processor. The target: a payment through
Braintree costs no more overhead than one through Stripe (within a noise margin).

Needs PostgreSQL; works in its own database `<DATABASE_URL name>_bench_processors`, created
and migrated here. The sandbox runs in a thread of this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import django

# Two medians of a noisy shared machine: "no more" allows this much before it is a miss.
NOISE_MARGIN_MS = 3.0
BRAINTREE_MERCHANT = "ledgerline_sandbox_merchant"


def _print(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _prepare_database() -> str:
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    params = connection.settings_dict
    name = f"{params['NAME']}_bench_processors"
    with admin_connection(params) as admin:
        # Fresh each run: the in-thread sandbox starts empty, so accounts must be new.
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()
    params["NAME"] = name
    call_command("migrate", verbosity=0)
    return name


def _merchants(run_id: str) -> dict[str, tuple[Any, str]]:
    """processor -> (merchant, its account id at that processor)."""
    from accounts.models import Merchant
    from compliance.actors import Actor
    from payments import services

    stripe_merchant = Merchant.objects.create(
        slug=f"bench-stripe-{run_id}",
        legal_name="Bench Stripe",
        country="US",
        default_currency="usd",
    )
    stripe_account = services.merchant_connect_account_ensure(merchant=stripe_merchant)
    braintree_merchant = Merchant.objects.create(
        slug=f"bench-braintree-{run_id}",
        legal_name="Bench Braintree",
        country="US",
        default_currency="usd",
    )
    braintree_account = services.braintree_account_connect(
        merchant=braintree_merchant,
        merchant_id=BRAINTREE_MERCHANT,
        public_key="ledgerline_sandbox_public",
        private_key="ledgerline_sandbox_private",
        actor=Actor.system("bench"),
    )
    return {
        "stripe": (stripe_merchant, stripe_account.processor_account_id),
        "braintree": (braintree_merchant, braintree_account.processor_account_id),
    }


PAYMENT_METHOD = {"stripe": "pm_card_visa", "braintree": "fake-valid-nonce"}


def _cases(processor: str, merchant: Any, account: str, run_id: str) -> tuple[Any, Any]:
    """(a payment through the services, the bare gateway call) for one processor."""
    from compliance.actors import Actor
    from payments import services
    from payments.gateways import gateway_named

    gateway = gateway_named(processor)
    actor = Actor.system("bench")
    method = PAYMENT_METHOD[processor]
    counter = iter(range(10**9))

    def ours() -> None:
        services.payment_create(
            merchant=merchant, actor=actor, amount=2000, currency="usd", payment_method=method
        )

    def bare() -> None:
        reference = f"pay_bench{run_id}{processor[:2]}{next(counter)}"
        gateway.charge_create(
            account=account,
            key=f"{reference}_create",
            reference=reference,
            amount=2000,
            currency="usd",
            method_type="card",
            payment_method=method,
            capture_manually=False,
        )

    return ours, bare


def _compare(merchants: dict[str, tuple[Any, str]], creates: int, run_id: str) -> dict[str, float]:
    """Interleaved: each round times both processors' pairs, so drift (a growing audit
    chain, the database warming up) falls on both sides alike."""
    cases = {
        processor: _cases(processor, merchant, account, run_id)
        for processor, (merchant, account) in merchants.items()
    }
    for ours, bare in cases.values():  # warm-up: connections, SDK objects, caches
        for _ in range(5):
            ours()
            bare()
    times: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in cases}
    for _ in range(creates):
        for processor, (ours, bare) in cases.items():
            times[processor][0].append(_timed(ours))
            times[processor][1].append(_timed(bare))
    overheads = {}
    for processor, (ours_times, bare_times) in times.items():
        ours_p50, bare_p50 = statistics.median(ours_times), statistics.median(bare_times)
        overheads[processor] = ours_p50 - bare_p50
        _print(
            f"    {processor:<9} payment p50 {ours_p50 * 1000:7.2f} ms"
            f"  bare call p50 {bare_p50 * 1000:7.2f} ms"
            f"  overhead p50 {(ours_p50 - bare_p50) * 1000:6.2f} ms"
        )
    return overheads


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench processors")
    parser.add_argument("--creates", type=int, default=100, help="payments per processor")
    options = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        _print("bench processors: needs PostgreSQL; set DATABASE_URL=postgres://... (skipped)")
        raise SystemExit(1)
    if options.creates < 1:
        _print("bench processors: --creates must be >= 1")
        raise SystemExit(1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()

    import logging

    from django.conf import settings

    from payments.gateways.braintree import clear_client_cache
    from payments.gateways.stripe import client as stripe_client
    from sandbox.server import start_in_thread

    logging.getLogger("stripe").setLevel(logging.WARNING)
    settings.AUDIT_SEAL_INLINE = False
    name = _prepare_database()
    _print(f"database: postgresql {name}")
    handle = start_in_thread(port=0)
    settings.STRIPE_API_BASE = handle.url
    settings.BRAINTREE_API_BASE = handle.url
    stripe_client.clear_client_cache()
    clear_client_cache()
    try:
        run_id = uuid.uuid4().hex[:8]
        merchants = _merchants(run_id)
        _print(
            f"(a) card payments through the services vs the bare gateway call, {options.creates}"
            " interleaved pairs each, sandbox in-thread"
        )
        overheads = _compare(merchants, options.creates, run_id)
        extra = (overheads["braintree"] - overheads["stripe"]) * 1000
        verdict = "meets" if extra <= NOISE_MARGIN_MS else "MISSES"
        _print(
            f"    Braintree overhead minus Stripe's: {extra:+.2f} ms; {verdict} the target (no"
            f" more than Stripe's, {NOISE_MARGIN_MS:.0f} ms noise margin)"
        )
    finally:
        handle.stop()
