"""The merchant's Bank accounts page: linked accounts with their states, link sessions, disconnect.

Views read through `banking.selectors` and write through `banking.services`; failures arrive
as `ApplicationError` and are shown as messages. Another merchant's account is a 404. A new
link URL is rendered in the POST's answer only (never stored, never put in a message cookie).
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import require_permission, step_up_required
from accounts.models import Merchant
from accounts.roles import Permission, role_allows
from api import form_tokens
from api.form_tokens import FormOutcome
from api.models import IdempotencyRecord
from api.pagination import keyset_window_or_newest
from banking import ach, selectors, services
from banking.models import BankAccount, PlaidItemStatus, VerificationState
from compliance.actors import Actor
from config.exceptions import ApplicationError, NotFoundError
from config.free_text import GuardedForm
from payments.exceptions import ProcessorOutcomeUnknownError
from payments.money import MoneyError, format_amount, parse_major
from payments.selectors import customer_get

PAGE_SIZE = 25
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
DEBIT_ACTION = "bank_account.debit"


class BankLinkSessionForm(GuardedForm):
    customer = forms.CharField(label="Customer id (cus_...)", max_length=32)


class BankDebitForm(GuardedForm):
    amount = forms.CharField(label="Amount (USD)", max_length=20)
    authorized = forms.BooleanField(
        label="The customer authorized this debit (ACH authorization on file)"
    )

    def clean_amount(self) -> int:
        try:
            return parse_major(self.cleaned_data["amount"], "usd")
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from exc


def _merchant(request: HttpRequest) -> Merchant:
    merchant: Merchant = request.merchant  # type: ignore[attr-defined]
    return merchant


def _page(
    request: HttpRequest,
    form: BankLinkSessionForm,
    *,
    new_url: str = "",
    status: int = 200,
) -> HttpResponse:
    cursor = request.GET.get("after", "")
    page, stale = keyset_window_or_newest(
        selectors.bank_account_queryset(merchant=_merchant(request)),
        limit=PAGE_SIZE,
        starting_after=cursor if _CURSOR_RE.fullmatch(cursor) else None,
    )
    if stale:
        messages.warning(request, "That page is no longer available; showing the newest items.")
    can_debit = role_allows(
        request.membership.role,  # type: ignore[attr-defined]
        Permission.CREATE_PAYMENTS,
    )
    rows = [
        {
            "account": account,
            "state": VerificationState(account.verification_state).label,
            "item_state": PlaidItemStatus(account.item.status).label,
            # NEW_ACCOUNTS_AVAILABLE: the customer's own link page offers to share them.
            "new_accounts": account.disconnected_at is None
            and account.item.new_accounts_available_at is not None
            and account.item.status not in (PlaidItemStatus.REVOKED, PlaidItemStatus.REMOVED),
            # The form's one-time token: a double submit, a retry after an error or a replay
            # after step-up is the same debit (api.form_tokens).
            "debit_token": form_tokens.form_token(
                request, action=DEBIT_ACTION, target=account.public_id
            )
            if can_debit and account.can_move_money
            else "",
        }
        for account in page.items
    ]
    response = render(
        request,
        "banking/bank_accounts.html",
        {
            "rows": rows,
            "has_more": page.has_next,
            "next_cursor": page.items[-1].public_id if page.has_next and page.items else "",
            "form": form,
            "new_url": new_url,
            "can_manage": role_allows(
                request.membership.role,  # type: ignore[attr-defined]
                Permission.MANAGE_BANK_ACCOUNTS,
            ),
            "can_debit": can_debit,
        },
        status=status,
    )
    if new_url:
        response["Cache-Control"] = "no-store"
    return response


@require_GET
@require_permission(Permission.VIEW_CUSTOMERS)
def bank_accounts(request: HttpRequest) -> HttpResponse:
    return _page(request, BankLinkSessionForm())


@require_POST
@require_permission(Permission.MANAGE_BANK_ACCOUNTS)
def bank_link_session_create(request: HttpRequest) -> HttpResponse:
    form = BankLinkSessionForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    merchant = _merchant(request)
    try:
        customer = customer_get(merchant=merchant, public_id=form.cleaned_data["customer"])
        new = services.bank_link_session_create(
            merchant=merchant,
            customer=customer,
            actor=Actor.for_user(request.user),
            request=request,
        )
    except ApplicationError:
        form.add_error("customer", "No such customer.")
        return _page(request, form, status=400)
    return _page(request, BankLinkSessionForm(), new_url=request.build_absolute_uri(new.path))


def _account_or_404(request: HttpRequest, public_id: str) -> BankAccount:
    try:
        return selectors.bank_account_get(merchant=_merchant(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@require_POST
@require_permission(Permission.MANAGE_BANK_ACCOUNTS)
def bank_account_disconnect(request: HttpRequest, public_id: str) -> HttpResponse:
    account = _account_or_404(request, public_id)
    if account.disconnected_at is not None:
        messages.info(request, "This bank account is already disconnected.")
        return redirect("bank-accounts")
    try:
        services.bank_account_disconnect(
            account=account, actor=Actor.for_user(request.user), request=request
        )
    except ApplicationError as error:
        messages.error(request, f"Nothing was changed: {error.message}")
        return redirect("bank-accounts")
    messages.success(request, "Bank account disconnected.")
    return redirect("bank-accounts")


def _debit_error_text(error: ApplicationError) -> str:
    if isinstance(error, ProcessorOutcomeUnknownError):
        # The debit may have been made: never say "nothing was debited" then.
        return (
            "The payment processor did not answer in time. The debit is being checked and "
            "will not happen twice; submit the form again or refresh in a moment."
        )
    return f"Nothing was debited: {error.message}"


@require_POST
@require_permission(Permission.CREATE_PAYMENTS)
@step_up_required
def bank_account_debit(request: HttpRequest, public_id: str) -> HttpResponse:
    """Debit a verified account by ACH (banking.ach); the payment settles by webhook."""
    account = _account_or_404(request, public_id)
    form = BankDebitForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for field in form.errors.values() for e in field)
        messages.error(request, f"Nothing was debited: {errors}")
        return redirect("bank-accounts")

    def debit(record: IdempotencyRecord | None) -> FormOutcome:
        # The submission's record key is the debit's key: a resumed submission finds the
        # BankDebit committed with its payment and continues it, never debits again.
        key = record.key if record is not None else ""
        payment = ach.bank_account_debit(
            merchant=_merchant(request),
            account=account,
            amount=form.cleaned_data["amount"],
            currency="usd",
            idempotency_key=f"dashboard_{key}",
            actor=Actor.for_user(request.user),
            request=request,
            step_up=True,
        )
        return FormOutcome(
            "success",
            f"Debit of {format_amount(payment.amount, payment.currency)} submitted: ACH debits "
            "settle in a few business days.",
            next_url=reverse("payment-detail", args=[payment.public_id]),
        )

    outcome = form_tokens.form_submit(
        request,
        merchant=_merchant(request),
        action=DEBIT_ACTION,
        target=account.public_id,
        operation=debit,
        error_text=_debit_error_text,
    )
    return redirect(outcome.next_url or "bank-accounts")
