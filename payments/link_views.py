"""Server-rendered dashboard pages for payment links: the list, creating one, deactivating one.

They share the dashboard's merchant, permission and cursor helpers with `payments.views`.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ApplicationError, NotFoundError
from config.permissions import Permission, require_permission
from payments import selectors, services
from payments.exceptions import PaymentLinkUnavailableError
from payments.forms import PaymentLinkForm
from payments.models import PaymentLink
from payments.money import format_amount
from payments.views import _actor, _can, _merchant, _window


def _link_or_404(request: HttpRequest, public_id: str) -> PaymentLink:
    try:
        return selectors.payment_link_get(merchant=_merchant(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _link_state(link: PaymentLink) -> tuple[str, str]:
    """(label, badge class) of a link as the payment page would treat it now."""
    if link.completed_at is not None:
        return "Paid", "badge"
    if not link.active:
        return "Deactivated", "badge-bad"
    try:
        services.payment_link_check_open(link=link)
    except PaymentLinkUnavailableError:
        return "Expired", "badge-warn"
    return "Active", "badge-ok"


def _link_list(request: HttpRequest, form: PaymentLinkForm, status: int = 200) -> HttpResponse:
    page, links = _window(request, selectors.payment_link_queryset(merchant=_merchant(request)))
    rows = [
        {
            "link": link,
            "state": _link_state(link),
            "amount": format_amount(link.amount, link.currency),
            "pay_path": f"/pay/{link.token}/",
        }
        for link in page.items
    ]
    context = {
        "nav": "payment-links",
        "page": page,
        "rows": rows,
        "links": links,
        "form": form,
        "can_manage": _can(request, Permission.MANAGE_PAYMENT_LINKS),
        "origin": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "payments/link_list.html", context, status=status)


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def payment_link_list(request: HttpRequest) -> HttpResponse:
    form = PaymentLinkForm(initial={"currency": _merchant(request).default_currency})
    return _link_list(request, form)


@require_POST
@require_permission(Permission.MANAGE_PAYMENT_LINKS)
def payment_link_create(request: HttpRequest) -> HttpResponse:
    form = PaymentLinkForm(request.POST)
    if not form.is_valid():
        return _link_list(request, form, status=400)
    data = form.cleaned_data
    try:
        link = services.payment_link_create(
            merchant=_merchant(request),
            actor=_actor(request),
            amount=data["amount_minor"],
            currency=data["currency"],
            description=data["description"],
            reusable=data["reusable"],
            expires_at=data.get("expires_at"),
            request=request,
            step_up=False,
        )
    except ApplicationError as error:
        form.add_error(None, error.message)
        return _link_list(request, form, status=400)
    url = request.build_absolute_uri(f"/pay/{link.token}/")
    messages.success(request, f"Payment link created. Share this address: {url}")
    return redirect("payment-links")


@require_POST
@require_permission(Permission.MANAGE_PAYMENT_LINKS)
def payment_link_deactivate(request: HttpRequest, public_id: str) -> HttpResponse:
    link = _link_or_404(request, public_id)
    services.payment_link_deactivate(
        link=link, actor=_actor(request), request=request, step_up=False
    )
    messages.success(request, "Payment link deactivated; it no longer takes payments.")
    return redirect("payment-links")
