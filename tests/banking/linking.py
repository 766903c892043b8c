"""Bank-linking tests against the real sandbox Plaid: Link driven step by step, signed webhooks.

The sandbox (`sandbox.server.start_in_thread`) is the other side of a real socket; the gateway
and plaid-python run unchanged against it through `PLAID_API_BASE`. `PlaidSandbox.link` drives
the same JSON steps the Link stand-in's modal calls (institution login, account choice, numbers,
manual entry, the same-day code, update mode), so every flow runs here without a browser; the
browser tests drive the modal itself. Webhooks the sandbox signs are caught by `WebhookInbox`
and handed to our `/webhooks/plaid/` exactly as they were signed.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from django.db import connection
from django.test import Client

from banking import services
from banking.models import BankLinkSession, PlaidItem
from compliance.actors import Actor
from payments.models import Customer
from sandbox.client import SandboxControl
from sandbox.server import SandboxHandle
from tests.banking.plaid_stub import serving
from tests.payments.factories import CustomerFactory

CLIENT_ID = "ledgerline_sandbox_client"
SECRET = "ledgerline_sandbox_secret"
USER_GOOD, PASS_GOOD, PASS_MICRODEPOSITS = "user_good", "pass_good", "microdeposits_good"
FIRST_PLATYPUS, HOUNDSTOOTH = "ins_109508", "ins_109512"
# What the customer types in Link in the micro-deposit flows; never seen by Ledgerline.
AUTOMATED_ROUTING, AUTOMATED_ACCOUNT = "021000021", "1111222233330000"
SAME_DAY_ROUTING, SAME_DAY_ACCOUNT, SAME_DAY_CODE = "110000000", "9900112233", "ABC"
# Plaid's instant-Auth routing number for First Platypus Bank.
INSTANT_ROUTING = "011401533"
WEBHOOK_URL = "/webhooks/plaid/"


@dataclass(frozen=True)
class Received:
    body: bytes
    verification: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class WebhookInbox:
    """Catches the sandbox's signed Plaid webhooks (body bytes + Plaid-Verification)."""

    url: str
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_item(self, item_id: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.event.get("item_id") == item_id]


