"""Server-rendered dashboard pages for customers: the list (searchable by email) and one
customer with their payments."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.exceptions import NotFoundError
from config.permissions import Permission, require_permission
from payments import selectors
from payments.forms import CustomerSearchForm
from payments.views import _can, _merchant, _payment_rows, _window


@require_GET
@require_permission(Permission.VIEW_CUSTOMERS)
def customer_list(request: HttpRequest) -> HttpResponse:
    form = CustomerSearchForm(request.GET or None)
    context: dict[str, Any] = {"nav": "customers", "form": form, "page": None, "links": {}}
    if form.is_bound and not form.is_valid():
        return render(request, "payments/customer_list.html", context, status=400)
    email = form.cleaned_data.get("email") if form.is_bound else None
    queryset = selectors.customer_queryset(merchant=_merchant(request), email=email)
    context["page"], context["links"] = _window(request, queryset)
    return render(request, "payments/customer_list.html", context)


@require_GET
@require_permission(Permission.VIEW_CUSTOMERS)
def customer_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        customer = selectors.customer_get(merchant=_merchant(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    page, links = _window(request, selectors.customer_payment_queryset(customer=customer))
    context = {
        "nav": "customers",
        "customer": customer,
        "page": page,
        "rows": _payment_rows(page.items),
        "links": links,
        "can_view_payments": _can(request, Permission.VIEW_PAYMENTS),
        "can_open_data_request": _can(request, Permission.MANAGE_DATA_REQUESTS),
    }
    return render(request, "payments/customer_detail.html", context)
