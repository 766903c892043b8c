"""The erasure drill (issue #16, "Tests and proof"), on PostgreSQL, through the real services.

A customer with data in every model (card payments at the Stripe sandbox, a refund, a dispute,
a payment through a payment link, a bank account linked through the Plaid sandbox and one
waiting for micro-deposits, webhooks that name them, an idempotent API replay, an
invitation) is erased end to end. Then a `pg_dump` of the whole database and everything the
application logged hold none of their email, name or phone; the Stripe sandbox shows the
customer deleted and the Plaid sandbox the items removed; the certificate verifies offline,
a byte changed in it fails, and `audit_verify` still passes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from accounts.services.invitations import membership_invite
from banking import services as banking
from banking.models import BankAccount, PlaidItem, PlaidItemStatus, VaultSecret
from compliance.actors import Actor
from compliance.exports import read_exports
from compliance.models import DataRequest, DataRequestStatus
from compliance.services import data_request_approve, data_request_open, data_request_verify
from inbound.models import InboundEvent
from payments import services as payments
from payments.models import Customer, Dispute, Payment, ProcessorAccount
from tests.banking.conftest import _fresh_plaid_breaker, plaid, plaid_sandbox  # noqa: F401
from tests.banking.linking import PlaidSandbox
from tests.compliance.test_execution import officer
from tests.factories import MembershipFactory
from tests.inbound.webhook_support import deliver, sandbox_events
from tests.payments.conftest import (  # noqa: F401 - fixtures
    _fast_resilience,
    api_client_for,
    sandbox,
    sandbox_control,
)
from tests.payments.factories import InboundEventFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EMAIL = "zelda.quartermaine@drill.example"
NAME = "Zelda Quartermaine"
PHONE = "+44 7700 900461"
# Each value as it may be spelt somewhere (the phone without spaces, the email in capitals).
NEEDLES = {
    "email": [EMAIL],
    "name": [NAME, "Quartermaine"],
    "phone": [PHONE, PHONE.replace(" ", "")],
}


def _seed(
    merchant: Any,
    plaid: PlaidSandbox,  # noqa: F811 - the fixture imported above
    sandbox_control: Any,  # noqa: F811
) -> dict[str, Any]:
    api = api_client_for(merchant)
    body = {"email": EMAIL, "name": NAME, "metadata": {"phone": PHONE}}
    first = api.post("/api/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="drill-1")
    assert first.status_code in {200, 201}, first.content
    replay = api.post("/api/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="drill-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    customer = Customer.objects.get(public_id=first.json()["id"])
    # A payment over the API too: its stored answer (replayed on a retry) names them.
    paid_body = {
        "amount": 2500,
        "currency": "gbp",
        "payment_method": "pm_card_visa",
        "customer": customer.public_id,
        "description": f"Gift for {NAME}",
        "metadata": {"phone": PHONE},
    }
    for _ in range(2):
        answer = api.post(
            "/api/v1/payments", paid_body, format="json", HTTP_IDEMPOTENCY_KEY="drill-2"
        )
        assert answer.status_code in {200, 201}, answer.content
    assert answer.headers.get("Idempotent-Replayed") == "true"
    # A second record of the same person (same email, other case): the same subject.
    twin = payments.customer_create(
        merchant=merchant, actor=None, email=EMAIL.upper(), name=NAME, description=PHONE
    )
    paid = payments.payment_create(
        merchant=merchant,
        actor=None,
        amount=2000,
        currency="gbp",
        payment_method="pm_card_visa",
        customer=customer,
        description=f"Order for {NAME}",
        metadata={"contact": EMAIL},
    )
    payments.refund_create(payment=paid, actor=None, amount=500)
    disputed = payments.payment_create(
        merchant=merchant,
        actor=None,
        amount=3000,
        currency="gbp",
        payment_method="pm_card_createDispute",
        customer=twin,
    )
    link = payments.payment_link_create(
        merchant=merchant, actor=None, amount=1500, currency="gbp", description="Tickets"
    )
    payments.payment_create(
        merchant=merchant,
        actor=None,
        amount=1500,
        currency="gbp",
        payment_method="pm_card_visa",
        customer=customer,
        payment_link=link,
    )
    linked = plaid.link(
        banking.bank_link_session_create(merchant=merchant, customer=customer, actor=None).session,
        "instant",
    )
    waiting = plaid.link(
        banking.bank_link_session_create(merchant=merchant, customer=twin, actor=None).session,
        "same_day",
    )
    # Every event Stripe (the sandbox) sent about this account, delivered signed to our
    # endpoint and stored as received: customer.created names them, among others.
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    client = Client()
    for event in sandbox_events(sandbox_control, account=account):
        assert deliver(client, event).status_code == 200
    assert InboundEvent.objects.filter(payload__icontains=EMAIL).exists()
    # A charge's billing details as a pay page sends them (the sandbox's cards carry none).
    billing = {"name": NAME, "email": EMAIL, "phone": PHONE}
    customer.refresh_from_db()
    for index, (kind, charge) in enumerate(
        [("charge.succeeded", paid.processor_charge_id), ("charge.dispute.created", "")]
    ):
        InboundEventFactory(
            merchant=merchant,
            event_id=f"evt_drill_{index}",
            payload={
                "type": kind,
                "data": {
                    "object": {
                        "id": charge or disputed.processor_charge_id,
                        "customer": customer.processor_customer_id,
                        "billing_details": billing,
                        "receipt_email": EMAIL,
                    }
                },
            },
        )
    owner = MembershipFactory(merchant=merchant).user
    membership_invite(actor=owner, merchant=merchant, email=EMAIL, role="viewer")
    return {"customer": customer, "twin": twin, "items": [linked, waiting], "disputed": disputed}


def _dispute(merchant: Any, payment: Payment, sandbox_control: Any) -> Dispute:  # noqa: F811
    """The dispute the sandbox opened on the charge, recorded by its delivered webhook."""
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    charge = sandbox_control.api_get(f"/v1/charges/{payment.processor_charge_id}", account=account)
    assert charge["dispute"], "the sandbox opened no dispute"
    return Dispute.objects.get(processor_dispute_id=str(charge["dispute"]), payment=payment)


def _pg_dump() -> str:
    settings = connection.settings_dict
    environment = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    command = ["pg_dump", "--no-owner", "-h", settings["HOST"] or "127.0.0.1"]
    command += ["-p", str(settings["PORT"] or 5432), "-U", settings["USER"], settings["NAME"]]
    dumped = subprocess.run(command, capture_output=True, check=True, env=environment, timeout=120)
    return dumped.stdout.decode("utf-8")


def _where(dump: str) -> dict[str, list[str]]:
    """For each kind of value, the tables whose rows still hold it (COPY blocks of the dump)."""
    found: dict[str, list[str]] = {}
    table = ""
    for line in dump.splitlines():
        copy = re.match(r"^COPY (\S+) ", line)
        if copy:
            table = copy.group(1)
        lowered = line.lower()
        for kind, needles in NEEDLES.items():
            if any(needle.lower() in lowered for needle in needles):
                found.setdefault(kind, []).append(table or line[:80])
    return found


@pytest.fixture
def application_logs(caplog, capfd) -> Callable[[], str]:
    """Everything the application logged, lower-cased: every record at every level (before
    masking) and the lines its handler wrote (what a log file holds). The sandbox's own log,
    the processor's side, is not ours."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        written = [
            line
            for line in capfd.readouterr().err.splitlines()
            if not re.match(r"^\S+ \S+ \S+ sandbox", line)
        ]
        records = [
            f"{r.getMessage()} {r.__dict__}"
            for r in caplog.records
            if not r.name.startswith("sandbox")
        ]
        return "\n".join(records + written).lower()

    return text