@contextmanager
def webhook_inbox() -> Iterator[WebhookInbox]:
    box: dict[str, WebhookInbox] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            inbox = box["inbox"]
            with inbox.lock:
                inbox.received.append(Received(body, self.headers.get("Plaid-Verification", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    with serving(Handler) as url:
        box["inbox"] = WebhookInbox(url=f"{url}/hook")
        yield box["inbox"]


class LinkError(Exception):
    """Link's backend refused a step (what the modal would show the customer)."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('error_code')}")
        self.status = status
        self.error = error


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback sandbox
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@dataclass
class PlaidSandbox:
    """The sandbox as a test sees it: Link's steps, Plaid's /sandbox/* calls, the control API."""

    handle: SandboxHandle
    inbox: WebhookInbox

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def control(self) -> SandboxControl:
        return self.handle.control

    # --- Link (what the customer does in the modal) ----------------------------------------
    def step(self, name: str, /, **body: Any) -> dict[str, Any]:
        status, answer = _post(f"{self.url}/plaid/link/api/{name}", body)
        if "error" in answer:
            raise LinkError(status, answer["error"])
        return answer

    def link_token(self, session: BankLinkSession) -> str:
        """Our own code path: the page's Link token, webhooks pointed at the inbox."""
        return services.bank_link_token_create(session=session, webhook_url=self.inbox.url)

    def run_link(self, link_token: str, flow: str = "instant", **choices: Any) -> dict[str, Any]:
        """Drive Link for one flow; returns Link's onSuccess answer (public token, metadata).

        Flows: "instant" (First Platypus, user_good / pass_good), "automated" (Houndstooth,
        microdeposits_good, then numbers), "same_day" (manual entry, routing 110000000),
        "update" (log in again to the item's bank; with Account Select, `share=("1111",)`
        ticks those masks besides the accounts already shared, default every new one),
        "verify" (the same-day code).
        """
        start = self.step("start", link_token=link_token)
        sid = start["link_session_id"]
        if flow == "verify":
            return self.step("verify", link_session_id=sid, code=choices.get("code", "ABC"))
        if flow == "same_day":
            return self.step(
                "manual",
                link_session_id=sid,
                routing=SAME_DAY_ROUTING,
                account=choices.get("account", SAME_DAY_ACCOUNT),
                name="Pat Customer",
                subtype="checking",
            )
        automated = flow == "automated"
        institution = (
            start["institution"]["institution_id"]
            if flow == "update"
            else (HOUNDSTOOTH if automated else FIRST_PLATYPUS)
        )
        answer = self.step(
            "login",
            link_session_id=sid,
            institution_id=institution,
            username=USER_GOOD,
            password=PASS_MICRODEPOSITS if automated else choices.get("password", PASS_GOOD),
        )
        if answer.get("done"):
            return answer
        if answer.get("next") == "accounts":
            listed = answer["accounts"]
            share = choices.get("share", [a["mask"] for a in listed])
            chosen = [a["id"] for a in listed if a["shared"] or a["mask"] in share]
            return self.step("accounts", link_session_id=sid, account_ids=chosen)
        answer = self.step(
            "select", link_session_id=sid, account_index=choices.get("account_index", 0)
        )
        if automated:
            answer = self.step(
                "numbers",
                link_session_id=sid,
                routing=AUTOMATED_ROUTING,
                account=AUTOMATED_ACCOUNT,
            )
        return answer

    def link(self, session: BankLinkSession, flow: str = "instant", **choices: Any) -> PlaidItem:
        """A customer links through Link and our server completes it (as the page's POST)."""
        done = self.run_link(self.link_token(session), flow, **choices)
        return services.bank_link_complete(
            session=session, public_token=done["public_token"], metadata=done["metadata"]
        )

    # --- Plaid's own Sandbox endpoints, and the control API -------------------------------
    def sandbox_call(self, path: str, **body: Any) -> dict[str, Any]:
        status, answer = _post(
            f"{self.url}{path}", {"client_id": CLIENT_ID, "secret": SECRET, **body}
        )
        assert status == 200, answer
        return answer

    def for_item(self, item: PlaidItem, path: str, **body: Any) -> dict[str, Any]:
        """A /sandbox/item/... call with the item's access token (read from our vault)."""
        token = services.plaid_item_access_token(item=item)
        return self.sandbox_call(path, access_token=token, **body)

    def item(self, item: PlaidItem) -> dict[str, Any]:
        """The sandbox's view of the item (with its numbers; never its access token)."""
        return self.control.plaid_item(item.item_id)

    def account_id(self, item: PlaidItem, index: int = 0) -> str:
        return str(self.item(item)["accounts"][index]["account_id"])

    def signed_webhooks(self, item: PlaidItem) -> list[Received]:
        """Every webhook the sandbox has signed and delivered for the item so far."""
        assert self.control.wait_for_webhooks(timeout=10), "sandbox webhooks still pending"
        return self.inbox.for_item(item.item_id)


def database_text(*tables: str) -> str:
    """Every row of the given tables (all of the database's tables by default) as text."""
    with connection.cursor() as cursor:
        names = tables or tuple(connection.introspection.table_names(cursor))
        rows = []
        for table in names:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows.append(repr(cursor.fetchall()))
    return "\n".join(rows)


def new_customer(**fields: Any) -> Customer:
    customer: Customer = CustomerFactory.create(**fields)
    return customer


def new_session(**customer: Any) -> services.NewBankLinkSession:
    found = new_customer(**customer)
    return services.bank_link_session_create(
        merchant=found.merchant, customer=found, actor=Actor.system("tests")
    )


def deliver(received: Received, client: Client | None = None) -> tuple[int, dict[str, Any]]:
    """POST a webhook to /webhooks/plaid/ byte for byte as the sandbox signed it."""
    response = (client or Client()).post(
        WEBHOOK_URL,
        received.body,
        content_type="application/json",
        headers={"Plaid-Verification": received.verification},
    )
    return response.status_code, response.json()


@contextmanager
def running_sandbox() -> Iterator[PlaidSandbox]:
    from sandbox.server import start_in_thread

    handle = start_in_thread(port=0)
    # The inbox always answers 200; a quick retry only matters if a delivery races startup.
    handle.control.webhooks(retry={"base_seconds": 0.05, "max_seconds": 0.2, "max_attempts": 4})
    try:
        with webhook_inbox() as inbox:
            yield PlaidSandbox(handle=handle, inbox=inbox)
    finally:
        handle.stop()
