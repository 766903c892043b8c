"""Dashboard forms for payments: list filters, capture / refund amounts, payment links.

Amounts are typed in major units and parsed exactly with `payments.money` (never floats); each
form turns its input into the plain values the selectors and services take.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from django import forms

from config.dates import utc_day_range
from config.free_text import GuardedForm
from payments import overview
from payments.money import MoneyError, normalize_currency, parse_major
from payments.selectors import PaymentFilters
from payments.state import FAILED, FAILED_LABEL, PaymentStatus

_LAST4_RE = re.compile(r"^\d{4}$")
# Public payment ids and Stripe PaymentIntent ids: a prefix and url-safe characters.
_SEARCH_RE = re.compile(r"^(pay|pi)_[A-Za-z0-9_]{1,60}$")


def _minor(value: str, currency: str) -> int:
    try:
        return parse_major(value, currency)
    except MoneyError as exc:
        raise forms.ValidationError(str(exc)) from exc


class PaymentFilterForm(GuardedForm):
    """GET filters of the payments list and its CSV export; every field is optional."""

    q = forms.CharField(
        label="Payment or PaymentIntent id",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "pay_… or pi_…"}),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Any status"),
            (FAILED, f"{FAILED_LABEL} (declined)"),
            *PaymentStatus.choices,
        ],
    )
    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    amount_min = forms.CharField(label="Amount from", required=False, max_length=20)
    amount_max = forms.CharField(label="Amount to", required=False, max_length=20)
    currency = forms.CharField(
        label="Currency",
        required=False,
        max_length=3,
        help_text="The currency of the amount bounds; the merchant's own when empty.",
    )
    email = forms.EmailField(label="Customer email", required=False, max_length=254)
    last4 = forms.CharField(label="Card last 4", required=False, max_length=4)

    def __init__(self, *args: Any, default_currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_currency = default_currency

    def clean_q(self) -> str:
        value: str = self.cleaned_data["q"].strip()
        if value and not _SEARCH_RE.match(value):
            raise forms.ValidationError(
                "Search by a payment id (pay_…) or a PaymentIntent id (pi_…)."
            )
        return value

    def clean_last4(self) -> str:
        value: str = self.cleaned_data["last4"].strip()
        if value and not _LAST4_RE.match(value):
            raise forms.ValidationError("Enter the last four digits of the card.")
        return value

    def clean_currency(self) -> str:
        value: str = self.cleaned_data["currency"].strip()
        if not value:
            return ""
        try:
            return normalize_currency(value)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date must not be before the start date.")
        currency = data.get("currency") or self.default_currency
        bounds: dict[str, int | None] = {"amount_min": None, "amount_max": None}
        for name in bounds:
            text = (data.get(name) or "").strip()
            if text:
                try:
                    bounds[name] = _minor(text, currency)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        low, high = bounds["amount_min"], bounds["amount_max"]
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "The upper amount must not be below the lower one.")
        data["amount_min_minor"], data["amount_max_minor"] = low, high
        data["amount_currency"] = currency if low is not None or high is not None else ""
        return data

    def filters(self) -> PaymentFilters:
        """The selector's filters; only call after `is_valid()`."""
        data = self.cleaned_data
        start: date | None = data.get("created_from")
        end: date | None = data.get("created_to")
        created_gte, created_lt = utc_day_range(start, end)
        return PaymentFilters(
            status=data.get("status") or None,
            customer_email=data.get("email") or None,
            card_last4=data.get("last4") or None,
            created_gte=created_gte,
            created_lt=created_lt,
            amount_gte=data.get("amount_min_minor"),
            amount_lte=data.get("amount_max_minor"),
            search=data.get("q") or None,
        )

    def amount_currency(self) -> str | None:
        """The currency the amount bounds are in, or None when no bound was given."""
        return self.cleaned_data.get("amount_currency") or None


class CaptureForm(GuardedForm):
    amount = forms.CharField(
        label="Amount to capture",
        required=False,
        max_length=20,
        help_text="Leave empty to capture the full authorised amount.",
    )

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> int | None:
        text: str = self.cleaned_data["amount"].strip()
        return _minor(text, self.currency) if text else None


class RefundForm(CaptureForm):
    amount = forms.CharField(
        label="Amount to refund",
        required=False,
        max_length=20,
        help_text="Leave empty to refund everything left to refund.",
    )
    reason = forms.ChoiceField(
        label="Reason",
        required=False,
        choices=[
            ("", "No reason given"),
            ("requested_by_customer", "Requested by customer"),
            ("duplicate", "Duplicate"),
            ("fraudulent", "Fraudulent"),
        ],
    )


class CustomerSearchForm(GuardedForm):
    email = forms.EmailField(label="Email", required=False, max_length=254)


class PaymentLinkForm(GuardedForm):
    amount = forms.CharField(label="Amount", max_length=20)
    currency = forms.CharField(label="Currency", max_length=3)
    description = forms.CharField(label="Description", max_length=500)
    reusable = forms.TypedChoiceField(
        label="Use",
        choices=[("false", "Single use: one payment"), ("true", "Reusable: many payments")],
        coerce=lambda value: value == "true",
        initial="false",
        widget=forms.RadioSelect,
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional; the link stops taking payments at this time.",
    )

    def clean_currency(self) -> str:
        try:
            return normalize_currency(self.cleaned_data["currency"])
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("currency") and data.get("amount"):
            try:
                data["amount_minor"] = _minor(data["amount"], data["currency"])
            except forms.ValidationError as exc:
                self.add_error("amount", exc)
        return data


class OverviewPeriodForm(GuardedForm):
    """The overview's period: a preset, or custom first and last days (UTC)."""

    period = forms.ChoiceField(
        label="Period", required=False, choices=list(overview.PERIODS.items())
    )
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def period_at(self, now: datetime) -> overview.Period:
        """The chosen period as of `now` (the default when nothing valid was chosen)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        key = data.get("period") or overview.DEFAULT_PERIOD
        try:
            return overview.period_for(
                key, now=now, start_day=data.get("start"), end_day=data.get("end")
            )
        except overview.PeriodError as error:
            self.add_error("start" if key == "custom" else "period", str(error))
            return overview.period_for(overview.DEFAULT_PERIOD, now=now)
