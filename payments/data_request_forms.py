"""The merchant's form to open a GDPR data request for one of its customers."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from compliance import personal_data
from compliance.models import DataRequestType, ErasureGround
from config.free_text import CARD_NUMBER_CODE, GuardedForm

CUSTOMER_ID_RE = re.compile(r"^cus_[A-Za-z0-9]{1,60}$")


class DataRequestForm(GuardedForm):
    """Who (a `cus_` id, or an email: every customer record of the merchant with it), what
    (access or erasure, with its Art. 17(1) ground) and the merchant's attestation of the
    requester's identity, recorded as the request's verification."""

    customer = forms.CharField(
        label="Customer (cus_… id or email address)",
        max_length=254,
        help_text="By email: every customer record of yours with that address is included.",
    )
    type = forms.ChoiceField(
        label="Request", choices=DataRequestType.choices, widget=forms.RadioSelect
    )
    ground = forms.ChoiceField(
        label="Ground for erasure (Art. 17(1))",
        choices=[("", "Choose the ground (erasure only)"), *ErasureGround.choices],
        required=False,
    )
    verification = forms.CharField(
        label="How did you verify the requester's identity?",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: the request came from the email address on file. "
        "Do not copy identity documents here.",
    )
    attest = forms.BooleanField(
        label="I attest that we verified the requester is this customer.", required=True
    )

    def __init__(self, *args: Any, merchant_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.merchant_id = merchant_id
        self.subject: personal_data.Subject | None = None

    def full_clean(self) -> None:
        super().full_clean()
        # The page shown again must not print a card number typed by mistake.
        refused = [
            name
            for name, errors in self.errors.as_data().items()
            if any(error.code == CARD_NUMBER_CODE for error in errors)
        ]
        if refused:
            self.data = {**self.data, **dict.fromkeys(refused, "")}

    def clean_customer(self) -> str:
        value = " ".join(str(self.cleaned_data["customer"]).split())
        if not (CUSTOMER_ID_RE.match(value) or ("@" in value and "\x00" not in value)):
            raise forms.ValidationError("Give a customer id (cus_…) or an email address.")
        try:
            self.subject = personal_data.subject_resolve(
                personal_data.SubjectKind.CUSTOMER, merchant_id=self.merchant_id, reference=value
            )
        except personal_data.SubjectNotFoundError as error:
            raise forms.ValidationError(
                "None of your customers has that id or email address."
            ) from error
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, ground = cleaned.get("type"), cleaned.get("ground")
        if kind == DataRequestType.ERASURE and not ground:
            self.add_error("ground", "An erasure names its ground, Art. 17(1)(a)-(f).")
        if kind == DataRequestType.ACCESS and ground:
            self.add_error("ground", "Only an erasure has a ground; leave it empty for access.")
        return cleaned
