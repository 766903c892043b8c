"""The balance pages: `/balance/` (balance, payouts, schedule), a payout's detail and its CSV.

Reads go through `settings.REPORTS_DB_ALIAS` (selectors with `using=`, and
`payments.payout_reports`); the payout schedule is read from and changed at the processor
through the gateway (`payments.services.payouts`), changed only by owners and admins under a
fresh step-up, audited. Another merchant's payout is a 404; bad query input never a 500.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import step_up_required
from accounts.models import Merchant
from accounts.roles import role_allows
from api.exceptions import InvalidRequestError
from api.pagination import CursorPage, keyset_window
from compliance.actors import Actor
from config.exceptions import ApplicationError
from config.free_text import GuardedForm
from config.permissions import Permission, require_permission
from payments import payout_reports, selectors
from payments.balance_selectors import (
    balance_by_processor,
    processors_without_payout_api,
    reports_balance,
)
from payments.exceptions import ProcessorOutcomeUnknownError
from payments.gateways.base import PayoutSchedule
from payments.models import Payout, PayoutStatus, Processor
from payments.money import format_amount
from payments.payout_request_views import payout_request_context
from payments.selectors import CurrencyBalance
from payments.services.payouts import (
    money_out_account,
    payout_schedule_get,
    payout_schedule_set,
)
from payments.services.platform_fees import platform_fee_terms

PAGE_SIZE = 25
ITEMS_PAGE_SIZE = 50
# What an item row shows: the transaction and its source's public id. Loading whole payments
# for it took about half of the items page's time (bench payouts).
ITEM_FIELDS = (
    "public_id",
    "type",
    "amount",
    "fee",
    "net",
    "processor_created_at",
    "processor_source_id",
    "payment__public_id",
    "refund__public_id",
    "dispute__public_id",
)
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_PUBLIC_ID_RE = re.compile(r"^po_[A-Za-z0-9]{1,28}$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _db() -> str:
    alias: str = settings.REPORTS_DB_ALIAS
    return alias


def _merchant(request: HttpRequest) -> Merchant:
    merchant: Merchant = request.merchant  # type: ignore[attr-defined]
    return merchant


class PayoutScheduleForm(GuardedForm):
    interval = forms.ChoiceField(
        choices=[
            ("daily", "Daily"),
            ("weekly", "Weekly"),
            ("monthly", "Monthly"),
            ("manual", "Manual (no automatic payouts)"),
        ]
    )
    delay_days = forms.IntegerField(
        min_value=2,
        max_value=365,
        required=False,
        help_text="Days a payment waits before it can be paid out (at least 2).",
    )
    weekly_anchor = forms.ChoiceField(
        choices=[("", "—")] + [(day, day.title()) for day in WEEKDAYS], required=False
    )
    monthly_anchor = forms.IntegerField(min_value=1, max_value=31, required=False)

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        interval = data.get("interval")
        if interval == "weekly" and not data.get("weekly_anchor"):
            self.add_error("weekly_anchor", "Choose the weekday payouts are made on.")
        if interval == "monthly" and not data.get("monthly_anchor"):
            self.add_error("monthly_anchor", "Choose the day of the month payouts are made on.")
        if interval != "manual" and data.get("delay_days") is None:
            self.add_error("delay_days", "Enter the delay in days.")
        return data

    def schedule(self) -> PayoutSchedule:
        data = self.cleaned_data
        return PayoutSchedule(
            interval=data["interval"],
            delay_days=data.get("delay_days") or 0,
            weekly_anchor=data.get("weekly_anchor") or "",
            monthly_anchor=data.get("monthly_anchor"),
        )


def _schedule_text(schedule: PayoutSchedule) -> str:
    if schedule.interval == "manual":
        return "Manual: nothing is paid out automatically."
    when = {
        "daily": "every day",
        "weekly": f"every {schedule.weekly_anchor.title() or 'week'}",
        "monthly": f"on day {schedule.monthly_anchor} of each month",
    }.get(schedule.interval, schedule.interval)
    return f"Automatic, {when}, for payments at least {schedule.delay_days} days old."


# The status badge's colours are named after payment statuses: paid is a success, a payout
# on its way is waiting.
_BADGE = {PayoutStatus.PAID: "succeeded", PayoutStatus.IN_TRANSIT: "pending"}


def _payout_row(payout: Payout) -> dict[str, Any]:
    return {
        "payout": payout,
        "badge": _BADGE.get(PayoutStatus(payout.status), payout.status),
        "amount": format_amount(payout.amount, payout.currency),
        "arrival": timezone.localtime(payout.arrival_date).strftime("%Y-%m-%d"),
        "advice": payout_reports.failure_advice(payout.failure_code)
        if payout.status == PayoutStatus.FAILED
        else "",
    }


def _cursor(request: HttpRequest, name: str) -> str | None:
    value = request.GET.get(name, "")
    return value if _CURSOR_RE.match(value) else None


def _window(request: HttpRequest, queryset: Any, *, limit: int) -> CursorPage[Any]:
    after = _cursor(request, "starting_after")
    before = None if after else _cursor(request, "ending_before")
    try:
        return keyset_window(
            queryset,
            limit=limit,
            starting_after=after,
            ending_before=before,
            order_field="processor_created_at",
        )
    except InvalidRequestError:
        messages.warning(request, "That page is no longer available; showing the newest items.")
        return keyset_window(queryset, limit=limit, order_field="processor_created_at")


def _links(page: CursorPage[Any]) -> dict[str, str]:
    links: dict[str, str] = {}
    if page.items and page.has_next:
        links["next"] = f"starting_after={page.items[-1].public_id}"
    if page.items and page.has_previous:
        links["previous"] = f"ending_before={page.items[0].public_id}"
    return links


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def balance(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    db = _db()
    now = timezone.now()
    balances = [
        {
            "currency": b.currency,
            "available": format_amount(b.available, b.currency),
            "pending": format_amount(b.pending, b.currency),
        }
        for b in selectors.balance_summary(merchant=merchant, using=db, now=now)
    ]
    shares = balance_by_processor(merchant=merchant, using=db, now=now)
    labels = dict(Processor.choices)
    by_processor = [
        {
            "processor": labels.get(share.processor, share.processor),
            "currency": share.currency,
            "available": format_amount(share.available, share.currency),
            "pending": format_amount(share.pending, share.currency),
        }
        for share in shares
    ]
    # Schedules that are the processor's own (Braintree's is set with Braintree, not by API).
    fixed_schedules = [
        str(labels.get(p, p)) for p in processors_without_payout_api(merchant=merchant, using=db)
    ]
    payouts = selectors.payout_queryset(merchant=merchant, using=db)
    upcoming = payouts.filter(status__in=(PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT)).order_by(
        "arrival_date", "pk"
    )[:PAGE_SIZE]
    past = _window(
        request,
        payouts.filter(status__in=(PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED)),
        limit=PAGE_SIZE,
    )
    schedule_account = money_out_account(merchant)
    can_manage = role_allows(request.membership.role, Permission.MANAGE_PAYOUTS)  # type: ignore[attr-defined]
    schedule_error = ""
    schedule: PayoutSchedule | None = None
    try:
        schedule = payout_schedule_get(merchant=merchant)
    except ApplicationError:
        schedule_error = "The payout schedule cannot be read from the processor right now."
    form = None
    if can_manage and schedule is not None:
        form = PayoutScheduleForm(
            initial={
                "interval": schedule.interval,
                "delay_days": schedule.delay_days or None,
                "weekly_anchor": schedule.weekly_anchor,
                "monthly_anchor": schedule.monthly_anchor,
            }
        )
    context = {
        "nav": "balance",
        "balances": balances,
        # Each processor's share, shown when the merchant's money sits with more than one.
        "by_processor": by_processor if len({share.processor for share in shares}) > 1 else [],
        "fixed_schedules": fixed_schedules,
        # Whose schedule the form shows, named when another processor's is not settable here.
        "schedule_processor": str(
            labels.get(schedule_account.processor, schedule_account.processor)
        )
        if fixed_schedules and schedule_account is not None
        else "",
        "upcoming": [_payout_row(p) for p in upcoming],
        "past": [_payout_row(p) for p in past.items],
        "links": _links(past),
        "schedule": schedule,
        "schedule_text": _schedule_text(schedule) if schedule is not None else "",
        "schedule_error": schedule_error,
        "schedule_form": form,
        "platform_fee": platform_fee_terms(merchant),
        **payout_request_context(
            request,
            merchant=merchant,
            schedule=schedule,
            # Only the schedule's processor can be asked to pay out: its own share.
            balances=sorted(
                (
                    CurrencyBalance(currency=b.currency, available=b.available, pending=b.pending)
                    for b in shares
                    if schedule_account is not None and b.processor == schedule_account.processor
                ),
                key=lambda b: (b.currency != merchant.default_currency, b.currency),
            ),
            can_manage=can_manage,
        ),
    }
    return render(request, "payments/balance.html", context)


@require_POST
@require_permission(Permission.MANAGE_PAYOUTS)
@step_up_required
def payout_schedule_update(request: HttpRequest) -> HttpResponse:
    form = PayoutScheduleForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(message) for field in form.errors.values() for message in field)
        messages.error(request, f"The payout schedule was not changed: {errors}")
        return redirect("balance")
    try:
        payout_schedule_set(
            merchant=_merchant(request),
            schedule=form.schedule(),
            actor=Actor.for_user(request.user),
            # Setting a schedule twice leaves the same schedule: a fresh key per submission.
            key=f"payout-schedule-{uuid.uuid4()}",
            request=request,
        )
    except ProcessorOutcomeUnknownError:
        # The processor may have applied it: saying "not changed" could be false. Saving the
        # same schedule again is harmless (it sets values), and then it is audited.
        messages.warning(
            request,
            "The payment processor did not answer in time, so the payout schedule may or may "
            "not have changed. The page shows the schedule the processor holds; save again if "
            "it is not the one you chose.",
        )
        return redirect("balance")
    except ApplicationError as error:
        messages.error(request, f"The payout schedule was not changed: {error.message}")
        return redirect("balance")
    messages.success(request, "Payout schedule changed.")
    return redirect("balance")


def _payout_or_404(request: HttpRequest, public_id: str) -> Payout:
    if not _PUBLIC_ID_RE.match(public_id):
        raise Http404("No such payout.")
    try:
        return selectors.payout_get(merchant=_merchant(request), public_id=public_id, using=_db())
    except ApplicationError as exc:
        raise Http404("No such payout.") from exc


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def payout_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    payout = _payout_or_404(request, public_id)
    currency = payout.currency
    contents = payout_reports.payout_contents_cached(payout)
    page = _window(
        request,
        payout_reports.payout_items(payout)
        .select_related("payment", "refund", "dispute")
        .only(*ITEM_FIELDS),
        limit=ITEMS_PAGE_SIZE,
    )
    items = []
    for txn in page.items:
        source = txn.refund or txn.dispute or txn.payment
        items.append(
            {
                "txn": txn,
                "label": txn.get_type_display(),
                "source": source.public_id if source is not None else txn.processor_source_id,
                "payment": txn.payment.public_id if txn.payment is not None else "",
                "amount": format_amount(txn.amount, currency),
                "fee": format_amount(txn.fee, currency),
                "net": format_amount(txn.net, currency),
            }
        )
    context = {
        "nav": "balance",
        "row": _payout_row(payout),
        "payout": payout,
        "contents": {
            "lines": [
                {
                    "label": line.label,
                    "count": line.count,
                    "amount": format_amount(line.amount, currency),
                    "fee": format_amount(line.fee, currency),
                    "net": format_amount(line.net, currency),
                }
                for line in contents.lines
            ],
            "count": contents.count,
            "amount": format_amount(contents.amount, currency),
            "fee": format_amount(contents.fee, currency),
            "net": format_amount(contents.net, currency),
            "balances": contents.balances(payout),
        },
        "items": items,
        # Braintree nets or invoices its fees without itemizing them per transaction.
        "fees_itemized": reports_balance(payout.processor),
        "links": _links(page),
        "can_export": role_allows(request.membership.role, Permission.EXPORT_PAYMENTS),  # type: ignore[attr-defined]
    }
    return render(request, "payments/payout_detail.html", context)


@require_GET
@require_permission(Permission.EXPORT_PAYMENTS)
def payout_export(request: HttpRequest, public_id: str) -> StreamingHttpResponse:
    payout = _payout_or_404(request, public_id)
    response = StreamingHttpResponse(
        payout_reports.payout_csv_lines(payout), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="payout-{payout.public_id}.csv"'
    return response
