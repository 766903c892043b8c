"""The overview page `/`: the available balance and the next payout at the top, the chosen
period's figures against the previous period, the volume chart, recent activity and the state
of the merchant's processor account.

Everything it shows is read through `payments.reports` (the reports database alias) and kept
for a minute; the page says so.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import Merchant
from config.permissions import Permission, require_permission
from payments import reports, selectors
from payments.charts import volume_chart
from payments.forms import OverviewPeriodForm
from payments.money import format_amount
from payments.overview import PERIODS, Activity, Metric
from payments.views import _can, _merchant


def _change(metric: Metric) -> dict[str, str]:
    """A metric's change against the previous period, as shown: text and direction."""
    change = metric.change
    if change is None:
        return {"text": "new" if metric.current else "no change", "direction": "flat"}
    if change == 0:
        return {"text": "0.0%", "direction": "flat"}
    sign = "+" if change > 0 else "-"
    return {"text": f"{sign}{abs(change)}%", "direction": "up" if change > 0 else "down"}


def _metric_value(metric: Metric, value: int, currency: str) -> str:
    return format_amount(value, currency) if metric.money else f"{value:,}"


def _activity_url(item: Activity) -> str:
    if item.kind == "payment":
        return reverse("payment-detail", args=[item.public_id])
    if item.kind == "dispute":
        return reverse("dispute-detail", args=[item.public_id])
    if item.kind == "customer":
        return reverse("customer-detail", args=[item.public_id])
    return ""


def _money(merchant: Merchant) -> dict[str, Any]:
    """The available balance per currency and the next payout, read on the reports alias."""
    using = reports.reports_db()
    balances = selectors.balance_summary(merchant=merchant, using=using)
    payout = selectors.payout_next(merchant=merchant, using=using)
    return {
        "balances": [
            {
                "currency": balance.currency,
                "available": format_amount(balance.available, balance.currency),
                "pending": format_amount(balance.pending, balance.currency),
            }
            for balance in balances
        ],
        "next_payout": {
            "payout": payout,
            "amount": format_amount(payout.amount, payout.currency),
            "url": reverse("payout-detail", args=[payout.public_id]),
        }
        if payout is not None
        else None,
    }


@require_GET
@require_permission(Permission.VIEW_DASHBOARD)
def home(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    form = OverviewPeriodForm(request.GET or None)
    period = form.period_at(timezone.now())
    figures = reports.overview_cached(merchant=merchant, period=period)
    currency = figures.currency
    chart_title = f"Gross volume per {'hour' if period.hourly else 'day'} in {currency.upper()}"
    can_view_payments = _can(request, Permission.VIEW_PAYMENTS)
    context = {
        "nav": "home",
        "form": form,
        "period": period,
        "periods": [
            {"key": key, "label": label, "current": key == period.key}
            for key, label in PERIODS.items()
            if key != "custom"
        ],
        "currency": currency,
        "metrics": [
            {
                "metric": metric,
                "value": _metric_value(metric, metric.current, currency),
                "previous": _metric_value(metric, metric.previous, currency),
                "change": _change(metric),
            }
            for metric in figures.metrics
        ],
        "chart": volume_chart(figures.series, currency, hourly=period.hourly, title=chart_title),
        "chart_title": chart_title,
        "other_currencies": [
            format_amount(amount, code) for code, amount in figures.other_currencies.items()
        ],
        "activity": [
            {
                "item": item,
                "url": _activity_url(item) if can_view_payments else "",
                "amount": format_amount(item.amount, item.currency)
                if item.amount is not None
                else "",
            }
            for item in (
                reports.recent_activity_cached(merchant=merchant) if can_view_payments else []
            )
        ],
        "money": _money(merchant),
        "account": selectors.processor_account_get(merchant=merchant),
        "can_onboard": _can(request, Permission.MANAGE_PAYMENTS),
        "can_view_payments": can_view_payments,
    }
    return render(request, "payments/home.html", context, status=400 if form.errors else 200)
