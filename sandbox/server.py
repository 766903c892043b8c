"""The sandbox process: providers behind one HTTP server, the control API, optional persistence.

Start it with `python manage.py run_sandbox`, `python -m sandbox`, or from tests with
`start_in_thread()`. Control endpoints live under `/_sandbox/` (see docs/sandbox.md).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from sandbox.braintree.provider import BraintreeProvider
from sandbox.client import SandboxControl
from sandbox.clock import Clock
from sandbox.faults import FaultInjector
from sandbox.plaid.api import redeem_stripe_bank_account_token
from sandbox.plaid.provider import DEFAULT_CLIENT_ID, DEFAULT_SECRET, PlaidProvider
from sandbox.provider import ControlError, Provider, Services, control_ok
from sandbox.stripe.provider import DEFAULT_WEBHOOK_SECRET, StripeProvider
from sandbox.webhooks import WebhookDispatcher
from sandbox.wire import Request, Response, SandboxHTTPServer, json_response

logger = logging.getLogger("sandbox")
STATE_VERSION = 1


class Sandbox:
    """All stand-ins of one process and what they share. Callable as the server's app."""

    def __init__(
        self,
        *,
        state_file: str | os.PathLike[str] | None = None,
        stripe_webhook_url: str | None = None,
        stripe_webhook_secrets: Sequence[str] = (DEFAULT_WEBHOOK_SECRET,),
        plaid_client_id: str = DEFAULT_CLIENT_ID,
        plaid_secret: str = DEFAULT_SECRET,
        braintree_webhook_url: str | None = None,
    ) -> None:
        self.services = Services(
            clock=Clock(), faults=FaultInjector(), webhooks=WebhookDispatcher()
        )
        self.stripe = StripeProvider(
            self.services, webhook_url=stripe_webhook_url, webhook_secrets=stripe_webhook_secrets
        )
        self.plaid = PlaidProvider(self.services, client_id=plaid_client_id, secret=plaid_secret)
        # Plaid's `btok_` tokens are Stripe bank-account tokens: Stripe redeems them here.
        self.stripe.bank_tokens = partial(redeem_stripe_bank_account_token, self.plaid.store)
        self.braintree = BraintreeProvider(self.services, webhook_url=braintree_webhook_url)
        self.providers: list[Provider] = [self.stripe, self.plaid, self.braintree]
        self._state_file = Path(state_file) if state_file else None
        self._save_lock = threading.Lock()
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None
        if self._state_file is not None:
            self._load()
            self._saver = threading.Thread(
                target=self._save_loop, name="sandbox-saver", daemon=True
            )
            self._saver.start()

    # --- the app ---------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        """Answer a request; the webhooks it caused leave once the answer is written.

        Real Stripe answers the API call before it delivers the events the call caused, so a
        receiver never gets an event while its own call, maybe inside a database transaction,
        still waits for the answer.
        """
        release = self.services.webhooks.hold()
        try:
            response = self._route(request)
        except BaseException:
            release()
            raise
        response.after.append(release)
        return response

    def _route(self, request: Request) -> Response:
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            return self._control(request)
        for provider in self.providers:
            if provider.handles(request.path):
                return provider.handle(request)
        return json_response(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({request.method}: {request.path}).",
                }
            },
        )

    def _control(self, request: Request) -> Response:
        try:
            try:
                payload = request.json() if request.method in ("POST", "PUT") else {}
            except (ValueError, UnicodeDecodeError) as exc:
                raise ControlError(400, f"body must be JSON: {exc}") from exc
            return self._control_route(
                request, request.path.removeprefix("/_sandbox").strip("/"), payload
            )
        except ControlError as exc:
            return json_response(exc.status, {"error": exc.message})

    def _control_route(self, request: Request, path: str, payload: Any) -> Response:
        method = request.method
        if path in ("", "health") and method == "GET":
            return control_ok({"ok": True, "providers": [p.name for p in self.providers]})
        if path == "reset" and method == "POST":
            self.reset()
            return control_ok({"reset": True})
        if path == "state" and method == "GET":
            return control_ok({p.name: p.summary() for p in self.providers})
        if path == "faults":
            return self._faults(method, payload)
        if path == "webhooks" and method in ("GET", "POST"):
            if method == "POST":
                if not isinstance(payload, dict) or set(payload) - {"faults", "retry"}:
                    raise ControlError(400, 'send {"faults": {...}, "retry": {...}}')
                try:
                    self.services.webhooks.configure(
                        faults=payload.get("faults"), retry=payload.get("retry")
                    )
                except (ValueError, TypeError) as exc:
                    raise ControlError(400, str(exc)) from exc
            hooks = self.services.webhooks
            return control_ok(
                {**hooks.settings(), "pending": hooks.pending(), "deliveries": hooks.log()}
            )
        if path == "webhooks/wait" and method == "POST":
            timeout = payload.get("timeout", 10) if isinstance(payload, dict) else 10
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, int | float)
                or not 0 <= timeout <= 120
            ):
                raise ControlError(400, "timeout must be a number of seconds up to 120")
            return control_ok({"idle": self.services.webhooks.wait_idle(float(timeout))})
        if path == "clock":
            return self._clock(method, payload)
        for provider in self.providers:
            prefix = provider.name + "/"
            if path.startswith(prefix):
                return provider.control(request, path.removeprefix(prefix), payload)
        raise ControlError(404, f"unknown control endpoint: {method} /_sandbox/{path}")

    def _faults(self, method: str, payload: Any) -> Response:
        faults = self.services.faults
        if method == "POST":
            specs = payload.get("faults", [payload]) if isinstance(payload, dict) else None
            if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
                raise ControlError(400, 'send one fault object or {"faults": [...]}')
            try:
                for spec in specs:
                    faults.add(spec)
            except ValueError as exc:
                raise ControlError(400, str(exc)) from exc
        elif method == "DELETE":
            faults.clear()
        elif method != "GET":
            raise ControlError(405, "use GET, POST or DELETE")
        return control_ok({"faults": faults.pending()})

    def _clock(self, method: str, payload: Any) -> Response:
        clock = self.services.clock
        if method == "POST":
            seconds = payload.get("advance_seconds") if isinstance(payload, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ControlError(400, "advance_seconds must be a non-negative number")
            clock.advance(float(seconds))
            for provider in self.providers:
                provider.clock_moved()
        elif method != "GET":
            raise ControlError(405, "use GET or POST")
        return control_ok({"now": clock.timestamp(), "offset_seconds": clock.offset})

    def reset(self) -> None:
        for provider in self.providers:
            provider.reset()
        self.services.faults.clear()
        self.services.webhooks.reset()
        self.services.clock.reset()
        self.services.dirty.set()

    # --- persistence -----------------------------------------------------------------------
    def _load(self) -> None:
        assert self._state_file is not None  # noqa: S101 (only called with a state file)
        if not self._state_file.exists():
            return
        try:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"sandbox state file {self._state_file} is unreadable: {exc}") from exc
        if data.get("version") != STATE_VERSION:
            raise SystemExit(
                f"sandbox state file {self._state_file} has an unknown version; delete it"
            )
        for provider in self.providers:
            provider.restore(data.get(provider.name, {}))
        logger.info("restored sandbox state from %s", self._state_file)

    def save(self) -> None:
        """Write the state file atomically (a crash mid-write leaves the old file)."""
        if self._state_file is None:
            return
        with self._save_lock:
            data = {"version": STATE_VERSION, **{p.name: p.snapshot() for p in self.providers}}
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._state_file.parent, prefix=".sandbox-state-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self._state_file)

    def _save_loop(self) -> None:
        # Coalesce bursts of changes into one write at most every half second.
        while not self._stopping.is_set():
            if self.services.dirty.wait(0.5) and not self._stopping.is_set():
                self.services.dirty.clear()
                self.save()

    def close(self) -> None:
        self._stopping.set()
        self.services.faults.stop()
        self.services.webhooks.stop()
        if self._saver is not None:
            self._saver.join(timeout=5)
        self.save()


@dataclass
class SandboxHandle:
    """A sandbox serving in a background thread; `url` is its origin (use as the API base)."""

    url: str
    port: int
    sandbox: Sandbox
    _server: SandboxHTTPServer
    _thread: threading.Thread

    @property
    def control(self) -> SandboxControl:
        return SandboxControl(self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.sandbox.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    state_file: str | os.PathLike[str] | None = None,
    webhook_url: str | None = None,
    webhook_secrets: Sequence[str] = (DEFAULT_WEBHOOK_SECRET,),
    plaid_client_id: str = DEFAULT_CLIENT_ID,
    plaid_secret: str = DEFAULT_SECRET,
    braintree_webhook_url: str | None = None,
) -> SandboxHandle:
    """Serve a new sandbox in a daemon thread; port 0 picks a free port. Call `.stop()`."""
    sandbox = Sandbox(
        state_file=state_file,
        stripe_webhook_url=webhook_url,
        stripe_webhook_secrets=webhook_secrets,
        plaid_client_id=plaid_client_id,
        plaid_secret=plaid_secret,
        braintree_webhook_url=braintree_webhook_url,
    )
    server = SandboxHTTPServer((host, port), sandbox)
    bound_port = server.server_address[1]
    # A short poll keeps stop() quick; test suites start and stop many sandboxes.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="sandbox-http",
        daemon=True,
    )
    thread.start()
    return SandboxHandle(f"http://{host}:{bound_port}", int(bound_port), sandbox, server, thread)


def serve(
    *,
    port: int,
    host: str = "127.0.0.1",
    state_file: str | None = None,
    webhook_url: str | None = None,
    webhook_secrets: Sequence[str] = (DEFAULT_WEBHOOK_SECRET,),
    plaid_client_id: str = DEFAULT_CLIENT_ID,
    plaid_secret: str = DEFAULT_SECRET,
    braintree_webhook_url: str | None = None,
    announce: Any = print,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then save state and return."""
    sandbox = Sandbox(
        state_file=state_file,
        stripe_webhook_url=webhook_url,
        stripe_webhook_secrets=webhook_secrets,
        plaid_client_id=plaid_client_id,
        plaid_secret=plaid_secret,
        braintree_webhook_url=braintree_webhook_url,
    )
    server = SandboxHTTPServer((host, port), sandbox)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, so it must run off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    announce(f"Sandbox listening on http://{host}:{server.server_address[1]}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sandbox.close()
