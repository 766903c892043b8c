"""Reports (payments/reports.py) read through the reports database alias.

Without a replica (`REPORTS_DATABASE_URL` unset) that alias is `default`; with one, every
query of the overview (figures, chart, recent activity), of the disputes list and of the CSV
export runs on the replica's connection and
gives the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from config.db_routers import REPORTS_ALIAS
from payments import overview, reports, selectors
from payments.models import Refund, RefundStatus
from tests.factories import MerchantFactory
from tests.payments.factories import CustomerFactory, PaymentFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _history():
    merchant = MerchantFactory()
    customer = CustomerFactory(merchant=merchant, email="ann@example.test")
    paid = PaymentFactory(merchant=merchant, amount=2500, customer=customer, created_at=NOW)
    PaymentFactory(merchant=merchant, amount=700, currency="eur", created_at=NOW)
    refund = Refund.objects.create(
        merchant=merchant, payment=paid, amount=500, currency="gbp", status=RefundStatus.SUCCEEDED
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=NOW)
    return merchant


def _reports(merchant):
    summary = overview.overview_build(
        merchant=merchant, period=overview.period_for("7d", now=NOW + timedelta(minutes=1))
    )
    lines = list(reports.payment_csv_lines(merchant=merchant, filters=selectors.PaymentFilters()))
    activity = overview.recent_activity(merchant=merchant)
    disputes = list(reports.dispute_report_queryset(merchant=merchant))
    return summary, lines, activity, disputes, reports.dispute_open_count(merchant=merchant)


@pytest.mark.django_db
def test_without_a_replica_reports_read_the_default_database(settings):
    assert settings.REPORTS_DB_ALIAS == DEFAULT_DB_ALIAS
    merchant = _history()
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_default:
        summary, lines, activity, _, _ = _reports(merchant)
    assert on_default.captured_queries
    assert summary.metric("gross").current == 2500
    assert summary.metric("refunds").current == 500
    assert summary.other_currencies == {"eur": 700}
    assert len(lines) == 3  # the header and two payments
    assert {item.kind for item in activity} == {"payment", "refund", "customer"}


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS_ALIAS])
def test_with_a_replica_every_report_query_runs_on_it_with_the_same_answer(settings):
    merchant = _history()
    expected = _reports(merchant)
    settings.REPORTS_DB_ALIAS = REPORTS_ALIAS
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_default,
        CaptureQueriesContext(connections[REPORTS_ALIAS]) as on_replica,
    ):
        answer = _reports(merchant)
    assert on_default.captured_queries == []
    # figures (4 tables), chart, other currencies, activity (4), disputes (2), export
    assert len(on_replica.captured_queries) >= 13
    assert answer == expected
