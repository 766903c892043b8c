"""Dashboard forms for disputes: the evidence form and the period filter of the list.

The evidence form's checks are `payments.dispute_evidence`'s (shared with the API), shown as
field errors; its files arrive through `EvidenceUploadHandler`, in memory and bounded.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from config.free_text import CARD_NUMBER_CODE, GuardedForm, refuse_card_numbers
from payments import dispute_evidence as evidence
from payments.models import DisputeStatus

_SHORT_TEXT = frozenset(
    {
        "customer_name",
        "customer_email_address",
        "shipping_carrier",
        "shipping_tracking_number",
        "shipping_date",
    }
)
_ACCEPT = "application/pdf,image/png,image/jpeg,.pdf,.png,.jpg,.jpeg"


class DisputeEvidenceForm(GuardedForm):
    """Text evidence, documents and whether Ledgerline keeps copies of the documents."""

    keep_copy = forms.BooleanField(
        label="Keep a copy of the documents in Ledgerline",
        required=False,
        help_text="Unticked, the documents go only to the payment processor and are not stored.",
    )

    def __init__(self, *args: Any, oversize_fields: set[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._oversize = oversize_fields or set()
        for name, (label, help_text) in evidence.TEXT_FIELDS.items():
            widget = forms.TextInput() if name in _SHORT_TEXT else forms.Textarea(attrs={"rows": 3})
            self.fields[name] = forms.CharField(
                label=label,
                help_text=help_text,
                required=False,
                max_length=evidence.TEXT_MAX_LENGTH,
                widget=widget,
            )
        for name, label in evidence.FILE_FIELDS.items():
            self.fields[name] = forms.FileField(
                label=label,
                required=False,
                allow_empty_file=True,
                widget=forms.ClearableFileInput(attrs={"accept": _ACCEPT}),
            )
        # Built after the guard mixin ran in super(): guard the text fields added here too.
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and refuse_card_numbers not in field.validators:
                field.validators.append(refuse_card_numbers)
        self.documents: list[evidence.EvidenceDocument] = []
        self.text: dict[str, str] = {}

    def full_clean(self) -> None:
        super().full_clean()
        # A refused card number is not written back into the page that shows the error.
        refused = [
            name
            for name, errors in self.errors.as_data().items()
            if any(error.code == CARD_NUMBER_CODE for error in errors)
        ]
        if refused:
            data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            for name in refused:
                data[name] = ""
            self.data = data

    def text_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in evidence.TEXT_FIELDS]

    def file_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in evidence.FILE_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        documents: list[evidence.EvidenceDocument] = []
        for name in evidence.FILE_FIELDS:
            if name in self._oversize:
                self.add_error(
                    name,
                    f"The file is larger than {evidence.MAX_FILE_BYTES / (1024 * 1024):.1f} MB.",
                )
                continue
            upload = cleaned.get(name)
            if not upload:
                continue
            try:
                documents.append(
                    evidence.check_document(
                        field=name, filename=str(upload.name or ""), content=upload.read()
                    )
                )
            except evidence.EvidenceError as error:
                self.add_error(name, error.message)
        try:
            evidence.check_documents(documents)
        except evidence.EvidenceError as error:
            self.add_error(None, error.message)
        try:
            self.text = evidence.clean_text({k: cleaned.get(k) for k in evidence.TEXT_FIELDS})
        except evidence.EvidenceError as error:
            if error.field not in self.errors:
                self.add_error(error.field, error.message)
        if not self.errors and not self.text and not documents:
            self.add_error(None, "Give at least one piece of evidence: a text field or a document.")
        self.documents = documents
        return cleaned


class DisputeFilterForm(GuardedForm):
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *DisputeStatus.choices],
    )
