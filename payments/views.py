"""Server-rendered dashboard pages for payments: account onboarding and payments (the overview:
`payments.overview_views`; customers: `payments.customer_views`; payment links:
`payments.link_views`; disputes: `payments.dispute_views`).

Views only read through `payments.selectors` and change things through `payments.services`
(or `payments.onboarding`); every processor or rule failure arrives as an `ApplicationError`
and is shown as a message, never as an error page. Another merchant's object is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import step_up_required
from accounts.models import Merchant
from accounts.roles import role_allows
from api import form_tokens
from api.form_tokens import FormOutcome
from api.idempotency import idempotency_claim_target, idempotency_mark_object_created
from api.models import IdempotencyRecord
from api.pagination import CursorPage, keyset_window_or_newest
from compliance.actors import Actor
from config.exceptions import ApplicationError, NotFoundError
from config.permissions import Permission, require_permission
from payments import onboarding, reports, selectors, services
from payments.exceptions import (
    ProcessorOutcomeUnknownError,
    ProcessorUnavailableError,
)
from payments.fee_display import fee_display, refund_rows
from payments.forms import (
    CaptureForm,
    PaymentFilterForm,
    RefundForm,
)
from payments.models import Payment, Refund, RefundStatus
from payments.money import format_amount
from payments.state import (
    CANCELABLE,
    PaymentStatus,
    is_settlement_declined,
    status_for_people,
)

PAGE_SIZE = 25
# Cursors are public ids; anything else is refused before it reaches the database.
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


# --- helpers --------------------------------------------------------------------------------


def _merchant(request: HttpRequest) -> Merchant:
    # require_permission guarantees a current membership, hence a merchant.
    merchant: Merchant = request.merchant  # type: ignore[attr-defined]
    return merchant


def _can(request: HttpRequest, permission: str) -> bool:
    return role_allows(request.membership.role, permission)  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user)


def _error_text(error: ApplicationError) -> str:
    """The message a person can act on; outages say when to try again."""
    if isinstance(error, ProcessorUnavailableError):
        return (
            "The payment processor is unavailable right now; nothing was changed. "
            f"Try again in {error.retry_after} seconds."
        )
    if isinstance(error, ProcessorOutcomeUnknownError):
        return (
            "The payment processor did not answer in time. The result is being checked and "
            f"nothing will happen twice; refresh in {error.retry_after} seconds."
        )
    return error.message


def _status(payment: Payment) -> dict[str, str]:
    status, label = status_for_people(payment.status, payment.failure_code)
    return {"status": status, "status_label": label}


def _payment_rows(payments: Iterable[Payment]) -> list[dict[str, Any]]:
    """Payments with their display values ready (templates get no money logic).

    Everything a row shows is computed here: per-row variable lookups, `{% url %}` and
    filters in the template cost far more than the list query (25 rows).
    """
    rows = []
    for payment in payments:
        customer = payment.customer
        rows.append(
            {
                "payment": payment,
                "url": reverse("payment-detail", args=[payment.public_id]),
                "amount": format_amount(payment.amount, payment.currency),
                "refunded": format_amount(payment.amount_refunded, payment.currency)
                if payment.amount_refunded
                else "",
                **_status(payment),
                **fee_display(payment),
                "method": payment.method_label,
                "processor": payment.get_processor_display(),
                "customer": (customer.email or customer.public_id) if customer else "",
                "created": timezone.localtime(payment.created_at).strftime("%Y-%m-%d %H:%M"),
            }
        )
    return rows


def _cursor(request: HttpRequest, name: str) -> str | None:
    value = request.GET.get(name, "")
    return value if _CURSOR_RE.match(value) else None


def _window(request: HttpRequest, queryset: Any) -> tuple[CursorPage[Any], dict[str, str]]:
    """The page the cursors in the query ask for, and the query strings of its neighbours.

    A cursor that names nothing in the (filtered) list falls back to the newest page with a
    message, since links to a page can outlive the objects they point at.
    """
    after = _cursor(request, "starting_after")
    before = None if after else _cursor(request, "ending_before")
    page, stale = keyset_window_or_newest(
        queryset, limit=PAGE_SIZE, starting_after=after, ending_before=before
    )
    if stale:
        messages.warning(request, "That page is no longer available; showing the newest items.")
    base = request.GET.copy()
    for name in ("starting_after", "ending_before"):
        base.pop(name, None)
    links: dict[str, str] = {}
    if page.items and page.has_next:
        links["next"] = _with(base, starting_after=page.items[-1].public_id)
    if page.items and page.has_previous:
        links["previous"] = _with(base, ending_before=page.items[0].public_id)
    return page, links


def _with(query: QueryDict, **extra: str) -> str:
    copy = query.copy()
    for key, value in extra.items():
        copy[key] = value
    return copy.urlencode()


def _payment_or_404(request: HttpRequest, public_id: str) -> Payment:
    try:
        return selectors.payment_get(merchant=_merchant(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


# --- home -----------------------------------------------------------------------------------


@require_POST
@require_permission(Permission.MANAGE_PAYMENTS)
def account_onboarding(request: HttpRequest) -> HttpResponse:
    try:
        url = onboarding.merchant_onboarding_link(
            merchant=_merchant(request),
            actor=_actor(request),
            refresh_url=request.build_absolute_uri(reverse("home")),
            return_url=request.build_absolute_uri(reverse("account-onboarding-return")),
            request=request,
        )
    except ApplicationError as error:
        messages.error(request, _error_text(error))
        return redirect("home")
    # The processor's own onboarding site: the one redirect that leaves Ledgerline on purpose.
    return HttpResponseRedirect(url)


@require_GET
@require_permission(Permission.MANAGE_PAYMENTS)
def account_onboarding_return(request: HttpRequest) -> HttpResponse:
    try:
        account = onboarding.merchant_onboarding_return(merchant=_merchant(request))
    except ApplicationError as error:
        messages.error(request, _error_text(error))
        return redirect("home")
    if account is not None and account.charges_enabled:
        messages.success(request, "Your processor account can take card payments.")
    else:
        messages.warning(request, "The processor still needs details before you can charge.")
    return redirect("home")


# --- payments -------------------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> PaymentFilterForm:
    return PaymentFilterForm(
        request.GET or None, default_currency=_merchant(request).default_currency
    )


def _payment_filters(form: PaymentFilterForm) -> tuple[selectors.PaymentFilters, str | None]:
    """The filters of a valid (or unsubmitted) form, and the currency its amounts are in."""
    if not form.is_bound:
        return selectors.PaymentFilters(), None
    return form.filters(), form.amount_currency()


def _filtered_payments(request: HttpRequest, form: PaymentFilterForm) -> Any:
    filters, currency = _payment_filters(form)
    return selectors.payment_dashboard_queryset(
        merchant=_merchant(request), filters=filters, currency=currency
    )


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def payment_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    context: dict[str, Any] = {
        "nav": "payments",
        "form": form,
        "can_export": _can(request, Permission.EXPORT_PAYMENTS),
        "page": None,
        "links": {},
    }
    if form.is_bound and not form.is_valid():
        return render(request, "payments/payment_list.html", context, status=400)
    page, links = _window(request, _filtered_payments(request, form))
    query = request.GET.copy()
    for name in ("starting_after", "ending_before"):
        query.pop(name, None)
    context.update(page=page, rows=_payment_rows(page.items), links=links, query=query.urlencode())
    return render(request, "payments/payment_list.html", context)


@require_GET
@require_permission(Permission.EXPORT_PAYMENTS)
def payment_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(str(message) for field in form.errors.values() for message in field)
        return HttpResponse(f"Invalid filters: {errors}\n", status=400, content_type="text/plain")
    filters, currency = _payment_filters(form)
    lines = reports.payment_csv_lines(
        merchant=_merchant(request), filters=filters, currency=currency
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="payments-{stamp}.csv"'
    return response


def _detail(
    request: HttpRequest,
    payment: Payment,
    *,
    capture_form: CaptureForm | None = None,
    refund_form: RefundForm | None = None,
    status: int = 200,
) -> HttpResponse:
    refundable = services.refundable_amount(payment)
    currency = payment.currency
    context = {
        "nav": "payments",
        "payment": payment,
        **_status(payment),
        "money": {
            "amount": format_amount(payment.amount, currency),
            "capturable": format_amount(payment.amount_capturable, currency),
            "captured": format_amount(payment.amount_captured, currency),
            "refunded": format_amount(payment.amount_refunded, currency),
            "refundable": format_amount(refundable, currency),
            **fee_display(payment),
        },
        "refunds": refund_rows(payment),
        "timeline": [
            {
                "event": event,
                "amount": format_amount(event.amount, event.currency)
                if event.amount is not None
                else "",
            }
            for event in selectors.payment_timeline(payment=payment)
        ],
        "refundable": refundable,
        "settlement_declined": is_settlement_declined(payment.status, payment.failure_code),
        "can_capture": _can(request, Permission.MANAGE_PAYMENTS)
        and payment.status == PaymentStatus.REQUIRES_CAPTURE,
        "can_cancel": _can(request, Permission.MANAGE_PAYMENTS)
        and payment.status in CANCELABLE
        and bool(payment.processor_payment_id)
        and not is_settlement_declined(payment.status, payment.failure_code),
        "can_refund": _can(request, Permission.REFUND_PAYMENTS)
        and payment.status == PaymentStatus.SUCCEEDED
        and refundable > 0,
        "can_check": _can(request, Permission.MANAGE_PAYMENTS)
        and payment.status in (PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.PROCESSING),
        "capture_form": capture_form or CaptureForm(currency=payment.currency),
        "refund_form": refund_form or RefundForm(currency=payment.currency),
    }
    # Tokens only for the forms the page shows: each one minted is kept in the session.
    context["tokens"] = {
        name: form_tokens.form_token(request, action=action, target=payment.public_id)
        for name, action in _PAYMENT_FORM_ACTIONS.items()
        if context[f"can_{name}"]
    }
    return render(request, "payments/payment_detail.html", context, status=status)


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def payment_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return _detail(request, _payment_or_404(request, public_id))


# The payment page's forms that move money, each with its one-time submission token.
_PAYMENT_FORM_ACTIONS = {
    "capture": "payment.capture",
    "cancel": "payment.cancel",
    "refund": "payment.refund",
}


def _submit(
    request: HttpRequest,
    payment: Payment,
    action: str,
    operation: form_tokens.Operation,
) -> HttpResponse:
    """Run a money form's action once per submission token, then show the payment."""
    form_tokens.form_submit(
        request,
        merchant=_merchant(request),
        action=action,
        target=payment.public_id,
        operation=operation,
        error_text=_error_text,
    )
    return redirect("payment-detail", public_id=payment.public_id)


