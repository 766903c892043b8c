"""Load test of the embedded default: `make run` as the README starts it, driven from outside.

    python -m bench embedded [--duration 120] [--clients 8] [--port 18200] [--sandbox-port 18211]

Starts `make run PORT=... SANDBOX_PORT=...` in a fresh var/ (LEDGERLINE_VAR_DIR, no
DATABASE_URL or REDIS_URL: SQLite, the files broker, the worker, beat, the relay and the
sandbox delivering its webhooks), adds one API key and one dashboard user per client with an
authenticator (through `manage.py shell`), then runs `--clients` threads for `--duration`
seconds, each mixing what people do at once: API payment creates and refunds, pay-page
payments through the sandbox's card form (the calls the browser makes: the sandbox turns the
card into a `pm_` id, then the page's form is posted), and dashboard pages in a session that
logged in with password and TOTP. It counts answers by status; any 5xx or dropped connection
fails the run.

Then it waits up to `--settle` seconds for Ledgerline to converge to the processor: every
payment's status and refunded amount and every refund's status equal the sandbox's objects,
no payment left unsent, and no inbound event failed or dead. Exit status 1 when a 5xx was
answered, a connection failed, or Ledgerline did not converge in time. Leave the worktree's
code alone while it runs: runserver restarts on a changed file.

This module's top level imports nothing from Django: the driver is a client;
`setup_in_django` and `check_in_django` run inside `manage.py shell`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-embedded-password-2026"  # noqa: S105 - a throwaway user in a throwaway var/
TEST_CARD = "4242424242424242"
START_SECONDS = 600
# The mix of what the clients do, by weight.
OPERATIONS = {"api_create": 3, "api_refund": 2, "pay_page": 2, "dashboard": 3}
RESULT_MARK = "BENCH-RESULT "


# --- Inside Django (manage.py shell) ----------------------------------------------------------


def setup_in_django(clients: int) -> None:
    """Print (after RESULT_MARK) an API key, and a dashboard user and payment link per client."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import services as account_services
    from accounts.models import Membership, Merchant, User
    from accounts.roles import Role
    from payments import services as payment_services

    merchant = Merchant.objects.get(slug="demo")
    _, secret = account_services.api_key_create(
        merchant=merchant, name="bench embedded", role=Role.ADMIN, created_by=None
    )
    users = []
    for index in range(clients):
        email = f"bench-{index}-{uuid.uuid4().hex[:6]}@bench.ledgerline.test"
        user = User.objects.create_user(email, PASSWORD)
        Membership.objects.create(user=user, merchant=merchant, role=Role.OWNER)
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        # A link per client: the pay page limits attempts per link and address, and every
        # client comes from 127.0.0.1.
        link = payment_services.payment_link_create(
            merchant=merchant,
            actor=None,
            amount=1999,
            currency=merchant.default_currency,
            description=f"Bench client {index}",
            reusable=True,
        )
        users.append({"email": email, "key": device.key, "link": link.token})
    print(  # noqa: T201
        RESULT_MARK
        + json.dumps({"api_key": secret, "users": users, "currency": merchant.default_currency})
    )


