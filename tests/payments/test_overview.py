"""The overview page: periods and their comparison on a frozen clock, the figures, the chart's
axes and accessible text, recent activity, and who sees what."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from payments.charts import axis_amount, nice_ceiling, volume_chart
from payments.models import Dispute, DisputeStatus, Refund, RefundStatus
from payments.overview import PeriodError, SeriesPoint, change_percent, period_for
from payments.state import PaymentStatus
from tests.factories import member, verified_client
from tests.payments.factories import CustomerFactory, PaymentFactory

NOW = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- period maths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "start", "previous_start", "previous_end"),
    [
        ("today", _utc(2026, 3, 31), _utc(2026, 3, 30), _utc(2026, 3, 30, 15, 30)),
        ("7d", _utc(2026, 3, 25), _utc(2026, 3, 18), _utc(2026, 3, 24, 15, 30)),
        ("4w", _utc(2026, 3, 4), _utc(2026, 2, 4), _utc(2026, 3, 3, 15, 30)),
        # February has 28 days: the 31st of March compares with up to the 28th of February.
        ("mtd", _utc(2026, 3, 1), _utc(2026, 2, 1), _utc(2026, 2, 28, 15, 30)),
    ],
)
def test_each_preset_ends_now_and_compares_with_the_same_span_before(
    key, start, previous_start, previous_end
):
    period = period_for(key, now=NOW)
    assert (period.start, period.end) == (start, NOW)
    assert (period.previous_start, period.previous_end) == (previous_start, previous_end)
    assert period.hourly == (key == "today")


def test_month_to_date_in_january_compares_with_december_of_the_year_before():
    period = period_for("mtd", now=_utc(2026, 1, 15, 9))
    assert (period.previous_start, period.previous_end) == (
        _utc(2025, 12, 1),
        _utc(2025, 12, 15, 9),
    )


def test_a_custom_range_is_whole_days_against_as_many_days_before():
    period = period_for("custom", now=NOW, start_day=date(2026, 3, 1), end_day=date(2026, 3, 10))
    assert (period.start, period.end) == (_utc(2026, 3, 1), _utc(2026, 3, 11))
    assert (period.previous_start, period.previous_end) == (_utc(2026, 2, 19), _utc(2026, 3, 1))
    assert period.label == "2026-03-01 to 2026-03-10"
    assert period.compare_label == "2026-02-19 to 2026-02-28"
    # A range ending today ends now, not at midnight.
    assert period_for("custom", now=NOW, start_day=NOW.date(), end_day=NOW.date()).end == NOW


@pytest.mark.parametrize(
    ("start_day", "end_day", "message"),
    [
        (date(2026, 3, 10), date(2026, 3, 1), "must not be after"),
        (date(2026, 3, 1), date(2026, 4, 1), "between 2000-01-01 and today"),
        (date(1999, 12, 31), date(2000, 1, 2), "between 2000-01-01 and today"),
        (date(2024, 1, 1), date(2026, 3, 1), "at most 366 days"),
        (None, date(2026, 3, 1), "both"),
    ],
)
def test_a_custom_range_that_cannot_be_shown_says_why(start_day, end_day, message):
    with pytest.raises(PeriodError, match=message):
        period_for("custom", now=NOW, start_day=start_day, end_day=end_day)


@pytest.mark.parametrize(
    ("current", "previous", "change"),
    [
        (150, 100, Decimal("50.0")),
        (50, 100, Decimal("-50.0")),
        (100, 100, Decimal("0.0")),
        (1, 3, Decimal("-66.7")),
        (2, 3, Decimal("-33.3")),
        (5, 0, None),
        (0, 0, None),
        (-50, -100, Decimal("50.0")),
    ],
)
def test_change_is_a_percentage_of_the_previous_period(current, previous, change):
    assert change_percent(current, previous) == change


# --- the chart ------------------------------------------------------------------------------


def test_the_value_axis_rounds_up_to_1_2_2_5_or_5_steps():
    assert [nice_ceiling(peak) for peak in (0, 1, 399, 401, 999, 1001, 12_345)] == [
        400,
        4,
        400,
        800,
        1000,
        2000,
        20_000,
    ]
    assert axis_amount(120_000, "gbp") == "£1,200"
    assert axis_amount(1250, "gbp") == "£12.50"
    assert axis_amount(500, "jpy") == "¥500"


def test_bars_ticks_and_labels_fit_the_plot():
    series = [
        SeriesPoint(at=_utc(2026, 3, 1) + timedelta(days=n), amount=n * 1000) for n in range(7)
    ]
    chart = volume_chart(series, "gbp", hourly=False, title="Gross volume per day in GBP")
    assert [tick.label for tick in chart.ticks] == ["£0", "£20", "£40", "£60", "£80"]
    assert chart.ticks[0].y == chart.baseline
    assert all(chart.left <= bar.x and bar.x + bar.width <= chart.right for bar in chart.bars)
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    assert chart.bars[6].height * 8000 // 6000 == chart.baseline - chart.ticks[-1].y
    assert [label.label for label in chart.x_labels] == ["Mar 1", "Mar 3", "Mar 5", "Mar 7"]
    assert chart.description == (
        "Gross volume per day in GBP: £210.00 in total; the busiest day was 2026-03-07: £60.00."
    )


# --- the page -------------------------------------------------------------------------------


@pytest.fixture
def owner(merchant) -> Client:
    cache.clear()
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


def _history(merchant):
    """This week and the week before (7-day period at NOW), in GBP and one EUR payment."""
    this_week = NOW - timedelta(days=1)
    last_week = NOW - timedelta(days=8)
    paid = PaymentFactory(merchant=merchant, amount=6000, created_at=this_week)
    PaymentFactory(merchant=merchant, amount=4000, created_at=this_week)
    PaymentFactory(merchant=merchant, amount=5000, created_at=last_week)
    PaymentFactory(merchant=merchant, amount=900, currency="eur", created_at=this_week)
    PaymentFactory(
        merchant=merchant,
        status=PaymentStatus.REQUIRES_PAYMENT_METHOD,
        failure_code="card_declined",
        created_at=this_week,
    )
    refund = Refund.objects.create(
        merchant=merchant, payment=paid, amount=1000, currency="gbp", status=RefundStatus.SUCCEEDED
    )
    dispute = Dispute.objects.create(
        merchant=merchant,
        payment=paid,
        amount=2000,
        currency="gbp",
        status=DisputeStatus.NEEDS_RESPONSE,
        processor_dispute_id="du_overview",
    )
    customer = CustomerFactory(merchant=merchant)
    Refund.objects.filter(pk=refund.pk).update(created_at=this_week)
    Dispute.objects.filter(pk=dispute.pk).update(created_at=this_week)
    type(customer).objects.filter(pk=customer.pk).update(created_at=this_week)


@pytest.mark.django_db
def test_the_overview_compares_the_figures_with_the_previous_period(merchant, owner):
    _history(merchant)
    with time_machine.travel(NOW, tick=False):
        response = owner.get(reverse("home"), {"period": "7d"})
    assert response.status_code == 200
    shown = {
        item["metric"].key: (item["value"], item["previous"], item["change"]["text"])
        for item in response.context["metrics"]
    }
    assert shown == {
        "gross": ("£100.00", "£50.00", "+100.0%"),
        "net": ("£70.00", "£50.00", "+40.0%"),  # 100 - 10 refunded - 20 disputed
        "payments": ("2", "1", "+100.0%"),
        "customers": ("1", "0", "new"),
        "refunds": ("£10.00", "£0.00", "new"),
        "disputes": ("1", "0", "new"),
    }
    body = response.content.decode()
    assert "In other currencies (not included above): gross €9.00." in body
    assert "compared with 2026-03-18 to 2026-03-24" in body
    assert 'aria-current="page"' in body
    assert ">Last 7 days<" in body


@pytest.mark.django_db
def test_the_chart_is_server_rendered_svg_with_axes_and_text_alternatives(merchant, owner):
    _history(merchant)
    with time_machine.travel(NOW, tick=False):
        body = owner.get(reverse("home"), {"period": "today"}).content.decode()
    assert body.count("<svg") == 1
    # Today is drawn per hour up to now: 16 bars from 00:00 to 15:00.
    assert len(re.findall(r'<rect x="\d+" y="\d+" width="\d+" height="\d+"', body)) == 16
    assert '<desc id="chart-desc">Gross volume per hour in GBP: £0.00 in total' in body
    assert 'text-anchor="end">£0</text>' in body  # the value axis
    assert ">00:00</text>" in body
    assert ">15:00</text>" in body
    assert "style=" not in body
    assert "<style" not in body
    assert "cdn" not in body.lower()
    for tag in re.findall(r"<script[^>]*>", body):
        assert 'src="/static/' in tag


@pytest.mark.django_db
def test_a_custom_period_and_a_bad_one(merchant, owner):
    _history(merchant)
    with time_machine.travel(NOW, tick=False):
        custom = owner.get(
            reverse("home"), {"period": "custom", "start": "2026-03-22", "end": "2026-03-23"}
        )
        bad = owner.get(
            reverse("home"), {"period": "custom", "start": "2026-03-23", "end": "2026-03-01"}
        )
        garbage = owner.get(reverse("home"), {"period": "<script>", "start": "x"})
    assert custom.status_code == 200
    assert custom.context["period"].label == "2026-03-22 to 2026-03-23"
    assert custom.context["metrics"][0]["value"] == "£50.00"  # the week-before payment
    assert bad.status_code == 400
    assert "The first day must not be after the last day." in bad.content.decode()
    assert bad.context["period"].key == "7d"
    assert garbage.status_code == 400
    assert "<script>" not in garbage.content.decode().split("<main", 1)[1].split("</main>")[0]


@pytest.mark.django_db
def test_recent_activity_lists_the_newest_events_with_links(merchant, owner):
    _history(merchant)
    with time_machine.travel(NOW, tick=False):
        body = owner.get(reverse("home")).content.decode()
    assert "Recent activity" in body
    assert reverse("dispute-detail", args=[Dispute.objects.get().public_id]) in body
    assert "New customer" in body
    assert "Refund" in body


@pytest.mark.django_db
def test_without_payments_the_page_says_nothing_happened_yet(owner):
    body = owner.get(reverse("home")).content.decode()
    assert "Nothing yet: payments, refunds, disputes and new customers appear here." in body
    assert "no volume in any day" in body


@pytest.mark.django_db
def test_the_available_balance_and_the_next_payout_are_at_the_top(merchant, owner):
    from payments.models import BalanceTransaction, Payout, PayoutStatus

    BalanceTransaction.objects.create(
        merchant=merchant,
        processor_transaction_id="txn_available",
        type="charge",
        amount=10_000,
        fee=320,
        net=9_680,
        currency="gbp",
        available_on=NOW - timedelta(days=1),
        processor_created_at=NOW - timedelta(days=3),
    )
    BalanceTransaction.objects.create(
        merchant=merchant,
        processor_transaction_id="txn_pending",
        type="charge",
        amount=2_000,
        fee=100,
        net=1_900,
        currency="gbp",
        available_on=NOW + timedelta(days=2),
        processor_created_at=NOW,
    )
    payout = Payout.objects.create(
        merchant=merchant,
        processor_payout_id="po_next",
        amount=5_000,
        currency="gbp",
        status=PayoutStatus.IN_TRANSIT,
        arrival_date=_utc(2026, 4, 2),
        processor_created_at=NOW,
    )
    with time_machine.travel(NOW, tick=False):
        body = owner.get(reverse("home")).content.decode()
    top = body.split('id="money-heading"', 1)[1].split("</section>", 1)[0]
    assert "£96.80" in top
    assert "£19.00 pending" in top
    assert "£50.00</strong></a> arriving 2026-04-02" in top
    assert reverse("payout-detail", args=[payout.public_id]) in top


@pytest.mark.django_db
def test_net_volume_subtracts_the_fees_the_processor_reported(merchant, owner):
    PaymentFactory(merchant=merchant, amount=10_000, net=9_680, created_at=NOW - timedelta(hours=2))
    PaymentFactory(merchant=merchant, amount=5_000, created_at=NOW - timedelta(hours=1))
    with time_machine.travel(NOW, tick=False):
        response = owner.get(reverse("home"), {"period": "today"})
    values = {item["metric"].key: item["value"] for item in response.context["metrics"]}
    assert (values["gross"], values["net"]) == ("£150.00", "£146.80")