def _payment_claimed(record: IdempotencyRecord | None, payment: Payment) -> bool:
    """True if an earlier press already sent this action for `payment` (then its answer
    may have been lost: the payment is read back from the processor before acting again)."""
    return idempotency_claim_target(record, target_type="payment", public_id=payment.public_id)


@require_POST
@require_permission(Permission.MANAGE_PAYMENTS)
def payment_capture(request: HttpRequest, public_id: str) -> HttpResponse:
    payment = _payment_or_404(request, public_id)
    form = CaptureForm(request.POST, currency=payment.currency)
    if not form.is_valid():
        return _detail(request, payment, capture_form=form, status=400)

    def capture(record: IdempotencyRecord | None) -> FormOutcome:
        current = payment
        if _payment_claimed(record, payment):
            current = services.payment_reconcile(payment=payment)
            if current.status != PaymentStatus.REQUIRES_CAPTURE:
                return _state_outcome(current, done=PaymentStatus.SUCCEEDED, text="captured")
        services.payment_capture(
            payment=current,
            actor=_actor(request),
            request=request,
            amount=form.cleaned_data["amount"],
            step_up=False,
        )
        return FormOutcome("success", "Payment captured.")

    return _submit(request, payment, "payment.capture", capture)


@require_POST
@require_permission(Permission.MANAGE_PAYMENTS)
def payment_cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    payment = _payment_or_404(request, public_id)

    def cancel(record: IdempotencyRecord | None) -> FormOutcome:
        current = payment
        if _payment_claimed(record, payment):
            current = services.payment_reconcile(payment=payment)
            if current.status not in CANCELABLE:
                return _state_outcome(current, done=PaymentStatus.CANCELED, text="canceled")
        services.payment_cancel(
            payment=current, actor=_actor(request), request=request, step_up=False
        )
        return FormOutcome("success", "Payment canceled.")

    return _submit(request, payment, "payment.cancel", cancel)


