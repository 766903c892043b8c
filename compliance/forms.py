"""The merchant's audit log filters: validated here, so bad input is a message, never a 500."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from compliance.selectors import AuditFilters
from config.dates import utc_day_range
from config.free_text import GuardedForm

_public_id = RegexValidator(r"^[A-Za-z0-9_.:-]+$", "Use a public id such as usr_… or pay_….")
_action = RegexValidator(r"^[a-z0-9_.]+$", "Use an action code such as auth.login or payment.")


class AuditFilterForm(GuardedForm):
    actor = forms.CharField(required=False, max_length=64, validators=[_public_id])
    action = forms.CharField(required=False, max_length=100, validators=[_action])
    target = forms.CharField(required=False, max_length=64, validators=[_public_id])
    since = forms.DateField(required=False, label="From (UTC)")
    until = forms.DateField(required=False, label="To (UTC, inclusive)")

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned

    def filters(self) -> AuditFilters:
        """The validated filters; call only when `is_valid()`."""
        data = self.cleaned_data
        since, until = utc_day_range(data.get("since"), data.get("until"))
        return AuditFilters(
            actor=data.get("actor") or "",
            action=data.get("action") or "",
            target=data.get("target") or "",
            since=since,
            until=until,
        )
