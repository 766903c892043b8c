"""The dashboard's `/settings/` page: the merchant's processors and how payments are routed.

Owners and admins only (`manage_processors`); every change needs a fresh one-time password
(step-up) and is audited by the service it calls. Braintree keys are typed once and never shown
again: the page says only that they are set, and since when.
(The payout schedule section of this page is the balance work's.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import step_up_required
from compliance.actors import Actor
from config.exceptions import ApplicationError
from config.permissions import Permission, require_permission
from payments import selectors, services
from payments.exceptions import ProcessorUnavailableError
from payments.models import ProcessorAccount, RoutingRank
from payments.reports import payment_processor_summary
from payments.routing import processor_is_up, processor_routing_set, processors_marked_down
from payments.settings_forms import BraintreeConnectForm, RoutingForm


def _processor_rows(accounts: list[ProcessorAccount]) -> list[dict[str, Any]]:
    marked_down = processors_marked_down()
    rows = []
    for account in accounts:
        credential = getattr(account, "credential", None)
        if not account.charges_enabled:
            status, tone = "Cannot take payments yet", "warn"
        elif account.processor in marked_down:
            status, tone = "Down (marked by Ledgerline)", "bad"
        elif not processor_is_up(account.processor, marked_down=frozenset()):
            status, tone = "Down (not answering)", "bad"
        else:
            status, tone = "Taking payments", "ok"
        rows.append(
            {
                "account": account,
                "role": account.get_routing_rank_display() if account.routing_rank else "Unused",
                "status": status,
                "tone": tone,
                "keys_set_at": credential.created_at if credential is not None else None,
            }
        )
    return rows


def _page(
    request: HttpRequest,
    *,
    connect_form: BraintreeConnectForm | None = None,
    routing_form: RoutingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    accounts = list(ProcessorAccount.objects.filter(merchant=merchant).select_related("credential"))
    accounts.sort(key=lambda a: (a.routing_rank or 99, a.processor))
    primary = next((a for a in accounts if a.routing_rank == RoutingRank.PRIMARY), None)
    secondary = next((a for a in accounts if a.routing_rank == RoutingRank.SECONDARY), None)
    routing_form = routing_form or RoutingForm(
        accounts=accounts,
        initial={
            "primary": primary.processor if primary else "",
            "secondary": secondary.processor if secondary else "",
        },
    )
    braintree = next((a for a in accounts if a.processor == "braintree"), None)
    context = {
        "nav": "settings",
        "processors": _processor_rows(accounts),
        "volumes": payment_processor_summary(merchant=merchant),
        "connect_form": connect_form or BraintreeConnectForm(),
        "braintree_connected": braintree is not None,
        "routing_form": routing_form,
        "can_route": len(accounts) > 0,
    }
    return render(request, "payments/settings.html", context, status=status)


@require_GET
@require_permission(Permission.MANAGE_PROCESSORS)
def settings_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@require_permission(Permission.MANAGE_PROCESSORS)
@step_up_required
def braintree_connect(request: HttpRequest) -> HttpResponse:
    """Check the keys with Braintree, then store them sealed (the service audits both)."""
    merchant = request.merchant  # type: ignore[attr-defined]
    form = BraintreeConnectForm(request.POST)
    if not form.is_valid():
        form.keys_forgotten()
        return _page(request, connect_form=form, status=400)
    try:
        account = services.braintree_account_connect(
            merchant=merchant,
            merchant_id=form.cleaned_data["merchant_id"],
            public_key=form.cleaned_data["public_key"],
            private_key=form.cleaned_data["private_key"],
            actor=Actor.for_user(request.user),
            request=request,
        )
    except ProcessorUnavailableError:
        form.keys_forgotten()
        form.add_error(
            None,
            "Braintree did not answer, so the keys could not be checked and nothing was saved. "
            "Try again in a minute.",
        )
        return _page(request, connect_form=form, status=503)
    except ApplicationError as error:
        form.keys_forgotten()
        form.add_error(None, error.message)
        return _page(request, connect_form=form, status=error.status_code)
    if account.routing_rank is None and not selectors.processor_accounts_ranked(merchant=merchant):
        # The merchant's first processor takes its payments.
        processor_routing_set(
            merchant=merchant,
            primary=account.processor,
            secondary=None,
            actor=Actor.for_user(request.user),
            request=request,
        )
    messages.success(
        request,
        "Braintree is connected: its keys were checked and stored encrypted. "
        "Choose below whether it takes payments.",
    )
    return redirect("settings")


@require_POST
@require_permission(Permission.MANAGE_PROCESSORS)
@step_up_required
def routing_update(request: HttpRequest) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    accounts = list(ProcessorAccount.objects.filter(merchant=merchant))
    form = RoutingForm(request.POST, accounts=accounts)
    if not form.is_valid():
        return _page(request, routing_form=form, status=400)
    try:
        processor_routing_set(
            merchant=merchant,
            primary=form.cleaned_data["primary"],
            secondary=form.cleaned_data["secondary"] or None,
            actor=Actor.for_user(request.user),
            request=request,
        )
    except ApplicationError as error:
        form.add_error(None, error.message)
        return _page(request, routing_form=form, status=error.status_code)
    messages.success(request, "Payment routing saved.")
    return redirect("settings")
