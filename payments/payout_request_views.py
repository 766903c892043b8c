"""`POST /balance/payouts/new/`: pay the available balance out now, on a manual schedule.

Owners and admins only (`manage_payouts`), under a fresh step-up, through a one-time form
token (`api.form_tokens`): a double click, a back-button repost or a press after a lost
answer never pays out twice (`payments.services.payout_requests`). The form is shown on
`/balance/` (`payout_request_context`) only when the schedule is manual and there is money
available.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import step_up_required
from accounts.models import Merchant
from api import form_tokens
from api.form_tokens import FormOutcome
from api.idempotency import idempotency_claim_target
from api.models import IdempotencyRecord
from compliance.actors import Actor
from config.exceptions import ApplicationError
from config.free_text import GuardedForm
from config.permissions import Permission, require_permission
from payments.exceptions import ProcessorOutcomeUnknownError, ProcessorUnavailableError
from payments.gateways.base import PayoutSchedule
from payments.money import MoneyError, format_amount, parse_major, to_major
from payments.selectors import CurrencyBalance
from payments.services.payout_requests import payout_request

ACTION = "payout_create"


class PayoutRequestForm(GuardedForm):
    amount = forms.CharField(
        label="Amount to pay out",
        max_length=20,
        help_text="At most the available balance in that currency.",
    )
    currency = forms.ChoiceField(label="Currency", choices=())

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = self.fields["currency"]
        assert isinstance(currency, forms.ChoiceField)  # noqa: S101 - declared just above
        currency.choices = [(code, code.upper()) for code in currencies]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("amount") and data.get("currency"):
            try:
                data["amount_minor"] = parse_major(data["amount"], data["currency"])
            except MoneyError as exc:
                self.add_error("amount", str(exc))
        return data


def payout_request_context(
    request: HttpRequest,
    *,
    merchant: Merchant,
    schedule: PayoutSchedule | None,
    balances: list[CurrencyBalance],
    can_manage: bool,
) -> dict[str, Any]:
    """The `/balance/` page's pay-out-now form, when the merchant may and can use it."""
    payable = [b for b in balances if b.available > 0]
    if not can_manage or schedule is None or schedule.interval != "manual" or not payable:
        return {"payout_request_form": None}
    first = payable[0]
    form = PayoutRequestForm(
        initial={
            "amount": str(to_major(first.available, first.currency)),
            "currency": first.currency,
        },
        currencies=[b.currency for b in payable],
    )
    return {
        "payout_request_form": form,
        "payout_request_token": form_tokens.form_token(
            request, action=ACTION, target=merchant.public_id
        ),
    }


def _error_text(error: ApplicationError) -> str:
    if isinstance(error, ProcessorUnavailableError):
        return (
            "The payment processor is unavailable right now; no payout was made. "
            f"Try again in {error.retry_after} seconds."
        )
    if isinstance(error, ProcessorOutcomeUnknownError):
        return (
            "The payment processor did not answer in time, so the payout may or may not have "
            "been made. Press Pay out again: it finds the payout if it was made and never pays "
            "out twice."
        )
    return f"No payout was made: {error.message}"


@require_POST
@require_permission(Permission.MANAGE_PAYOUTS)
@step_up_required
def payout_create(request: HttpRequest) -> HttpResponse:
    merchant: Merchant = request.merchant  # type: ignore[attr-defined]
    # Any ISO currency is accepted here; the processor refuses one without available funds.
    posted = str(request.POST.get("currency", ""))[:3].lower()
    form = PayoutRequestForm(request.POST, currencies=[posted] if posted.isalpha() else [])
    if not form.is_valid():
        errors = "; ".join(str(message) for field in form.errors.values() for message in field)
        messages.error(request, f"No payout was made: {errors}")
        return redirect("balance")
    amount: int = form.cleaned_data["amount_minor"]
    currency: str = form.cleaned_data["currency"]

    def pay_out(record: IdempotencyRecord | None) -> FormOutcome:
        payout = payout_request(
            merchant=merchant,
            amount=amount,
            currency=currency,
            actor=Actor.for_user(request.user),
            key=record.key if record is not None else f"payout-{uuid.uuid4()}",
            resumed=idempotency_claim_target(
                record, target_type="merchant", public_id=merchant.public_id
            ),
            request=request,
            step_up=True,
        )
        arrival = timezone.localtime(payout.arrival_date).strftime("%Y-%m-%d")
        return FormOutcome(
            "success",
            f"Payout of {format_amount(payout.amount, payout.currency)} made; it should arrive "
            f"on {arrival}.",
            next_url=reverse("payout-detail", args=[payout.public_id]),
        )

    outcome = form_tokens.form_submit(
        request,
        merchant=merchant,
        action=ACTION,
        target=merchant.public_id,
        operation=pay_out,
        error_text=_error_text,
    )
    return redirect(outcome.next_url or "balance")
