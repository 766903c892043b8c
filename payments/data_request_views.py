"""The merchant's data-request pages under /compliance/data-requests/: open a request for a
customer, follow it, download its export or its deletion certificate.

They live in payments (which owns the customers and may import accounts' step-up and the api
app's form tokens) and change things only through `compliance.services`. Opening a request
records the merchant's attestation of the requester's identity as its verification; a
Ledgerline compliance officer approves it in the admin (four eyes), which starts execution.
Another merchant's request is a 404.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import step_up_required
from api import form_tokens
from api.form_tokens import FormOutcome
from api.idempotency import idempotency_mark_object_created
from api.models import IdempotencyRecord
from compliance import personal_data
from compliance.models import DataRequest, DataRequestType, DataSubjectKind
from compliance.selectors import data_request_get, data_request_row, data_request_timeline
from compliance.services import (
    audit_record,
    data_request_attest,
    data_request_export,
    data_request_open,
    export_available,
)
from config.exceptions import NotFoundError
from config.permissions import Permission, require_permission
from payments.data_request_forms import CUSTOMER_ID_RE, DataRequestForm
from payments.views import _actor, _can, _merchant

OPEN_ACTION = "data_request.open"
FORM_ID_FIELD = "form_id"
_FORM_ID_RE = re.compile(r"^form_[A-Za-z0-9_-]{16}$")
_TYPE_RE = re.compile(r"^(access|erasure)$")


def _request_or_404(request: HttpRequest, public_id: str) -> DataRequest:
    try:
        return data_request_get(
            merchant_public_id=_merchant(request).public_id, public_id=public_id
        )
    except NotFoundError as error:
        raise Http404(error.message) from error


def _detail_url(public_id: str) -> str:
    return reverse("data_requests:detail", args=[public_id])


def _form_id(request: HttpRequest) -> str:
    """Which rendering of the form this is: each page gets its own submission token, so two
    tabs open two requests while a double click on one opens it once. A form shown again
    after an error keeps its id (and token)."""
    posted = request.POST.get(FORM_ID_FIELD, "")
    return posted if _FORM_ID_RE.match(posted) else f"form_{secrets.token_urlsafe(12)}"


def _form_page(request: HttpRequest, form: DataRequestForm, *, status: int = 200) -> HttpResponse:
    form_id = _form_id(request)
    token = form_tokens.form_token(request, action=OPEN_ACTION, target=form_id)
    context = {"nav": "compliance", "form": form, "submission_token": token, "form_id": form_id}
    return render(request, "payments/data_request_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_permission(Permission.MANAGE_DATA_REQUESTS)
@step_up_required
def data_request_new(request: HttpRequest) -> HttpResponse:
    """The form (pre-filled from `?customer=cus_…&type=…`, as the customer page links it) and
    its submission: open + attest in one transaction, once per submission token."""
    merchant = _merchant(request)
    if request.method != "POST":
        initial: dict[str, str] = {}
        customer = request.GET.get("customer", "")
        if CUSTOMER_ID_RE.match(customer):
            initial["customer"] = customer
        kind = request.GET.get("type", "")
        if _TYPE_RE.match(kind):
            initial["type"] = kind
        return _form_page(request, DataRequestForm(initial=initial, merchant_id=merchant.public_id))
    form = DataRequestForm(request.POST, merchant_id=merchant.public_id)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    data = form.cleaned_data
    actor = _actor(request)

    def open_request(record: IdempotencyRecord | None) -> FormOutcome:
        if record is not None and record.target_public_id:
            # A resubmission of a form whose request was opened: show that request.
            public_id = record.target_public_id
        else:
            with transaction.atomic():
                opened = data_request_open(
                    request_type=data["type"],
                    subject_kind=DataSubjectKind.CUSTOMER,
                    reference=data["customer"],
                    merchant_id=merchant.public_id,
                    ground=data["ground"] if data["type"] == DataRequestType.ERASURE else "",
                    actor=actor,
                )
                data_request_attest(data_request=opened, actor=actor, how=data["verification"])
                idempotency_mark_object_created(
                    record, target_type="data_request", public_id=opened.public_id
                )
            public_id = opened.public_id
        return FormOutcome(
            "success",
            f"Data request {public_id} opened; a Ledgerline compliance officer will approve it.",
            next_url=_detail_url(public_id),
        )

    outcome = form_tokens.form_submit(
        request,
        merchant=merchant,
        action=OPEN_ACTION,
        # The token is bound to this id when issued: a forged id fails the token check.
        target=_form_id(request),
        operation=open_request,
        error_text=lambda error: error.message,
    )
    return HttpResponseRedirect(outcome.next_url or reverse("data_requests:new"))


@require_GET
@require_permission(Permission.VIEW_COMPLIANCE)
def data_request_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    data_request = _request_or_404(request, public_id)
    can_manage = _can(request, Permission.MANAGE_DATA_REQUESTS)
    context: dict[str, Any] = {
        "nav": "compliance",
        "row": data_request_row(data_request),
        "data_request": data_request,
        "timeline": [
            {
                "time": entry.created_at,
                "action": entry.action.removeprefix("data_request.").replace("_", " "),
                "actor": f"{entry.actor_kind}:{entry.actor_id}" if entry.actor_id else "",
            }
            for entry in data_request_timeline(data_request)
        ],
        "steps": data_request.steps.order_by("id"),
        "export_offered": can_manage and export_available(data_request),
        "export_until": (
            data_request.completed_at + timedelta(days=settings.EXPORT_AVAILABLE_DAYS)
            if data_request.completed_at
            else None
        ),
        "certificate_offered": bool(data_request.certificate),
    }
    return render(request, "payments/data_request_detail.html", context)


@require_GET
@require_permission(Permission.MANAGE_DATA_REQUESTS)
@step_up_required
def data_request_export_download(
    request: HttpRequest, public_id: str
) -> HttpResponse | StreamingHttpResponse:
    """The access export, produced now and streamed (never stored), while it is offered
    (EXPORT_AVAILABLE_DAYS after completion); each download is audited."""
    data_request = _request_or_404(request, public_id)
    if not export_available(data_request):
        raise Http404(
            "No export is offered for this request (not an access request, not "
            "completed yet, or its download period has ended)."
        )
    try:
        # The stream would break half-way if the records were gone since: check first.
        personal_data.subject_resolve(
            personal_data.SubjectKind(data_request.subject_kind),
            merchant_id=data_request.merchant_public_id,
            reference=data_request.subject_reference,
        )
    except personal_data.SubjectNotFoundError as error:
        raise Http404("The customer's records no longer exist.") from error
    audit_record(
        action="data_request.export_downloaded",
        request=request,
        target_type="data_request",
        target_id=data_request.public_id,
        payload={"type": data_request.type},
    )
    response = StreamingHttpResponse(
        data_request_export(data_request), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="data-export-{data_request.public_id}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@require_permission(Permission.VIEW_COMPLIANCE)
def data_request_certificate_download(request: HttpRequest, public_id: str) -> HttpResponse:
    """The signed deletion certificate as a file (`manage.py verify_certificate FILE`)."""
    data_request = _request_or_404(request, public_id)
    if not data_request.certificate:
        raise Http404("This request has no certificate (only a completed erasure has one).")
    response = HttpResponse(
        json.dumps(data_request.certificate, indent=2, sort_keys=True) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="certificate-{data_request.public_id}.json"'
    )
    return response
