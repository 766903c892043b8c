"""Admin: the audit log (read-only), the data-request queue with its officer actions (each
behind a fresh one-time password), and legal holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Case, QuerySet, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from compliance.data_requests import (
    APPROVE_PERMISSION,
    data_request_approve,
    data_request_deadline,
    data_request_extend,
    data_request_reject,
    data_request_verify,
)
from compliance.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditVerification,
    DataRequest,
    DataRequestStatus,
    DataRequestStep,
    LegalHold,
)
from compliance.selectors import audit_chain_status
from config.admin import ReadOnlyAdmin
from config.exceptions import ApplicationError
from config.free_text import CardNumberGuardFormMixin, GuardedForm


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "actor_kind",
        "actor_id",
        "merchant_public_id",
        "target_type",
        "target_id",
        "outcome",
        "position",
    )
    list_filter = ("outcome", "actor_kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=actor_id", "=target_id", "=merchant_public_id", "action", "=request_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_select_related = ("seal",)
    show_full_result_count = False
    exclude = ("stamp",)

    @admin.display(description="position")
    def position(self, obj: AuditEntry) -> str:
        seal = getattr(obj, "seal", None)
        return str(seal.position) if seal is not None else "pending"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        status = audit_chain_status()
        last = status.last_verification
        verification = (
            f"{last.result} at {last.finished_at:%Y-%m-%d %H:%M} UTC" if last else "never run"
        )
        checkpoint = status.last_checkpoint
        title = (
            f"Audit log: {status.size} sealed, {status.pending} pending; last checkpoint "
            f"{f'#{checkpoint.number} ({checkpoint.size})' if checkpoint else 'none'}; "
            f"last verification {verification}"
        )
        return super().changelist_view(request, {**(extra_context or {}), "title": title})


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("number", "size", "created_at", "head_hash", "public_key")
    ordering = ("-number",)


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "result", "verified", "first_bad_position", "problem")
    ordering = ("-finished_at",)


if TYPE_CHECKING:
    _StepInlineBase = admin.TabularInline[DataRequestStep, DataRequest]
    _HoldAdminBase = admin.ModelAdmin[LegalHold]
    _HoldFormBase = forms.ModelForm[LegalHold]
else:  # Django's admin and form classes take no type parameters at run time
    _StepInlineBase = admin.TabularInline
    _HoldAdminBase = admin.ModelAdmin
    _HoldFormBase = forms.ModelForm


# --- Data requests ----------------------------------------------------------------------------


class DataRequestActionForm(GuardedForm):
    """What an officer gives with an action: how identity was checked, or why (reject/extend)."""

    text = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    months = forms.TypedChoiceField(
        choices=[(1, "1 month"), (2, "2 months")], coerce=int, required=False
    )


# action -> (page title, label of its text field)
_ACTIONS: dict[str, tuple[str, str]] = {
    "verify": ("Verify the requester's identity", "How was their identity checked?"),
    "approve": ("Approve and execute", "Note (optional)"),
    "reject": ("Reject the request", "Reason (told to the requester)"),
    "extend": ("Extend the deadline (Art. 12(3))", "Reason for the extension"),
}


def _run_action(action: str, data_request: DataRequest, officer: Any, form: Any) -> None:
    text, months = form.cleaned_data["text"], form.cleaned_data.get("months") or 0
    if action == "verify":
        data_request_verify(data_request=data_request, officer=officer, method=text)
    elif action == "approve":
        data_request_approve(data_request=data_request, officer=officer)
    elif action == "reject":
        data_request_reject(data_request=data_request, officer=officer, reason=text)
    else:
        data_request_extend(data_request=data_request, officer=officer, months=months, reason=text)


class StepInline(_StepInlineBase):
    model = DataRequestStep
    fields = ("name", "status", "attempts", "last_error", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DataRequest)
class DataRequestAdmin(ReadOnlyAdmin):
    """The compliance officers' queue: open requests first, by deadline, with days left."""

    list_display = (
        "public_id",
        "type",
        "status",
        "subject_kind",
        "subject_reference",
        "merchant_public_id",
        "received_at",
        "deadline",
    )
    list_filter = ("status", "type", "subject_kind")
    search_fields = ("=public_id", "=subject_reference", "=merchant_public_id")
    exclude = ("certificate",)
    readonly_fields = ("deadline", "actions_offered", "timeline")
    inlines = (StepInline,)
    show_full_result_count = False

    class Media:
        css = {"all": ("compliance/data_requests_admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataRequest]:
        finished = [DataRequestStatus.COMPLETED, DataRequestStatus.REJECTED]
        queryset: QuerySet[DataRequest] = (
            super()
            .get_queryset(request)
            .annotate(finished=Case(When(status__in=finished, then=1), default=0))
            .order_by("finished", "due_at", "id")
        )
        return queryset

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return super().has_view_permission(request, obj) or user.has_perm(APPROVE_PERMISSION)

    @admin.display(description="deadline", ordering="due_at")
    def deadline(self, obj: DataRequest) -> str:
        state = data_request_deadline(obj)
        if obj.status in (DataRequestStatus.COMPLETED, DataRequestStatus.REJECTED):
            note, css = ("late" if state.overdue else "on time"), "dsr-done"
        elif state.overdue:
            note, css = f"OVERDUE by {-state.days_left} day(s)", "dsr-overdue"
        else:
            escalated = " (escalated: day 20 passed)" if state.escalated else ""
            note = f"{state.days_left} day(s) left{escalated}"
            css = "dsr-escalated" if state.escalated else "dsr-open"
        return format_html(
            '<span class="{}">{} UTC, {}</span>', css, f"{obj.due_at:%Y-%m-%d %H:%M}", note
        )

    @admin.display(description="actions")
    def actions_offered(self, obj: DataRequest) -> str:
        links = [
            (reverse("admin:compliance_datarequest_act", args=[obj.pk, name]), title)
            for name, (title, _label) in _ACTIONS.items()
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="timeline")
    def timeline(self, obj: DataRequest) -> str:
        entries = AuditEntry.objects.filter(
            target_type="data_request", target_id=obj.public_id
        ).order_by("created_at", "id")
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li>{} UTC: {} by {}</li>",
                (
                    (
                        f"{entry.created_at:%Y-%m-%d %H:%M:%S}",
                        entry.action.removeprefix("data_request."),
                        f"{entry.actor_kind}:{entry.actor_id}",
                    )
                    for entry in entries
                ),
            ),
        )

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:object_id>/act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="compliance_datarequest_act",
            )
        ]
        return custom + super().get_urls()

    def act_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        """One officer action, behind the permission and a one-time password of the last
        5 minutes (asked for, then back here, when older)."""
        if action not in _ACTIONS or not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        data_request = DataRequest.objects.filter(pk=object_id).first()
        if data_request is None:
            raise Http404
        step_up_fresh = getattr(self.admin_site, "step_up_fresh", None)
        if step_up_fresh is None:  # a site without step-up: refuse rather than skip it
            raise PermissionDenied
        if not step_up_fresh(request):
            return HttpResponseRedirect(self.admin_site.step_up_url(request.path))  # type: ignore[attr-defined]
        title, label = _ACTIONS[action]
        form = DataRequestActionForm(request.POST if request.method == "POST" else None)
        form.fields["text"].label = label
        form.fields["text"].required = action != "approve"
        if action != "extend":
            del form.fields["months"]
        if request.method == "POST" and form.is_valid():
            try:
                _run_action(action, data_request, request.user, form)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"{data_request.public_id}: {title.lower()}: done.")
                change = reverse("admin:compliance_datarequest_change", args=[data_request.pk])
                return HttpResponseRedirect(change)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{title}: {data_request.public_id}",
            "data_request": data_request,
            "deadline": self.deadline(data_request),
            "form": form,
        }
        return TemplateResponse(request, "admin/compliance/data_request_action.html", context)


class LegalHoldForm(CardNumberGuardFormMixin, _HoldFormBase):
    class Meta:
        model = LegalHold
        fields = ("merchant_public_id", "customer_public_id", "reason", "released_at")


@admin.register(LegalHold)
class LegalHoldAdmin(_HoldAdminBase):
    """Holds are placed and released here; retention skips what they cover."""

    list_display = (
        "merchant_public_id",
        "customer_public_id",
        "reason",
        "placed_at",
        "released_at",
    )
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    form = LegalHoldForm

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        if not change:
            obj.placed_by = f"user:{getattr(request.user, 'public_id', '')}"
        super().save_model(request, obj, form, change)
