"""Failover decision benchmark: what choosing the processor adds to rendering the pay page.

Target (issue #17): the decision adds under 1 ms. Two measures, each side by side with the same
work minus the decision, samples interleaved so machine noise hits both alike:
- the decision alone: `payments.routing.route_choose` (outage marks from the cache, each
  candidate's breaker) against taking the primary account from the same list;
- the whole `GET /pay/<token>/` through Django's test client, with routing against the page
  wired to the primary account directly (the same query, no decision).
The merchant has Stripe (primary) and Braintree (secondary) on a sandbox in this process; the
page renders Stripe's form, whose configuration needs no processor call (Braintree's needs a
client token, a processor round trip that is not the decision's cost).

    python -m bench routing [--samples 2000] [--pages 300]
Runs in a throwaway test database (SQLite in memory, or `test_<name>` on PostgreSQL when
DATABASE_URL is set).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _interleaved(
    a: Callable[[], Any], b: Callable[[], Any], samples: int
) -> tuple[list[float], list[float]]:
    times_a: list[float] = []
    times_b: list[float] = []
    for sample in range(samples):
        # Alternate which goes first, so neither always follows the other (warm caches).
        pair = ((a, times_a), (b, times_b))
        for fn, times in pair if sample % 2 == 0 else reversed(pair):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return times_a, times_b


def _page_ok(response: Any) -> None:
    if response.status_code != 200:
        raise SystemExit(f"bench routing: the pay page answered {response.status_code}")


def _report(name: str, with_routing: list[float], without: list[float]) -> None:
    med_with = statistics.median(with_routing) * 1000
    med_without = statistics.median(without) * 1000
    _print(
        f"{name}: with routing p50 {med_with:.4f} ms, without {med_without:.4f} ms, "
        f"added {med_with - med_without:+.4f} ms, ratio {med_with / med_without:.3f}x "
        f"({len(with_routing)} samples each)"
    )


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench routing")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        _measure(settings, samples=args.samples, pages=args.pages)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _measure(settings: Any, *, samples: int, pages: int) -> None:
    from django.test import Client

    from accounts.models import Merchant
    from compliance.actors import Actor
    from payments import public_views, routing, services
    from payments.gateways import braintree
    from payments.gateways.stripe import client as stripe_client
    from payments.models import PaymentLink, RoutingRank
    from payments.services import braintree_account_connect
    from sandbox.server import start_in_thread

    with start_in_thread(port=0) as sandbox:
        settings.STRIPE_API_BASE = sandbox.url
        settings.BRAINTREE_API_BASE = sandbox.url
        stripe_client.clear_client_cache()
        braintree.clear_client_cache()
        merchant = Merchant.objects.create(
            slug="bench-routing",
            legal_name="Bench Routing Inc",
            country="US",
            default_currency="usd",
        )
        services.merchant_connect_account_ensure(merchant=merchant)
        braintree_account_connect(
            merchant=merchant,
            merchant_id="ledgerline_sandbox_merchant",
            public_key="ledgerline_sandbox_public",
            private_key="ledgerline_sandbox_private",
            actor=Actor.system("bench"),
        )
        routing.processor_routing_set(
            merchant=merchant, primary="stripe", secondary="braintree", actor=Actor.system("b")
        )
        link = PaymentLink.objects.create(
            merchant=merchant, amount=2500, currency="usd", description="Bench", reusable=True
        )
        accounts = routing.checkout_accounts(merchant)

        def primary_only() -> routing.Route:
            return routing.Route(
                account=next(a for a in accounts if a.routing_rank == RoutingRank.PRIMARY)
            )

        def decided() -> routing.Route | None:
            return routing.route_choose(accounts)

        if decided() != primary_only():
            raise SystemExit("bench routing: with both processors up the primary must be chosen")
        for _ in range(200):  # warm caches (outage marks, breakers, gateways)
            decided()
        with_routing, without = _interleaved(decided, primary_only, samples)
        _report("decision alone", with_routing, without)

        routed = routing.checkout_routes

        def primary_route(*, merchant: Merchant) -> Iterator[routing.Route]:
            # The same page with the decision taken out: the same accounts query, the primary.
            yield routing.Route(
                account=next(
                    a
                    for a in routing.checkout_accounts(merchant)
                    if a.routing_rank == RoutingRank.PRIMARY
                )
            )

        with_routing, without = _interleaved(
            lambda: next(routed(merchant=merchant)),
            lambda: next(primary_route(merchant=merchant)),
            samples,
        )
        _report("accounts query + decision", with_routing, without)

        client = Client()
        url = f"/pay/{link.token}/"

        def page_routed() -> None:
            setattr(public_views, "checkout_routes", routed)  # noqa: B010 - swapped per sample
            _page_ok(client.get(url))

        def page_primary() -> None:
            setattr(public_views, "checkout_routes", primary_route)  # noqa: B010
            _page_ok(client.get(url))

        try:
            for _ in range(20):
                page_routed()
                page_primary()
            with_routing, without = _interleaved(page_routed, page_primary, pages)
        finally:
            setattr(public_views, "checkout_routes", routed)  # noqa: B010
        _report("GET /pay/<token>/", with_routing, without)
        _print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
