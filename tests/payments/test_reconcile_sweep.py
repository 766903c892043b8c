"""The stuck-payment sweep (beat): which payments it hands to reconciliation, and when.

Given a payment whose request stopped before the processor's answer was recorded (a crash, a
lost answer) and that still "requires confirmation", when the sweep runs 30 s later, then it is
reconciled (resent under its own key, which replays): with beat's 20 s sweep the dashboard
shows the processor's outcome within a minute. A payment legitimately processing (an ACH debit
takes days) is asked about only after 2 minutes without news, not on every sweep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments import tasks
from payments.models import Payment
from payments.state import PaymentStatus
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def _untouched_for(status: str, seconds: int) -> Payment:
    payment: Payment = PaymentFactory(status=status, amount_captured=0)
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )
    return payment


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(tasks, "payment_reconcile_enqueue", ids.append)
    return ids


def test_an_unconfirmed_payment_is_reconciled_after_30_seconds(enqueued):
    stopped = _untouched_for(PaymentStatus.REQUIRES_CONFIRMATION, 35)
    fresh = _untouched_for(PaymentStatus.REQUIRES_CONFIRMATION, 5)

    tasks.payments_reconcile_stuck()

    assert enqueued == [stopped.pk]
    assert fresh.pk not in enqueued


def test_a_processing_payment_waits_two_minutes_without_news(enqueued):
    recent = _untouched_for(PaymentStatus.PROCESSING, 60)
    quiet = _untouched_for(PaymentStatus.PROCESSING, 150)

    tasks.payments_reconcile_stuck()

    assert enqueued == [quiet.pk]
    assert recent.pk not in enqueued


def test_beat_sweeps_often_enough_to_converge_within_a_minute():
    sweep = settings.CELERY_BEAT_SCHEDULE["payments-reconcile-stuck"]["schedule"]
    assert tasks.UNCONFIRMED_AFTER.total_seconds() + sweep <= 60
