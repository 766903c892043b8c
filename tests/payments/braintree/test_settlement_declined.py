"""Braintree declining to settle a sale we hold as succeeded: the payment becomes failed
(`requires_payment_method`, failure code `settlement_declined`) once, audited once, out of the
gross volume, day totals and pending balance, never refundable, and never succeeded again;
through the webhook and through the reconciler alike. Sales of 4001.00 are declined at
settlement by the sandbox, as by Braintree's own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from compliance.actors import Actor
from compliance.models import AuditEntry
from inbound.models import EventProvider, InboundEvent, InboundEventStatus
from inbound.services import inbound_event_ingest
from payments import services
from payments.balance_selectors import balance_by_processor
from payments.braintree_events import braintree_transactions_reconcile
from payments.exceptions import PaymentStateError
from payments.gateways.braintree import charge_from_subject
from payments.models import (
    Payment,
    PaymentDayTotal,
    ProcessorAccount,
    ProcessorCredential,
    Refund,
)
from payments.overview import overview_build, period_for
from payments.state import FAILED, PaymentStatus, status_for_people
from sandbox.braintree.cards import SETTLEMENT_DECLINED_CENTS
from sandbox.client import SandboxControl
from tests.factories import member, verified_client
from tests.payments.braintree.conftest import sandbox_transaction, settle
from tests.payments.braintree.test_disbursements import disburse
from tests.payments.braintree.test_webhooks import notification, pay, post
from tests.payments.conftest import api_client_for
from tests.payments.day_totals_support import totals_from_payments, totals_stored

DECLINED_KIND = "transaction_settlement_declined"


def _declined_changes(payment: Payment) -> Any:
    return AuditEntry.objects.filter(
        action="payment.status_change",
        target_id=payment.public_id,
        payload__to="requires_payment_method",
    )


def _captured_then_declined(account: ProcessorAccount, control: SandboxControl) -> Payment:
    """A sale Ledgerline holds as succeeded, which Braintree then declines at settlement."""
    payment = pay(account, amount=SETTLEMENT_DECLINED_CENTS)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == SETTLEMENT_DECLINED_CENTS
    settle(control, payment.processor_payment_id)
    assert sandbox_transaction(control, payment.processor_payment_id)["status"] == (
        "settlement_declined"
    )
    return payment


def _gross_today(payment: Payment) -> int:
    period = period_for("today", now=timezone.now())
    return overview_build(merchant=payment.merchant, period=period).metric("gross").current


def _day_total_gross(payment: Payment) -> int:
    rows = PaymentDayTotal.objects.filter(merchant=payment.merchant, currency="usd")
    return sum(row.gross for row in rows)


def _pending_usd(payment: Payment) -> int:
    balances = balance_by_processor(merchant=payment.merchant, using="default", now=timezone.now())
    return sum(b.pending for b in balances if b.processor == "braintree" and b.currency == "usd")


def test_the_webhook_fails_the_payment_once_and_takes_it_out_of_gross_and_balance(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    disburse(bt_control)  # other tests' settled sales leave the shared sandbox's balance
    payment = pay(bt_account, amount=SETTLEMENT_DECLINED_CENTS)
    assert _gross_today(payment) == _day_total_gross(payment) == SETTLEMENT_DECLINED_CENTS
    assert _pending_usd(payment) == SETTLEMENT_DECLINED_CENTS
    settle(bt_control, payment.processor_payment_id)
    fields = notification(bt_control, DECLINED_KIND, payment.processor_payment_id)

    answer = post(client, fields, django_capture_on_commit_callbacks)

    assert answer.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert payment.failure_code == "settlement_declined"
    assert payment.failure_message.startswith("Braintree could not settle this payment")
    assert "Do not ship" in payment.failure_message
    assert (payment.amount_captured, payment.amount_refunded) == (0, 0)
    assert status_for_people(payment.status, payment.failure_code)[0] == FAILED
    event = InboundEvent.objects.get(provider="braintree", type=DECLINED_KIND)
    assert event.status == InboundEventStatus.SUCCEEDED
    (change,) = _declined_changes(payment)
    assert change.actor_kind == "webhook"
    assert change.payload["from"] == "succeeded"
    assert change.payload["reason"] == "settlement_declined"
    assert change.payload["amount_captured_before"] == SETTLEMENT_DECLINED_CENTS
    assert _gross_today(payment) == _day_total_gross(payment) == 0
    assert totals_stored() == totals_from_payments()
    assert _pending_usd(payment) == 0


def test_duplicate_and_repeated_notifications_change_and_audit_nothing_more(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = _captured_then_declined(bt_account, bt_control)
    fields = notification(bt_control, DECLINED_KIND, payment.processor_payment_id)
    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200
    payment.refresh_from_db()
    first_update = payment.updated_at

    duplicate = post(client, fields, django_capture_on_commit_callbacks)
    # Braintree resends the fact in a notification of its own (another event id).
    resent = notification(bt_control, DECLINED_KIND, payment.processor_payment_id)
    assert post(client, resent, django_capture_on_commit_callbacks).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        braintree_transactions_reconcile()  # finds the same decline again

    assert duplicate.json()["duplicate"] is True
    payment.refresh_from_db()
    assert payment.updated_at == first_update
    assert _declined_changes(payment).count() == 1
    assert not InboundEvent.objects.filter(
        provider="braintree",
        status__in=(InboundEventStatus.FAILED, InboundEventStatus.DEAD),
    ).exists()


def test_a_late_settled_notification_does_not_bring_the_payment_back(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, amount=SETTLEMENT_DECLINED_CENTS)
    # Signed while Braintree still had it submitted for settlement (succeeded to us).
    stale = notification(bt_control, "transaction_settled", payment.processor_payment_id)
    settle(bt_control, payment.processor_payment_id)
    declined = notification(bt_control, DECLINED_KIND, payment.processor_payment_id)

    assert post(client, declined, django_capture_on_commit_callbacks).status_code == 200
    assert post(client, stale, django_capture_on_commit_callbacks).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert payment.failure_code == "settlement_declined"
    assert payment.amount_captured == 0
    back_to_succeeded = AuditEntry.objects.filter(
        action="payment.status_change",
        target_id=payment.public_id,
        payload__to="succeeded",
        actor_kind="webhook",
    )
    assert not back_to_succeeded.exists()
    assert _declined_changes(payment).count() == 1
    assert _day_total_gross(payment) == 0


def test_a_succeeded_charge_applied_later_through_the_services_is_ignored(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = _captured_then_declined(bt_account, bt_control)
    post(
        client,
        notification(bt_control, DECLINED_KIND, payment.processor_payment_id),
        django_capture_on_commit_callbacks,
    )
    settled = charge_from_subject(
        {
            "id": payment.processor_payment_id,
            "type": "sale",
            "status": "settled",
            "amount": SETTLEMENT_DECLINED_CENTS,
            "currency": "usd",
        }
    )
    assert settled.status == PaymentStatus.SUCCEEDED

    services.payment_apply_processor_state(payment=payment, charge=settled, actor=Actor.system("t"))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert payment.amount_captured == 0


def test_a_refund_is_refused_clearly_and_nothing_reaches_braintree(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = _captured_then_declined(bt_account, bt_control)
    post(
        client,
        notification(bt_control, DECLINED_KIND, payment.processor_payment_id),
        django_capture_on_commit_callbacks,
    )
    api = api_client_for(bt_account.merchant)

    with pytest.raises(PaymentStateError, match="declined to settle"):
        services.refund_create(payment=payment, actor=Actor.system("tests"))
    answer = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {}, format="json")

    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "payment_state_invalid"
    assert error["message"] == (
        "Braintree declined to settle this payment, so no money moved and there is nothing to "
        "refund."
    )
    assert not Refund.objects.filter(payment=payment).exists()
    assert sandbox_transaction(bt_control, payment.processor_payment_id)["refund_ids"] == []


def test_the_reconciler_fails_the_payment_when_the_webhook_never_came(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, amount=SETTLEMENT_DECLINED_CENTS)
    settle(bt_control, payment.processor_payment_id)  # no notification reaches us
    # The last run was after the sale's submission (Braintree declines days later), so the
    # search for changed statuses alone would not see it again.
    ProcessorCredential.objects.filter(account=bt_account).update(
        reconciled_through=timezone.now() + timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert braintree_transactions_reconcile() >= 1
    with django_capture_on_commit_callbacks(execute=True):
        braintree_transactions_reconcile()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert payment.failure_code == "settlement_declined"
    (change,) = _declined_changes(payment)
    assert change.actor_kind == "webhook"  # Braintree's fact, found by search
    assert InboundEvent.objects.filter(
        event_id=f"btr_{payment.processor_payment_id}_settlement_declined",
        status=InboundEventStatus.SUCCEEDED,
    ).exists()
    assert _day_total_gross(payment) == 0


def test_the_api_and_the_payment_page_say_it_failed_and_what_to_do(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = _captured_then_declined(bt_account, bt_control)
    post(
        client,
        notification(bt_control, DECLINED_KIND, payment.processor_payment_id),
        django_capture_on_commit_callbacks,
    )
    merchant = bt_account.merchant
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)

    body = api_client_for(merchant).get(f"/api/v1/payments/{payment.public_id}").json()
    page = owner.get(reverse("payment-detail", args=[payment.public_id]))

    assert body["status"] == "requires_payment_method"
    assert body["failure_code"] == "settlement_declined"
    assert body["amount_captured"] == 0
    assert "Do not ship" in body["failure_message"]
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="settlement-declined"' in text
    assert "the money did not arrive" in text
    assert "Do not ship" in text
    assert "Failed" in text
    assert reverse("payment-refund", args=[payment.public_id]) not in text
    assert reverse("payment-cancel", args=[payment.public_id]) not in text
    with pytest.raises(PaymentStateError, match="nothing to cancel"):
        services.payment_cancel(payment=payment, actor=Actor.system("tests"))


def test_a_decline_for_a_payment_not_succeeded_changes_nothing(
    bt_account: ProcessorAccount,
    django_capture_on_commit_callbacks: Any,
) -> None:
    authorised = pay(bt_account, capture=False)
    subject = {
        "id": authorised.processor_payment_id,
        "type": "sale",
        "status": "settlement_declined",
        "amount": authorised.amount,
        "currency": "usd",
        "order_id": authorised.public_id,
    }

    with django_capture_on_commit_callbacks(execute=True):
        _ingest("forged_1", subject)

    authorised.refresh_from_db()
    assert authorised.status == PaymentStatus.REQUIRES_CAPTURE
    assert authorised.failure_code == ""
    assert not _declined_changes(authorised).exists()
    event = InboundEvent.objects.get(event_id="forged_1")
    assert event.status == InboundEventStatus.IGNORED


def _ingest(event_id: str, subject: Any, account: str = "ledgerline_sandbox_merchant") -> None:
    inbound_event_ingest(
        provider=EventProvider.BRAINTREE,
        event_id=event_id,
        event_type=DECLINED_KIND,
        account=account,
        payload={"kind": DECLINED_KIND, "transaction": subject},
    )


@pytest.mark.parametrize(
    "subject",
    [
        None,
        "settlement_declined",
        {"id": 12, "type": "sale", "status": "settlement_declined"},
        {"id": "", "type": "sale", "status": "settlement_declined"},
        {"id": "nope", "type": "sale", "status": "settlement_declined", "order_id": "pay_x"},
        {"id": "{charge}", "type": "credit", "status": "settlement_declined"},
        {"id": "{charge}", "type": ["sale"], "status": "settlement_declined"},
        {"id": "{charge}", "type": "sale", "status": ["settlement_declined"]},
        {"id": "{charge}", "type": "sale", "status": "settlement_declined", "amount": "4001.00"},
        {"id": "other", "type": "sale", "status": "settlement_declined", "order_id": "{public}"},
    ],
)
def test_hostile_or_malformed_subjects_never_fail_a_payment_or_raise(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    django_capture_on_commit_callbacks: Any,
    subject: Any,
) -> None:
    payment = pay(bt_account, amount=SETTLEMENT_DECLINED_CENTS)
    if isinstance(subject, dict):
        subject = {
            key: value.format(charge=payment.processor_payment_id, public=payment.public_id)
            if isinstance(value, str)
            else value
            for key, value in subject.items()
        }
    amount_typed = isinstance(subject, dict) and subject.get("amount") == "4001.00"

    with django_capture_on_commit_callbacks(execute=True):
        _ingest("hostile_1", subject)

    payment.refresh_from_db()
    if amount_typed:
        # The right sale with a malformed amount: the fact stands, the amount is not used.
        assert payment.failure_code == "settlement_declined"
        assert payment.amount_captured == 0
    else:
        assert payment.status == PaymentStatus.SUCCEEDED
        assert payment.amount_captured == SETTLEMENT_DECLINED_CENTS
        assert not _declined_changes(payment).exists()
    event = InboundEvent.objects.get(event_id="hostile_1")
    expected = InboundEventStatus.SUCCEEDED if amount_typed else InboundEventStatus.IGNORED
    assert event.status == expected


def test_another_merchants_account_cannot_fail_this_merchants_payment(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, amount=SETTLEMENT_DECLINED_CENTS)
    subject = {
        "id": payment.processor_payment_id,
        "type": "sale",
        "status": "settlement_declined",
        "order_id": payment.public_id,
    }

    with django_capture_on_commit_callbacks(execute=True):
        _ingest("elsewhere_1", subject, account="someone_elses_braintree_account")

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert not _declined_changes(payment).exists()
    event = InboundEvent.objects.get(event_id="elsewhere_1")
    assert event.merchant_id is None
    assert event.status == InboundEventStatus.IGNORED
