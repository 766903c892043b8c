"""GDPR benchmark: erasing a customer with 10,000 payments and 100 webhook events, and
streaming that customer's access export with flat memory.

    DATABASE_URL=postgres://... python -m bench erasure [--payments 10000] [--events 100]
        [--rounds 3]

Targets (issue #16): the erasure completes in under 10 s on PostgreSQL; the export streams in
under 5 s with flat memory. Each round seeds a fresh merchant and customer (payments and events
naming the customer by email and name, plus unrelated events the erasure must search past),
then times the whole execution of an approved erasure (processors told, every registered
model erased, the certificate proved on the audit log and signed) and, for an access request,
the full consumption of the export stream (untimed by tracing). The export's peak traced memory
(tracemalloc, a second pass) is measured at a tenth of the size and at the full size: flat
memory means the two peaks are about the same. Processors: the customer was never sent to
Stripe or Plaid, so they are not called (their calls are measured by the payments and banking
benchmarks).

Works in its own database, `<DATABASE_URL name>_bench_erasure`, created fresh and dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
import uuid
from typing import Any

import django

TARGET_ERASURE_SECONDS = 10.0
TARGET_EXPORT_SECONDS = 5.0
# Flat: the larger export may use at most this much more peak memory than the smaller one.
FLAT_RATIO = 1.5
UNRELATED_EVENTS = 2000


def _print(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _prepare_database() -> str:
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    params = connection.settings_dict
    name = f"{params['NAME']}_bench_erasure"
    with admin_connection(params) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()
    params["NAME"] = name
    call_command("migrate", verbosity=0)
    return name


def _drop_database(name: str, original: str) -> None:
    from django.db import connection
    from psycopg import sql

    from bench.admin_db import admin_connection

    connection.close()
    params = connection.settings_dict
    params["NAME"] = original
    with admin_connection(params) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _seed(*, payments: int, events: int) -> tuple[Any, Any]:
    """A merchant and a customer with `payments` payments and `events` events naming them."""
    from accounts.models import Merchant
    from inbound.models import InboundEvent
    from payments.models import Customer, Payment

    run = uuid.uuid4().hex[:10]
    merchant = Merchant.objects.create(
        slug=f"bench-erasure-{run}", legal_name="Bench Ltd", country="GB", default_currency="gbp"
    )
    email, name = f"erin.{run}@bench.example", f"Erin Bench{run}"
    customer = Customer.objects.create(
        merchant=merchant, email=email, name=name, metadata={"phone": "+44 7700 900111"}
    )
    Payment.objects.bulk_create(
        (
            Payment(
                merchant=merchant,
                customer=customer,
                amount=1000 + index,
                currency="gbp",
                status="succeeded",
                amount_captured=1000 + index,
                description=f"Order {index} for {name}",
                metadata={"contact": email},
                processor_payment_method_id="pm_card_visa",
                card_brand="visa",
                card_last4="4242",
                card_exp_month=12,
                card_exp_year=2030,
                card_fingerprint=f"fp_{run}",
            )
            for index in range(payments)
        ),
        batch_size=2000,
    )
    billing = {"name": name, "email": email, "phone": "+44 7700 900111"}
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                provider="stripe",
                event_id=f"evt_{run}_{index}",
                type="charge.succeeded",
                merchant=merchant,
                payload={
                    "type": "charge.succeeded",
                    "data": {
                        "object": {"billing_details": billing, "customer": customer.public_id}
                    },
                },
            )
            for index in range(events)
        ]
        + [
            InboundEvent(
                provider="stripe",
                event_id=f"evt_{run}_other_{index}",
                type="charge.succeeded",
                merchant=merchant,
                payload={"data": {"object": {"billing_details": {"name": f"Other {index}"}}}},
            )
            for index in range(UNRELATED_EVENTS)
        ],
        batch_size=1000,
    )
    return merchant, customer


def _officers() -> tuple[Any, Any]:
    from django.contrib.auth.models import Permission

    from accounts.models import User

    found = []
    for _ in range(2):
        user = User.objects.create_user(
            email=f"officer.{uuid.uuid4().hex[:8]}@bench.example", password=None
        )
        user.user_permissions.add(Permission.objects.get(codename="approve_datarequest"))
        found.append(User.objects.get(pk=user.pk))
    return found[0], found[1]


def _approved(merchant: Any, customer: Any, request_type: str) -> Any:
    from compliance.actors import Actor
    from compliance.data_requests import data_request_open, data_request_verify
    from compliance.models import DataRequestStatus

    verifier, approver = _officers()
    data_request = data_request_open(
        request_type=request_type,
        subject_kind="customer",
        reference=customer.public_id,
        merchant_id=merchant.public_id,
        ground="art17_1_b" if request_type == "erasure" else "",
        actor=Actor.for_api_key("key_bench"),
    )
    data_request_verify(data_request=data_request, officer=verifier, method="bench")
    # Approved by hand (the service would start execution on commit; here it is timed alone).
    data_request.status = DataRequestStatus.APPROVED
    data_request.approved_by = str(Actor.for_user(approver))
    data_request.save(update_fields=["status", "approved_by"])
    return data_request


def _erase_once(*, payments: int, events: int) -> float:
    from compliance.execution import data_request_execute
    from compliance.models import DataRequestStatus
    from payments.models import Payment

    merchant, customer = _seed(payments=payments, events=events)
    data_request = _approved(merchant, customer, "erasure")
    started = time.perf_counter()
    done = data_request_execute(data_request_id=data_request.pk)
    elapsed = time.perf_counter() - started
    if done is None or done.status != DataRequestStatus.COMPLETED:
        raise SystemExit("bench erasure: the erasure did not complete")
    if Payment.objects.filter(merchant=merchant).exclude(description="").exists():
        raise SystemExit("bench erasure: payments still hold the customer's text")
    return elapsed


def _consume(data_request: Any) -> int:
    from compliance.execution import data_request_export

    return sum(len(chunk) for chunk in data_request_export(data_request))


def _export_once(*, payments: int, events: int) -> tuple[float, int, int]:
    """Seconds to consume the whole export, its peak traced memory and its size in bytes.

    Timed untraced (tracemalloc slows every allocation several times), then consumed again
    under tracemalloc for the peak.
    """
    from compliance.execution import data_request_execute

    merchant, customer = _seed(payments=payments, events=events)
    data_request = _approved(merchant, customer, "access")
    done = data_request_execute(data_request_id=data_request.pk)
    started = time.perf_counter()
    size = _consume(done)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    _consume(done)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, size


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench erasure")
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        _print("bench erasure: needs PostgreSQL; set DATABASE_URL=postgres://... (skipped)")
        raise SystemExit(1)
    if args.payments < 10 or args.events < 1 or args.rounds < 1:
        _print("bench erasure: --payments must be >= 10, --events and --rounds >= 1")
        raise SystemExit(1)
    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.CELERY_TASK_ALWAYS_EAGER = True
    original = connection.settings_dict["NAME"]
    name = _prepare_database()
    try:
        _report(args)
    finally:
        _drop_database(name, original)


def _report(args: argparse.Namespace) -> None:
    erasures = [_erase_once(payments=args.payments, events=args.events) for _ in range(args.rounds)]
    median = statistics.median(erasures)
    verdict = "meets" if median < TARGET_ERASURE_SECONDS else "MISSES"
    _print(
        f"erasure of a customer with {args.payments} payments and {args.events} webhook events "
        f"(+{UNRELATED_EVENTS} unrelated): median {median:.2f} s of {args.rounds} "
        f"({', '.join(f'{e:.2f}' for e in erasures)}); target < {TARGET_ERASURE_SECONDS:.0f} s: "
        f"{verdict}"
    )
    small = max(1, args.payments // 10)
    exports_small = [_export_once(payments=small, events=args.events) for _ in range(args.rounds)]
    exports_full = [
        _export_once(payments=args.payments, events=args.events) for _ in range(args.rounds)
    ]
    for label, runs in ((f"{small}", exports_small), (f"{args.payments}", exports_full)):
        _print(
            f"export, {label} payments: median {statistics.median(r[0] for r in runs):.2f} s, "
            f"peak traced memory {statistics.median(r[1] for r in runs) / 1e6:.2f} MB, "
            f"{statistics.median(r[2] for r in runs) / 1e6:.2f} MB of JSON"
        )
    seconds = statistics.median(r[0] for r in exports_full)
    peak_small = statistics.median(r[1] for r in exports_small)
    peak_full = statistics.median(r[1] for r in exports_full)
    flat = peak_full <= FLAT_RATIO * peak_small
    verdict = "meets" if seconds < TARGET_EXPORT_SECONDS and flat else "MISSES"
    _print(
        f"export target < {TARGET_EXPORT_SECONDS:.0f} s with flat memory (peak at 10x the "
        f"size within {FLAT_RATIO}x): {seconds:.2f} s, peak ratio "
        f"{peak_full / peak_small:.2f}: {verdict}"
    )