def check_in_django() -> None:
    """Print (after RESULT_MARK) how far Ledgerline is from the processor's state."""
    from django.conf import settings
    from django.db.models import Count

    from inbound.models import InboundEvent, InboundEventStatus
    from payments.models import Payment, ProcessorAccount, Refund

    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {settings.STRIPE_SECRET_KEY}"

    def processor(path: str, account: str) -> dict[str, Any]:
        answer = session.get(
            f"{settings.STRIPE_API_BASE}{path}", headers={"Stripe-Account": account}, timeout=10
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    mismatches: list[str] = []
    # This check reads Stripe's API: the Stripe account of each merchant.
    stripe_accounts = dict(
        ProcessorAccount.objects.filter(processor="stripe").values_list(
            "merchant_id", "processor_account_id"
        )
    )
    payments = Payment.objects.filter(processor="stripe")
    for payment in payments.iterator():
        account = stripe_accounts[payment.merchant_id]
        if not payment.processor_payment_id:
            if payment.status != "requires_payment_method":
                mismatches.append(f"{payment.public_id}: {payment.status}, never sent")
            continue
        intent = processor(f"/v1/payment_intents/{payment.processor_payment_id}", account)
        refunded = 0
        if intent.get("latest_charge"):
            charge = processor(f"/v1/charges/{intent['latest_charge']}", account)
            refunded = int(charge.get("amount_refunded") or 0)
        if (intent["status"], refunded) != (payment.status, payment.amount_refunded):
            mismatches.append(
                f"{payment.public_id}: ours {payment.status}/{payment.amount_refunded} refunded, "
                f"processor {intent['status']}/{refunded}"
            )
    refunds = Refund.objects.filter(payment__processor="stripe")
    for refund in refunds.iterator():
        account = stripe_accounts[refund.merchant_id]
        if not refund.processor_refund_id:
            mismatches.append(f"{refund.public_id}: {refund.status}, never sent")
            continue
        theirs = processor(f"/v1/refunds/{refund.processor_refund_id}", account)
        if theirs["status"] != refund.status:
            mismatches.append(
                f"{refund.public_id}: ours {refund.status}, processor {theirs['status']}"
            )
    events = dict(
        InboundEvent.objects.values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    failed = sum(events.get(s, 0) for s in (InboundEventStatus.FAILED, InboundEventStatus.DEAD))
    failed_errors = list(
        InboundEvent.objects.filter(
            status__in=(InboundEventStatus.FAILED, InboundEventStatus.DEAD)
        ).values_list("type", "last_error")[:5]
    )
    print(  # noqa: T201
        RESULT_MARK
        + json.dumps(
            {
                "payments": payments.count(),
                "refunds": refunds.count(),
                "mismatches": mismatches,
                "events": events,
                "events_failed": failed,
                "failed_errors": failed_errors,
            }
        )
    )


# --- The driver (outside) ---------------------------------------------------------------------


def _totp(key_hex: str, at: float) -> str:
    """RFC 6238 with django-otp's defaults (SHA-1, 30 s steps, 6 digits)."""
    counter = struct.pack(">Q", int(at) // 30)
    digest = hmac.new(bytes.fromhex(key_hex), counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_DATA = re.compile(r'data-(publishable-key|stripe-account)="([^"]*)"')


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, answer: requests.Response, seconds: float) -> None:
        with self.lock:
            self.statuses[(operation, answer.status_code)] += 1
            self.latencies[operation].append(seconds)
            if answer.status_code >= 500:
                self.server_errors.append(
                    f"{answer.request.method} {answer.url} -> {answer.status_code}: "
                    f"{answer.text[:300]!r}"
                )

    def fail(self, operation: str, reason: str) -> None:
        with self.lock:
            self.failures.append(f"{operation}: {reason}")


class Client:
    """One person at a keyboard (and their server's API calls), on their own sessions."""

    def __init__(self, *, base: str, sandbox: str, setup: dict[str, Any], index: int, tally: Tally):
        self.base, self.sandbox, self.tally = base, sandbox, tally
        self.setup, self.user = setup, setup["users"][index]
        self.web = self._session()
        self.api = self._session()
        self.api.headers["Authorization"] = f"Bearer {setup['api_key']}"
        self.refundable: list[tuple[str, int]] = []  # (payment id, amount left)
        self.pages: list[str] = ["/", "/payments/", "/customers/", "/developers/"]
        self.random = random.Random(index)  # noqa: S311 - a load mix, not security

    @staticmethod
    def _session() -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        return session

    def _call(self, operation: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        started = time.monotonic()
        answer = (
            self.web if operation in ("dashboard", "login", "pay_page") else self.api
        ).request(method, url, **kwargs)
        self.tally.record(operation, answer, time.monotonic() - started)
        return answer

    def login(self) -> None:
        page = self._call("login", "GET", f"{self.base}/accounts/login/")
        token = _CSRF.search(page.text)
        answer = self._call(
            "login",
            "POST",
            f"{self.base}/accounts/login/",
            data={
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "email": self.user["email"],
                "password": PASSWORD,
            },
        )
        token = _CSRF.search(answer.text)
        if "/accounts/mfa/verify/" not in answer.url or token is None:
            raise RuntimeError(
                f"login of {self.user['email']} did not reach the OTP step: {answer.url}"
            )
        verified = self._call(
            "login",
            "POST",
            answer.url,
            data={
                "csrfmiddlewaretoken": token.group(1),
                "token": _totp(self.user["key"], time.time()),
            },
        )
        if "/accounts/" in verified.url:
            raise RuntimeError(f"OTP step of {self.user['email']} failed: {verified.url}")

    def api_create(self) -> None:
        amount = self.random.randint(500, 5000)
        answer = self._call(
            "api_create",
            "POST",
            f"{self.base}/api/v1/payments",
            json={
                "amount": amount,
                "currency": self.setup["currency"],
                "payment_method": "pm_card_visa",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if answer.ok and answer.json().get("status") == "succeeded":
            self.refundable.append((answer.json()["id"], amount))

    def api_refund(self) -> None:
        if not self.refundable:
            self.api_create()
            return
        payment_id, left = self.refundable.pop(self.random.randrange(len(self.refundable)))
        amount = min(left, self.random.randint(100, 1500))
        answer = self._call(
            "api_refund",
            "POST",
            f"{self.base}/api/v1/payments/{payment_id}/refunds",
            json={"amount": amount},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if answer.ok and left - amount > 0:
            self.refundable.append((payment_id, left - amount))

    def pay_page(self) -> None:
        url = f"{self.base}/pay/{self.user['link']}/"
        page = self._call("pay_page", "GET", url)
        if page.status_code != 200:
            return
        form = dict(_HIDDEN.findall(page.text))
        data = dict(_DATA.findall(page.text))
        card = {"Authorization": f"Bearer {data.get('publishable-key', '')}"}
        if data.get("stripe-account"):
            card["Stripe-Account"] = data["stripe-account"]
        started = time.monotonic()
        method = requests.post(
            f"{self.sandbox}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": TEST_CARD,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
            headers=card,
            timeout=30,
        )
        self.tally.record("sandbox_card_form", method, time.monotonic() - started)
        if not method.ok:
            self.tally.fail("pay_page", f"the sandbox refused the card: {method.status_code}")
            return
        form["payment_method"] = method.json()["id"]
        self._call("pay_page", "POST", url, data=form)

    def dashboard(self) -> None:
        self._call("dashboard", "GET", f"{self.base}{self.random.choice(self.pages)}")

    def run(self, until: float) -> None:
        operations: dict[str, Callable[[], None]] = {
            "api_create": self.api_create,
            "api_refund": self.api_refund,
            "pay_page": self.pay_page,
            "dashboard": self.dashboard,
        }
        names = list(OPERATIONS)
        weights = [OPERATIONS[name] for name in names]
        while time.monotonic() < until:
            name = self.random.choices(names, weights)[0]
            try:
                operations[name]()
            except requests.RequestException as exc:
                self.tally.fail(name, f"{type(exc).__name__}: {exc}")


class EmbeddedDefault:
    """`make run` in a fresh var/, stopped (with everything it started) on exit."""

    def __init__(self, *, port: int, sandbox_port: int, var_dir: Path) -> None:
        self.port, self.sandbox_port, self.var_dir = port, sandbox_port, var_dir
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name
            not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
        }
        self.env["LEDGERLINE_VAR_DIR"] = str(var_dir)
        self.output = var_dir / "make-run.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.monotonic()
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own Makefile
                ["make", "run", f"PORT={self.port}", f"SANDBOX_PORT={self.sandbox_port}"],  # noqa: S607
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + START_SECONDS
        while time.monotonic() < deadline:
            text = self.output.read_text(errors="replace")
            if "Dashboard: http" in text:
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise SystemExit(f"make run stopped:\n{text[-3000:]}")
            time.sleep(1)
        raise SystemExit(f"make run was not up within {START_SECONDS} s")

    def manage_shell(self, code: str) -> dict[str, Any]:
        env = {**self.env, "SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}"}
        answer = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in answer.stdout.splitlines():
            if line.startswith(RESULT_MARK):
                result: dict[str, Any] = json.loads(line.removeprefix(RESULT_MARK))
                return result
        raise SystemExit(
            f"manage.py shell failed:\n{answer.stdout[-2000:]}\n{answer.stderr[-3000:]}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _report(tally: Tally, seconds: float) -> None:
    print(f"load: {seconds:.0f} s")  # noqa: T201
    by_operation: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for (operation, status), count in tally.statuses.items():
        by_operation[operation][status] += count
    for operation, statuses in sorted(by_operation.items()):
        latencies = tally.latencies[operation]
        print(  # noqa: T201
            f"  {operation:<18} {sum(statuses.values()):>6} requests "
            f"({', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))}); "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {_percentile(latencies, 0.95) * 1000:.0f} ms"
        )
    total = sum(tally.statuses.values())
    print(  # noqa: T201
        f"  total {total} requests, {total / seconds:.1f}/s, 5xx: {len(tally.server_errors)}, "
        f"connection failures: {len(tally.failures)}"
    )
    for line in tally.server_errors[:10]:
        print(f"  5xx: {line}")  # noqa: T201
    for line in tally.failures[:10]:
        print(f"  failed: {line}")  # noqa: T201


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench embedded")
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=18200)
    parser.add_argument("--sandbox-port", type=int, default=18211)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to converge after")
    parser.add_argument("--keep", action="store_true", help="keep the var/ directory")
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="ll-bench-embedded-"))
    server = EmbeddedDefault(port=args.port, sandbox_port=args.sandbox_port, var_dir=var_dir)
    ok = False
    try:
        print(f"make run PORT={args.port} SANDBOX_PORT={args.sandbox_port} (var: {var_dir})")  # noqa: T201
        print(f"up in {server.start():.0f} s")  # noqa: T201
        setup = server.manage_shell(
            f"from bench.embedded import setup_in_django; setup_in_django({args.clients})"
        )
        base = f"http://127.0.0.1:{args.port}"
        sandbox = f"http://127.0.0.1:{args.sandbox_port}"
        tally = Tally()
        clients = [
            Client(base=base, sandbox=sandbox, setup=setup, index=i, tally=tally)
            for i in range(args.clients)
        ]
        for client in clients:
            client.login()
        started = time.monotonic()
        until = started + args.duration
        threads = [threading.Thread(target=client.run, args=(until,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _report(tally, time.monotonic() - started)

        stopped = time.monotonic()
        check: dict[str, Any] = {}
        while True:
            check = server.manage_shell(
                "from bench.embedded import check_in_django; check_in_django()"
            )
            waited = time.monotonic() - stopped
            converged = not check["mismatches"] and check["events_failed"] == 0
            if converged or waited > args.settle:
                break
            time.sleep(5)
        print(  # noqa: T201
            f"after the load: {check['payments']} payments, {check['refunds']} refunds, "
            f"events {check['events']}; "
            + (
                f"converged to the processor within {waited:.0f} s"
                if converged
                else f"NOT converged after {waited:.0f} s"
            )
        )
        for line in check["mismatches"][:10]:
            print(f"  mismatch: {line}")  # noqa: T201
        for event_type, error in check["failed_errors"]:
            print(f"  failed event {event_type}: {error}")  # noqa: T201
        # A refused or dropped connection is as much a failure as a 5xx.
        ok = converged and not tally.server_errors and not tally.failures
    finally:
        server.stop()
        if ok and not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"logs kept in {var_dir}/log/")  # noqa: T201
    if not ok:
        raise SystemExit(1)
