"""The disputes pages: the merchant's disputes with their deadlines, a dispute's detail, and the
two answers (submit evidence, accept the loss).

Answers need MANAGE_DISPUTES (owners and admins) and a fresh step-up OTP; the evidence form is
shown only once step-up is fresh, so a person never loses the files they attached to a step-up
redirect. Each answer runs once per form token (`api.form_tokens`): a double click, a resubmit
or the back button replays the first outcome, and a retry after a lost answer reads the dispute
back from the processor before sending anything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import step_up_required
from accounts.models import Merchant
from accounts.roles import role_allows
from accounts.session_security import otp_verified_within
from api import form_tokens
from api.form_tokens import FormOutcome
from api.idempotency import idempotency_claim_target
from api.models import IdempotencyRecord
from compliance.actors import Actor
from config.exceptions import NotFoundError
from config.permissions import Permission, require_permission
from payments import reports, selectors, services
from payments.dispute_evidence import EvidenceUploadHandler
from payments.dispute_forms import DisputeEvidenceForm, DisputeFilterForm
from payments.models import Dispute
from payments.money import format_amount
from payments.views import _error_text, _window

# A dispute still awaiting a response is flagged this long before its deadline.
ESCALATION_WINDOW = timedelta(days=3)
_EVIDENCE_ACTION = "dispute.evidence"
_ACCEPT_ACTION = "dispute.accept"
_REASONS = {
    "fraudulent": "Fraudulent",
    "product_not_received": "Product not received",
    "product_unacceptable": "Product unacceptable",
    "duplicate": "Duplicate",
    "subscription_canceled": "Subscription canceled",
    "credit_not_processed": "Credit not processed",
    "unrecognized": "Unrecognised",
    "general": "General",
}


@dataclass(frozen=True)
class Deadline:
    """How urgent a dispute's evidence deadline is, for people: its badge and sentence."""

    level: str  # "overdue" | "soon" | "open" | "" (nothing due)
    text: str


