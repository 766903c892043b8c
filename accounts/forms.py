"""Forms for login, one-time passwords, invitations and team changes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.lockout import normalize_email
from accounts.models import User
from accounts.roles import Role
from config.free_text import GuardedForm

LOGIN_ERROR = "Enter a correct email address and password."


class LoginForm(GuardedForm):
    """Email + password through every configured backend (axes first, then ModelBackend).

    One message for an unknown email, a wrong password and an inactive account; the model
    backend hashes the password for unknown emails too, so the timing matches as well.
    """

    # Hashed, never stored or shown as typed; refusing one would only lock its owner out.
    card_number_exempt_fields = frozenset({"password"})

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email = cleaned.get("email")
        password = cleaned.get("password")
        if email and password:
            # `email=` (the USERNAME_FIELD) so axes and the failure signal see the same key.
            user = authenticate(self.request, email=normalize_email(email), password=password)
            if user is None:
                raise ValidationError(LOGIN_ERROR, code="invalid_login")
            self.user = user
        return cleaned


class OtpForm(GuardedForm):
    token = forms.CharField(
        label="Authentication code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class TotpConfirmForm(GuardedForm):
    token = forms.RegexField(
        label="6-digit code from the app",
        regex=r"^\s*\d{6}\s*$",
        max_length=16,
        error_messages={"invalid": "Enter the 6 digits your app shows."},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
    name = forms.CharField(
        label="Device name",
        max_length=64,
        required=False,
        initial="Authenticator app",
        help_text="Helps you tell your devices apart, e.g. “Work phone”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class InviteForm(GuardedForm):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args: Any, allow_owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not allow_owner:
            # Admins cannot grant the owner role; the service enforces it too.
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]  # type: ignore[attr-defined]


class RoleChangeForm(GuardedForm):
    role = forms.ChoiceField(choices=Role.choices)


class SetPasswordForm(GuardedForm):
    """A new account's password, checked by every configured validator."""

    # Hashed, never stored or shown as typed.
    card_number_exempt_fields = frozenset({"password1", "password2"})

    full_name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1 = cleaned.get("password1")
        password2 = cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            # An unsaved user lets the similarity validator compare against the email.
            candidate = User(email=self.email, full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned
