"""Forms of the `/settings/` page: connecting Braintree and choosing the routing.

Keys are typed once: the form never renders a key back (the private key is a password input
that keeps no value, the public key is cleared after a submission), so a page shown after an
error does not carry them either.
"""

from __future__ import annotations

from typing import Any

from django import forms

from config.free_text import GuardedForm
from payments.models import ProcessorAccount

# The shape of Braintree's public and private keys (not a key).
_KEY_SHAPE = r"^[A-Za-z0-9_\-]+$"


class BraintreeConnectForm(GuardedForm):
    merchant_id = forms.RegexField(
        label="Merchant ID",
        regex=r"^[A-Za-z0-9_]+$",
        max_length=64,
        error_messages={
            "invalid": "Use the merchant ID as Braintree shows it: letters, digits, _."
        },
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    public_key = forms.RegexField(
        label="Public key",
        regex=_KEY_SHAPE,
        max_length=64,
        error_messages={"invalid": "Use the public key as Braintree shows it."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    private_key = forms.RegexField(
        label="Private key",
        regex=_KEY_SHAPE,
        max_length=64,
        error_messages={"invalid": "Use the private key as Braintree shows it."},
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again.",
    )

    def keys_forgotten(self) -> None:
        """Drop the typed keys so a form shown again renders empty key fields."""
        if self.is_bound:
            self.data = {
                **{name: self.data.get(name, "") for name in self.data},
                "public_key": "",
                "private_key": "",
            }


class RoutingForm(GuardedForm):
    """Which connected processor takes payments, and which one stands in while it is down."""

    primary = forms.ChoiceField(label="Primary processor")
    secondary = forms.ChoiceField(label="Secondary processor", required=False)

    def __init__(self, *args: Any, accounts: list[ProcessorAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        connected = [(a.processor, a.get_processor_display()) for a in accounts]
        primary = self.fields["primary"]
        secondary = self.fields["secondary"]
        assert isinstance(primary, forms.ChoiceField)  # noqa: S101 - declared above
        assert isinstance(secondary, forms.ChoiceField)  # noqa: S101
        primary.choices = connected
        secondary.choices = [("", "None"), *connected]
        self.fields[
            "secondary"
        ].help_text = "Takes the pay page's payments while the primary is down."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("primary") and data.get("primary") == data.get("secondary"):
            self.add_error("secondary", "Choose a different processor than the primary, or none.")
        return data
