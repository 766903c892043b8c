"""Reports (payments/reports.py) read through the reports database alias.

Without a replica (`REPORTS_DATABASE_URL` unset) that alias is `default`; with one, every
query of the home page's summary and of the CSV export runs on the replica's connection and
gives the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from config.db_routers import REPORTS_ALIAS
from payments import reports, selectors
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
    summary = reports.payment_volume_summary(merchant=merchant, days=7, now=NOW)
    lines = list(reports.payment_csv_lines(merchant=merchant, filters=selectors.PaymentFilters()))
    return summary, lines


@pytest.mark.django_db
def test_without_a_replica_reports_read_the_default_database(settings):
    assert settings.REPORTS_DB_ALIAS == DEFAULT_DB_ALIAS
    merchant = _history()
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_default:
        summary, lines = _reports(merchant)
    assert on_default.captured_queries
    assert summary.primary.total == 2500
    assert summary.primary.refunded == 500
    assert [volume.currency for volume in summary.others] == ["eur"]
    assert len(lines) == 3  # the header and two payments


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
    assert len(on_replica.captured_queries) >= 3  # daily volume, refunds, outcomes, export
    assert answer == expected