def dispute_deadline(dispute: Dispute, *, now: datetime | None = None) -> Deadline:
    due = dispute.evidence_due_by
    if dispute.status not in services.DISPUTE_OPEN_STATUSES or due is None:
        return Deadline("", "")
    now = now or timezone.now()
    stamp = f"{due:%Y-%m-%d %H:%M} UTC"
    if due <= now:
        return Deadline("overdue", f"Overdue: evidence was due {stamp}")
    left = due - now
    if left <= ESCALATION_WINDOW:
        # Whole hours left, rounded down: a deadline is never shown later than it is.
        hours = int(left.total_seconds() // 3600)
        days = hours // 24
        when = f"{days} day{'s' if days > 1 else ''} {hours % 24} h" if days else f"{hours} h"
        if not hours:
            when = "less than an hour"
        return Deadline("soon", f"Due in {when} ({stamp})")
    return Deadline("open", f"Due {stamp}")


def reason_label(reason: str) -> str:
    return _REASONS.get(reason, reason.replace("_", " ").capitalize() or "Not given")


def _merchant(request: HttpRequest) -> Merchant:
    merchant: Merchant = request.merchant  # type: ignore[attr-defined]
    return merchant


def _dispute_or_404(request: HttpRequest, public_id: str) -> Dispute:
    try:
        return selectors.dispute_get(merchant=_merchant(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _row(dispute: Dispute, now: datetime) -> dict[str, Any]:
    return {
        "dispute": dispute,
        "url": reverse("dispute-detail", args=[dispute.public_id]),
        "amount": format_amount(dispute.amount, dispute.currency),
        "reason": reason_label(dispute.reason),
        "status_label": dispute.get_status_display(),
        "deadline": dispute_deadline(dispute, now=now),
        "payment_url": reverse("payment-detail", args=[dispute.payment.public_id]),
    }


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def dispute_list(request: HttpRequest) -> HttpResponse:
    form = DisputeFilterForm(request.GET or None)
    status = form.cleaned_data.get("status") or None if form.is_valid() else None
    queryset = reports.dispute_report_queryset(merchant=_merchant(request), status=status)
    page, links = _window(request, queryset)
    now = timezone.now()
    context = {
        "nav": "disputes",
        "form": form,
        "rows": [_row(dispute, now) for dispute in page.items],
        "links": links,
        "open_count": reports.dispute_open_count(merchant=_merchant(request)),
    }
    return render(request, "payments/dispute_list.html", context)


def _can_answer(request: HttpRequest, dispute: Dispute) -> bool:
    role = request.membership.role  # type: ignore[attr-defined]
    return role_allows(role, Permission.MANAGE_DISPUTES) and services.dispute_is_open(dispute)


def _detail(
    request: HttpRequest,
    dispute: Dispute,
    *,
    form: DisputeEvidenceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    can_answer = _can_answer(request, dispute)
    fresh = otp_verified_within(request)
    context: dict[str, Any] = {
        "nav": "disputes",
        **_row(dispute, timezone.now()),
        "payment": dispute.payment,
        "files": selectors.dispute_evidence_file_list(dispute=dispute),
        "can_answer": can_answer,
        "step_up_fresh": fresh,
        "step_up_url": f"{reverse('accounts:step_up')}?"
        + urlencode({"next": reverse("dispute-detail", args=[dispute.public_id])}),
        "is_open_status": dispute.status in services.DISPUTE_OPEN_STATUSES,
    }
    if can_answer and fresh:
        # Tokens only for forms shown: each one minted is kept in the session.
        context["form"] = form or DisputeEvidenceForm()
        context["tokens"] = {
            "evidence": form_tokens.form_token(
                request, action=_EVIDENCE_ACTION, target=dispute.public_id
            ),
            "accept": form_tokens.form_token(
                request, action=_ACCEPT_ACTION, target=dispute.public_id
            ),
        }
    return render(request, "payments/dispute_detail.html", context, status=status)


@require_GET
@require_permission(Permission.VIEW_PAYMENTS)
def dispute_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return _detail(request, _dispute_or_404(request, public_id))


def _resumed(record: IdempotencyRecord | None, dispute: Dispute) -> bool:
    return idempotency_claim_target(record, target_type="dispute", public_id=dispute.public_id)


@csrf_exempt
def dispute_evidence(request: HttpRequest, public_id: str) -> HttpResponse:
    """Evidence files are held in memory, bounded, and never written to disk; the upload
    handler must be set before anything reads the body, so CSRF is checked just after."""
    handler = EvidenceUploadHandler(request)
    request.upload_handlers = [handler]
    return _dispute_evidence(request, public_id, handler)


@csrf_protect
@require_POST
@require_permission(Permission.MANAGE_DISPUTES)
@step_up_required
def _dispute_evidence(
    request: HttpRequest, public_id: str, handler: EvidenceUploadHandler
) -> HttpResponse:
    dispute = _dispute_or_404(request, public_id)
    form = DisputeEvidenceForm(request.POST, request.FILES, oversize_fields=handler.oversize_fields)
    if not form.is_valid():
        return _detail(request, dispute, form=form, status=400)

    def submit(record: IdempotencyRecord | None) -> FormOutcome:
        resumed = _resumed(record, dispute)
        services.dispute_evidence_submit(
            dispute=dispute,
            actor=Actor.for_user(request.user),
            request=request,
            text=form.text,
            documents=form.documents,
            keep_copy=bool(form.cleaned_data.get("keep_copy")),
            key=record.key if record is not None else f"dispute_{dispute.public_id}",
            resumed=resumed,
            step_up=True,
        )
        return FormOutcome(
            "success",
            "Evidence submitted. The card network usually decides within a few weeks; "
            "this page shows the outcome when it arrives.",
        )

    form_tokens.form_submit(
        request,
        merchant=_merchant(request),
        action=_EVIDENCE_ACTION,
        target=dispute.public_id,
        operation=submit,
        error_text=_error_text,
    )
    return redirect("dispute-detail", public_id=dispute.public_id)


@require_POST
@require_permission(Permission.MANAGE_DISPUTES)
@step_up_required
def dispute_accept(request: HttpRequest, public_id: str) -> HttpResponse:
    dispute = _dispute_or_404(request, public_id)

    def accept(record: IdempotencyRecord | None) -> FormOutcome:
        services.dispute_accept(
            dispute=dispute,
            actor=Actor.for_user(request.user),
            request=request,
            key=record.key if record is not None else f"dispute_{dispute.public_id}",
            resumed=_resumed(record, dispute),
            step_up=True,
        )
        return FormOutcome("success", "Dispute accepted: it is closed as lost.")

    form_tokens.form_submit(
        request,
        merchant=_merchant(request),
        action=_ACCEPT_ACTION,
        target=dispute.public_id,
        operation=accept,
        error_text=_error_text,
    )
    return redirect("dispute-detail", public_id=dispute.public_id)


@require_GET
@require_permission(Permission.MANAGE_DISPUTES)
def dispute_file_download(request: HttpRequest, public_id: str, file_id: str) -> HttpResponse:
    """A kept copy of an evidence document, as an attachment (never rendered inline)."""
    dispute = _dispute_or_404(request, public_id)
    try:
        kept = selectors.dispute_evidence_file_get(dispute=dispute, public_id=file_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    response = HttpResponse(bytes(kept.content or b""), content_type=kept.content_type)
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
    name = f"{dispute.public_id}-{kept.field}.{extension.get(kept.content_type, 'bin')}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