def test_erasure_drill_leaves_nothing_in_the_database_the_logs_or_at_the_processors(
    settings,
    plaid,  # noqa: F811 - the fixture imported above
    sandbox_control,  # noqa: F811 - the fixture imported above
    application_logs,
    tmp_path,
):
    settings.AUDIT_SEAL_INLINE = True
    from tests.factories import MerchantFactory

    merchant = MerchantFactory(default_currency="gbp", country="GB")
    seeded = _seed(merchant, plaid, sandbox_control)
    _dispute(merchant, seeded["disputed"], sandbox_control)
    before = _where(_pg_dump())
    assert set(before) == {"email", "name", "phone"}, before  # the drill sees what it seeded
    stripe_ids = [seeded["customer"].processor_customer_id, seeded["twin"].processor_customer_id]
    stripe_ids = [
        c
        for c in {*stripe_ids, *Customer.objects.values_list("processor_customer_id", flat=True)}
        if c
    ]

    data_request = data_request_open(
        request_type="erasure",
        subject_kind="customer",
        reference=EMAIL,
        merchant_id=merchant.public_id,
        ground="art17_1_b",
        actor=Actor.for_api_key("key_drill"),
    )
    data_request_verify(data_request=data_request, officer=officer(), method="email on file")
    # Approval commits, and its on-commit hook runs the execution task (eager in tests).
    data_request_approve(data_request=data_request, officer=officer())
    data_request = DataRequest.objects.get(pk=data_request.pk)
    assert data_request.status == DataRequestStatus.COMPLETED

    # 1. The database: nothing anywhere (the retained ledger fields hold no person).
    assert _where(_pg_dump()) == {}
    assert Payment.objects.filter(merchant=merchant).count() == 4  # kept for the ledger
    assert Dispute.objects.filter(merchant=merchant).count() == 1
    assert not VaultSecret.objects.exists()  # the access tokens' data keys destroyed
    assert set(PlaidItem.objects.values_list("status", flat=True)) == {PlaidItemStatus.REMOVED}
    assert not BankAccount.objects.filter(disconnected_at__isnull=True).exists()

    # 2. The logs: nothing the application logged names them, neither any record (at every
    # level, before masking) nor the lines its handler wrote (what a log file holds). The
    # sandbox's own log, the processor's side, is not ours.
    ours = application_logs()
    assert "data_request_execute_task" in ours  # the capture did see the erasure run
    for kind, needles in NEEDLES.items():
        for needle in needles:
            assert needle.lower() not in ours, f"the {kind} is in the logs"

    # 3. The processors: Stripe deleted the customers, Plaid removed the items.
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    assert stripe_ids
    for stripe_id in stripe_ids:
        assert sandbox_control.api_get(f"/v1/customers/{stripe_id}", account=account)["deleted"]
    for item in seeded["items"]:
        with pytest.raises(Exception, match="404"):
            plaid.item(item)
    body = data_request.certificate["certificate"]
    confirmations = {p["name"]: p["confirmations"] for p in body["processors"]}
    assert set(confirmations["stripe"]) == set(stripe_ids)
    assert len(confirmations["plaid"]) == 2

    # 4. The certificate verifies offline; a byte changed in it does not.
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(data_request.certificate))
    call_command("verify_certificate", str(path))
    raw = path.read_bytes()
    at = raw.index(b'"request": "dsr_') + len(b'"request": "dsr_')
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :])
    with pytest.raises(CommandError, match="NOT genuine"):
        call_command("verify_certificate", str(path))

    # The checkpoint it is proven under is the one exported to the write-once files.
    statement = body["audit"]["checkpoint"]["statement"]
    on_file = {e.statement["number"]: e for e in read_exports(log_id=statement["log"])}
    assert on_file[statement["number"]].statement == statement
    assert on_file[statement["number"]].signature == body["audit"]["checkpoint"]["signature"]

    # 5. The audit log is intact after the erasure.
    call_command("audit_seal")
    call_command("audit_verify")
