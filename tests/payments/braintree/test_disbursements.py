"""Braintree's disbursements mirrored as payouts: the `disbursement` notification (through the
inbound pipeline) becomes a paid payout whose items are its transactions and sum exactly to its
amount; `disbursement_exception` fails it with Braintree's reason; duplicates, replays and
lost answers have one effect; malformed subjects are refused with a note; the reconciler
reports disbursed transactions no payout carries. End to end on the sandbox's Braintree."""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from compliance.actors import Actor
from compliance.models import AuditEntry
from inbound.models import InboundEvent, InboundEventStatus
from inbound.services import inbound_event_ingest
from inbound.services.replay import inbound_event_replay
from payments import services
from payments.braintree_events import braintree_transactions_reconcile
from payments.braintree_payouts import braintree_disbursement_apply, braintree_disbursements_check
from payments.gateways import braintree as gateway
from payments.gateways.braintree import money_out
from payments.models import (
    BalanceTransaction,
    BalanceTransactionType,
    Payment,
    Payout,
    PayoutStatus,
    ProcessorAccount,
    Refund,
)
from payments.payout_reports import payout_contents, payout_items
from sandbox.braintree.notifications import sign
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, PRIVATE_KEY, PUBLIC_KEY, settle
from tests.payments.braintree.test_webhooks import notification, pay, post

ACTOR = Actor.system("tests")
SEARCH = f"/merchants/{MERCHANT_ID}/transactions/advanced_search"


def disburse(control: SandboxControl) -> list[str]:
    """Braintree disburses every settled transaction now; the new disbursements' ids."""
    created: list[str] = control.braintree("POST", "disbursements")["disbursements"]
    return created


def settled_sales_and_refund(
    account: ProcessorAccount, control: SandboxControl
) -> tuple[list[Payment], Refund, str]:
    """Two settled sales and a settled partial refund, disbursed as one disbursement (what
    earlier tests left settled on the shared sandbox merchant is disbursed first)."""
    disburse(control)
    sales = [pay(account, amount=amount) for amount in (5000, 3000)]
    for sale in sales:
        settle(control, sale.processor_payment_id)
    refund = services.refund_create(payment=sales[0], actor=ACTOR, amount=1000)
    settle(control, refund.processor_refund_id)
    (disbursement_id,) = disburse(control)
    return sales, refund, disbursement_id


