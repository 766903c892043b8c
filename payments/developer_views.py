"""The Developers page: API keys (list, create, revoke), inbound processor events, API basics.

Seeing the page needs VIEW_DEVELOPERS; creating or revoking a key needs MANAGE_API_KEYS and a
fresh step-up OTP. A new key's secret appears once, in the body of the POST's own response
(never in a URL, a message or the session), and that response is marked no-store.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import services
from accounts.decorators import require_permission, step_up_required
from accounts.models import ApiKey, Membership, Merchant, User
from accounts.roles import Permission, Role, role_allows
from accounts.views import no_store
from config.exceptions import ApplicationError
from config.free_text import GuardedForm
from inbound.explanations import inbound_event_explain
from inbound.models import InboundEventStatus
from payments.selectors import inbound_event_recent

TEMPLATE = "payments/developers.html"
RECENT_EVENTS = 25


class ApiKeyCreateForm(GuardedForm):
    name = forms.CharField(
        label="Name",
        max_length=services.API_KEY_NAME_MAX_LENGTH,
        help_text="Where the key is used, e.g. “Checkout server”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Role",
        help_text="What the key may do. A key can never do more than your own role allows.",
    )

    def __init__(self, *args: Any, creator_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field: forms.ChoiceField = self.fields["role"]  # type: ignore[assignment]
        role_field.choices = [
            (value, label)
            for value, label in Role.choices
            if services.api_key_role_allowed(creator_role=creator_role, role=value)
        ]
        role_field.initial = Role.DEVELOPER


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def _api_keys(merchant: Merchant) -> QuerySet[ApiKey]:
    # Active keys first, each group newest first.
    return (
        ApiKey.objects.filter(merchant=merchant)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-pk")
    )


def _context(
    request: HttpRequest,
    *,
    form: ApiKeyCreateForm | None = None,
    new_key: ApiKey | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    membership = _membership(request)
    can_manage = role_allows(membership.role, Permission.MANAGE_API_KEYS)
    wanted = request.GET.get("event_status", "")
    event_status = wanted if wanted in InboundEventStatus.values else ""
    return {
        "events": [
            {"event": event, "explanation": inbound_event_explain(event)}
            for event in inbound_event_recent(
                merchant=membership.merchant, status=event_status or None, limit=RECENT_EVENTS
            )
        ],
        "event_status": event_status,
        "event_statuses": InboundEventStatus.choices,
        "nav": "developers",
        "api_keys": _api_keys(membership.merchant),
        "can_manage": can_manage,
        "form": form or (ApiKeyCreateForm(creator_role=membership.role) if can_manage else None),
        "new_key": new_key,
        "secret": secret,
        "api_base_url": request.build_absolute_uri("/api/v1/"),
        "api_docs_url": reverse("api-docs"),
    }


@require_permission(Permission.VIEW_DEVELOPERS)
def developers(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request))


@require_POST
@require_permission(Permission.MANAGE_API_KEYS)
@step_up_required
def api_key_create(request: HttpRequest) -> HttpResponse:
    membership = _membership(request)
    user: User = request.user  # type: ignore[assignment]
    form = ApiKeyCreateForm(request.POST, creator_role=membership.role)
    if not form.is_valid():
        return render(request, TEMPLATE, _context(request, form=form), status=400)
    try:
        api_key, secret = services.api_key_create(
            merchant=membership.merchant,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            created_by=user,
            request=request,
        )
    except ApplicationError as error:
        form.add_error(None, error.message)
        return render(request, TEMPLATE, _context(request, form=form), status=error.status_code)
    # Rendered here, not redirected: the secret must never travel in a URL or be stored to
    # survive a redirect. A reload of this page re-POSTs and mints another key, not this one.
    context = _context(request, new_key=api_key, secret=secret)
    return no_store(render(request, TEMPLATE, context))


@require_POST
@require_permission(Permission.MANAGE_API_KEYS)
@step_up_required
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    membership = _membership(request)
    # Looked up within the current merchant: another merchant's key id is simply not found.
    api_key = (
        ApiKey.objects.select_related("merchant")
        .filter(merchant=membership.merchant, public_id=key_id)
        .first()
    )
    if api_key is None:
        raise Http404("No such API key.")
    if api_key.revoked_at is not None:
        messages.info(request, f"The key “{api_key.name}” was already revoked.")
        return redirect("developers")
    try:
        services.api_key_revoke(api_key=api_key, revoked_by=request.user, request=request)  # type: ignore[arg-type]
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The key “{api_key.name}” is revoked; it stops working now.")
    return redirect("developers")