def _state_outcome(payment: Payment, *, done: str, text: str) -> FormOutcome:
    """The outcome of a resumed capture or cancel, from the state the processor reports."""
    if payment.status == done:
        return FormOutcome("success", f"Payment {text}.")
    return FormOutcome(
        "error", f"The payment was not {text}: it is {payment.get_status_display().lower()}."
    )


@require_POST
@require_permission(Permission.REFUND_PAYMENTS)
@step_up_required
def payment_refund(request: HttpRequest, public_id: str) -> HttpResponse:
    payment = _payment_or_404(request, public_id)
    form = RefundForm(request.POST, currency=payment.currency)
    if not form.is_valid():
        return _detail(request, payment, refund_form=form, status=400)

    def refund(record: IdempotencyRecord | None) -> FormOutcome:
        if record is not None and record.target_public_id:
            # An earlier press created this refund: continue it under its own processor key.
            made = services.refund_resume(
                refund=Refund.objects.get(payment=payment, public_id=record.target_public_id)
            )
        else:
            made = services.refund_create(
                payment=payment,
                actor=_actor(request),
                request=request,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                step_up=True,
                on_created=lambda obj: idempotency_mark_object_created(
                    record, target_type="refund", public_id=obj.public_id
                ),
            )
        if made.status == RefundStatus.FAILED:
            return FormOutcome("error", "The processor could not make the refund.")
        return FormOutcome("success", "Refund submitted.")

    return _submit(request, payment, "payment.refund", refund)


@require_POST
@require_permission(Permission.MANAGE_PAYMENTS)
def payment_check(request: HttpRequest, public_id: str) -> HttpResponse:
    """Ask the processor what became of a payment still confirming (moves no money: a
    payment never sent is sent with its own key, which the processor answers only once)."""
    payment = _payment_or_404(request, public_id)
    try:
        checked = services.payment_reconcile(payment=payment)
    except ApplicationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.info(
            request, f"Checked with the processor: the payment is {checked.get_status_display()}."
        )
    return redirect("payment-detail", public_id=payment.public_id)