def test_a_disbursement_becomes_a_paid_payout_whose_items_sum_to_its_amount(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sales, refund, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    fields = notification(bt_control, "disbursement", disbursement_id)

    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    event = InboundEvent.objects.get(provider="braintree", type="disbursement")
    assert event.status == InboundEventStatus.SUCCEEDED
    payout = Payout.objects.get(processor="braintree", processor_payout_id=disbursement_id)
    assert payout.public_id.startswith("po_")
    assert payout.merchant == bt_account.merchant
    assert (payout.status, payout.amount, payout.currency) == (PayoutStatus.PAID, 7000, "usd")
    record = bt_control.braintree("GET", f"objects/disbursements/{disbursement_id}")
    assert payout.arrival_date.date() == datetime.fromtimestamp(record["at"], tz=UTC).date()
    items = {item.processor_transaction_id: item for item in payout_items(payout)}
    assert set(items) == {sales[0].processor_payment_id, sales[1].processor_payment_id} | {
        refund.processor_refund_id
    }
    assert items[sales[0].processor_payment_id].payment == sales[0]
    assert items[sales[1].processor_payment_id].amount == 3000
    assert items[refund.processor_refund_id].refund == refund
    assert items[refund.processor_refund_id].amount == -1000
    assert sum(item.net for item in items.values()) == payout.amount
    assert payout_contents(payout).balances(payout)
    # Braintree does not itemize fees: a payment's fee stays unknown rather than zero.
    sales[0].refresh_from_db()
    assert sales[0].fee is None
    changes = AuditEntry.objects.filter(action="payout.status_change", target_id=payout.public_id)
    assert changes.count() == 1
    assert not AuditEntry.objects.filter(action="payout.reconcile_difference").exists()


def test_a_redelivered_or_replayed_disbursement_changes_nothing(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    # The first delivery finds Braintree failing (its read is retried later, nothing applied).
    bt_control.add_fault("error_500", count=20, method="POST", path=SEARCH)
    fields = notification(bt_control, "disbursement", disbursement_id)
    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200
    event = InboundEvent.objects.get(provider="braintree", type="disbursement")
    assert event.status == InboundEventStatus.FAILED
    assert not Payout.objects.exists()

    bt_control.clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_event_replay(event=event, actor=ACTOR)
    payout = Payout.objects.get(processor_payout_id=disbursement_id)
    rows = BalanceTransaction.objects.filter(processor="braintree").count()

    again = post(client, fields, django_capture_on_commit_callbacks)
    assert again.json()["duplicate"] is True
    with django_capture_on_commit_callbacks(execute=True):
        assert not inbound_event_replay(event=event, actor=ACTOR)  # succeeded: not replayed
    # Applying the same disbursement again (a second notification for it) adds nothing.
    read = gateway.disbursement_from_subject(event.payload["disbursement"], kind="disbursement")
    fetched = gateway.disbursement_entries(account=MERCHANT_ID, disbursement=read)
    braintree_disbursement_apply(
        merchant=bt_account.merchant, disbursement=read, fetched=fetched, actor=ACTOR
    )

    assert Payout.objects.count() == 1
    assert BalanceTransaction.objects.filter(processor="braintree").count() == rows
    assert (
        AuditEntry.objects.filter(action="payout.status_change", target_id=payout.public_id).count()
        == 1
    )


def test_a_search_answer_lost_on_the_way_is_read_again_and_applied_once(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sales, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    bt_control.add_fault("lose_response", method="POST", path=SEARCH)
    fields = notification(bt_control, "disbursement", disbursement_id)

    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    assert bt_control.request("GET", "faults")["faults"] == []  # the answer was lost once
    payout = Payout.objects.get(processor_payout_id=disbursement_id)
    assert sum(item.net for item in payout_items(payout)) == payout.amount == 7000
    assert payout_items(payout).filter(payment=sales[1]).count() == 1


def test_a_disbursement_exception_fails_the_payout_with_the_reason_and_what_to_do(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    paid = notification(bt_control, "disbursement", disbursement_id)
    failed = notification(bt_control, "disbursement_exception", disbursement_id)
    assert post(client, paid, django_capture_on_commit_callbacks).status_code == 200

    assert post(client, failed, django_capture_on_commit_callbacks).status_code == 200

    payout = Payout.objects.get(processor_payout_id=disbursement_id)
    assert payout.status == PayoutStatus.FAILED
    assert payout.failure_code == "could_not_process"
    assert "bank rejected" in payout.failure_message
    assert "update your bank account" in payout.failure_message
    # The money is Braintree's again: the payout's return is recorded, its contents unchanged.
    returned = BalanceTransaction.objects.get(
        payout=payout, type=BalanceTransactionType.PAYOUT_FAILURE
    )
    assert returned.amount == payout.amount
    assert payout_contents(payout).balances(payout)
    # A late copy of the success never moves it back.
    assert post(client, paid, django_capture_on_commit_callbacks).json()["duplicate"] is True
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED


def test_a_disbursement_naming_unknown_transactions_is_balanced_by_an_adjustment_and_reported(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    caplog: Any,
) -> None:
    """Braintree's sample: 100.00 for transactions `afv56j` and `kj8hjk`, which neither
    Braintree's search nor Ledgerline knows."""
    caplog.set_level(logging.ERROR)
    fields = notification(bt_control, "disbursement", "disb_sample")

    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    payout = Payout.objects.get(processor_payout_id="disb_sample")
    (item,) = payout_items(payout)
    assert (item.type, item.amount, item.net) == (BalanceTransactionType.ADJUSTMENT, 10_000, 10_000)
    assert "afv56j" in item.description
    assert "kj8hjk" in item.description
    report = AuditEntry.objects.get(action="payout.reconcile_difference")
    assert report.outcome == "failure"
    assert report.payload["count"] == 3
    assert "disbursed_transaction_unknown afv56j" in report.payload["differences"]
    assert "A Braintree disbursement for merchant" in caplog.text


def _disbursement(amount: int, ids: list[str], disbursement_id: str = "disb_direct") -> Any:
    return gateway.disbursement_from_subject(
        {
            "id": disbursement_id,
            "amount": amount,
            "currency": "usd",
            "transaction_ids": ids,
            "disbursement_date": 1_780_000_000,
            "disbursement_type": "credit",
            "success": True,
        },
        kind="disbursement",
    )


def test_a_disbursement_smaller_than_its_transactions_records_the_fee_as_an_adjustment(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    """Braintree netted 1.45 of fees: the payout's items still sum to what reached the bank."""
    sales = [pay(bt_account, amount=amount) for amount in (2000, 3000)]
    ids = [sale.processor_payment_id for sale in sales]
    read = _disbursement(5000 - 145, ids)
    fetched = gateway.disbursement_entries(account=MERCHANT_ID, disbursement=read)

    braintree_disbursement_apply(
        merchant=bt_account.merchant, disbursement=read, fetched=fetched, actor=ACTOR
    )

    payout = Payout.objects.get(processor_payout_id="disb_direct")
    adjustment = payout_items(payout).get(type=BalanceTransactionType.ADJUSTMENT)
    assert adjustment.amount == -145
    assert sum(item.net for item in payout_items(payout)) == payout.amount == 4855
    assert AuditEntry.objects.filter(action="payout.reconcile_difference").count() == 1


def test_a_transaction_braintree_does_not_return_is_taken_from_our_record_and_reported(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    sale = pay(bt_account, amount=2500)
    read = _disbursement(2500, [sale.processor_payment_id])

    braintree_disbursement_apply(
        merchant=bt_account.merchant, disbursement=read, fetched=[], actor=ACTOR
    )

    payout = Payout.objects.get(processor_payout_id="disb_direct")
    (item,) = payout_items(payout)
    assert (item.payment, item.amount) == (sale, 2500)
    report = AuditEntry.objects.get(action="payout.reconcile_difference")
    assert report.payload["differences"] == [
        f"disbursed_transaction_not_found_at_processor {sale.processor_payment_id}"
    ]


HOSTILE_SUBJECTS: list[Any] = [
    None,
    "disbursement",
    {},
    {"id": "../../etc", "amount": 100, "currency": "usd"},
    {"id": "d" * 200, "amount": 100, "currency": "usd"},
    {"id": "d1", "amount": "100.00", "currency": "usd"},
    {"id": "d1", "amount": True, "currency": "usd"},
    {"id": "d1", "amount": -5, "currency": "usd"},
    {"id": "d1", "amount": 10**15, "currency": "usd"},
    {"id": "d1", "amount": 100, "currency": "US"},
    {"id": "d1", "amount": 100, "currency": "usd", "disbursement_date": None},
    {"id": "d1", "amount": 100, "currency": "usd", "disbursement_date": 10**12},
    {"id": "d1", "amount": 100, "currency": "usd", "transaction_ids": "abc"},
    {"id": "d1", "amount": 100, "currency": "usd", "transaction_ids": [1, 2]},
    {"id": "d1", "amount": 100, "currency": "usd", "transaction_ids": ["a b"]},
    {"id": "d1", "amount": 100, "currency": "usd", "transaction_ids": ["t"] * 1001},
    {"id": "d1", "amount": 100, "currency": "usd", "disbursement_type": "sideways"},
]


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
def test_a_malformed_disbursement_is_refused_with_a_note_and_records_nothing(
    bt_account: ProcessorAccount, django_capture_on_commit_callbacks: Any, subject: Any
) -> None:
    complete = {"transaction_ids": [], "disbursement_date": 1_780_000_000}
    if isinstance(subject, dict) and subject.get("id") == "d1":
        subject = {**complete, **subject}
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_ingest(
            provider="braintree",
            event_id=f"btn_hostile_{uuid.uuid4().hex}",
            event_type="disbursement",
            account=MERCHANT_ID,
            payload={"kind": "disbursement", "disbursement": subject},
        )

    event = InboundEvent.objects.get(provider="braintree")
    assert event.status == InboundEventStatus.IGNORED
    assert event.last_error.startswith("not a usable disbursement")
    assert not Payout.objects.exists()
    assert not BalanceTransaction.objects.exists()


def test_reconciliation_reports_disbursed_transactions_no_payout_carries_once(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sales, refund, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    ours = {sale.processor_payment_id for sale in sales} | {refund.processor_refund_id}
    # The notification never arrives; the reconciler's run finds what Braintree disbursed.
    with django_capture_on_commit_callbacks(execute=True):
        braintree_transactions_reconcile()
    report = AuditEntry.objects.get(action="payout.reconcile_difference")
    assert report.outcome == "failure"
    found = braintree_disbursements_check(
        merchant_id=bt_account.merchant_id, account=MERCHANT_ID, now=datetime.now(tz=UTC)
    )
    assert ours <= {d.processor_id for d in found if d.what == "disbursement_missing"}
    # Reported once in the window, not on every run; and searched at most every six hours.
    assert AuditEntry.objects.filter(action="payout.reconcile_difference").count() == 1
    late = pay(bt_account, amount=1234)
    settle(bt_control, late.processor_payment_id)
    assert len(disburse(bt_control)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        braintree_transactions_reconcile()
    assert AuditEntry.objects.filter(action="payout.reconcile_difference").count() == 1
    found = braintree_disbursements_check(
        merchant_id=bt_account.merchant_id, account=MERCHANT_ID, now=datetime.now(tz=UTC)
    )
    assert late.processor_payment_id in {d.processor_id for d in found}
    assert AuditEntry.objects.filter(action="payout.reconcile_difference").count() == 2

    fields = notification(bt_control, "disbursement", disbursement_id)
    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200
    after = braintree_disbursements_check(
        merchant_id=bt_account.merchant_id, account=MERCHANT_ID, now=datetime.now(tz=UTC)
    )
    assert not ours & {d.processor_id for d in after}


def _signed(disbursement_xml: str) -> dict[str, str]:
    """A notification built by hand and signed with the merchant's real keys: the signature
    holds, so only Ledgerline's own checks stand between its fields and the database."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><notification>'
        '<timestamp type="datetime">2026-12-07T06:00:00Z</timestamp>'
        f"<kind>disbursement</kind><subject>{disbursement_xml}</subject></notification>"
    )
    payload = base64.encodebytes(xml.encode())
    return {
        "bt_signature": sign(payload, PUBLIC_KEY, PRIVATE_KEY),
        "bt_payload": payload.decode(),
    }


def _disbursement_xml(amount: str, ids: str, date: str) -> str:
    return (
        f"<disbursement><id>d_hostile</id><amount>{amount}</amount>"
        "<merchant-account><id>ma</id><currency-iso-code>USD</currency-iso-code>"
        f"</merchant-account>{ids}{date}<success type='boolean'>true</success></disbursement>"
    )


IDS = '<transaction-ids type="array"><item>t1</item></transaction-ids>'
DATE = '<disbursement-date type="date">2026-12-07</disbursement-date>'


@pytest.mark.parametrize(
    "subject",
    [
        _disbursement_xml("abc", IDS, DATE),
        _disbursement_xml("-5.00", IDS, DATE),
        _disbursement_xml("1e40", IDS, DATE),
        _disbursement_xml(
            "10.00", '<transaction-ids type="array"><item>&lt;b&gt;</item></transaction-ids>', DATE
        ),
        _disbursement_xml("10.00", IDS, ""),
        _disbursement_xml(
            "10.00", IDS, '<disbursement-date type="date">yesterday</disbursement-date>'
        ),
        "<disbursement><id>d_hostile</id><amount>10.00</amount></disbursement>",
        "<disbursement/>",
    ],
)
def test_a_signed_but_hostile_disbursement_is_never_a_500_and_records_no_payout(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    subject: str,
) -> None:
    response = post(client, _signed(subject), django_capture_on_commit_callbacks)

    assert response.status_code in (200, 400)
    assert not Payout.objects.exists()
    assert not InboundEvent.objects.filter(status=InboundEventStatus.SUCCEEDED).exists()


def test_braintree_is_read_with_no_transaction_open_while_a_disbursement_is_applied(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow Braintree must never hold the event's or the payout's row lock."""
    _, _, disbursement_id = settled_sales_and_refund(bt_account, bt_control)
    fields = notification(bt_control, "disbursement", disbursement_id)
    baseline = len(connection.atomic_blocks)
    calls: list[tuple[str, bool]] = []
    real = money_out.call

    def spying(operation: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((operation, len(connection.atomic_blocks) > baseline))
        return real(operation, *args, **kwargs)

    monkeypatch.setattr(money_out, "call", spying)

    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    assert calls == [("transaction_search_disbursed", False)]
    assert Payout.objects.filter(processor_payout_id=disbursement_id).exists()
