"""The merchant's compliance page: their data requests, their own audit entries (filters, CSV
export) and the chain status. Opening a request and its detail page are served by
`payments.data_request_views` (they need step-up and the customers, which compliance may not
import)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from compliance.canonical import format_time
from compliance.forms import AuditFilterForm
from compliance.selectors import (
    AuditFilters,
    audit_chain_status,
    audit_entry_list,
    data_request_queryset,
    data_request_row,
)
from config.permissions import Permission, require_permission

PAGE_SIZE = 50
DATA_REQUEST_PAGE_SIZE = 20
CSV_COLUMNS = (
    "position",
    "time_utc",
    "actor_kind",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "ip",
    "request_id",
)


def _merchant_id(request: HttpRequest) -> str:
    # require_permission guarantees a current membership, hence a merchant.
    return str(request.merchant.public_id)  # type: ignore[attr-defined]


@require_GET
@require_permission(Permission.VIEW_COMPLIANCE)
def home(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else AuditFilters()
    entries = audit_entry_list(merchant_public_id=_merchant_id(request), filters=filters)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("requests_page", None)
    requests_page = Paginator(
        data_request_queryset(merchant_public_id=_merchant_id(request)), DATA_REQUEST_PAGE_SIZE
    ).get_page(request.GET.get("requests_page"))
    member = request.membership  # type: ignore[attr-defined]
    context = {
        "title": "Compliance",
        "nav": "compliance",
        "form": form,
        "page": page,
        "status": audit_chain_status(),
        "query": query.urlencode(),
        "requests_page": requests_page,
        "request_rows": [data_request_row(item) for item in requests_page],
        "can_open_requests": member.has_permission(Permission.MANAGE_DATA_REQUESTS),
    }
    return render(request, "compliance/home.html", context)


class _Echo:
    """A file-like sink for csv.writer that hands each line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: str) -> str:
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_lines(filters: AuditFilters, merchant_public_id: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    entries = audit_entry_list(merchant_public_id=merchant_public_id, filters=filters)
    for entry in entries.iterator(chunk_size=2000):
        seal = getattr(entry, "seal", None)
        row = (
            str(seal.position) if seal is not None else "",
            format_time(entry.created_at),
            entry.actor_kind,
            entry.actor_id,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.outcome,
            entry.ip,
            entry.request_id,
        )
        yield writer.writerow([_safe_cell(cell) for cell in row])


@require_GET
@require_permission(Permission.VIEW_COMPLIANCE)
def export_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(
            str(message) for messages in form.errors.values() for message in messages
        )
        return HttpResponse(f"Invalid filters: {errors}\n", status=400, content_type="text/plain")
    filters = form.filters() if form.is_bound else AuditFilters()
    response = StreamingHttpResponse(
        _csv_lines(filters, _merchant_id(request)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
