"""Login, MFA (enrollment, verification, step-up, backup codes), sessions and tenancy pages.

Views only parse input, call selectors and services, and render; every rule lives in
`accounts.services`. Every view is closed by default (accounts.middleware): the few that
a password-only or anonymous session may reach say so with a decorator.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services, session_security
from accounts.decorators import otp_not_required, step_up_required
from accounts.exceptions import (
    AccountExistsError,
    AlreadyMemberError,
    EnrolmentLinkInvalidError,
    EnrolmentLinkRequiredError,
    InvitationEmailMismatchError,
    InvitationInvalidError,
    MerchantNotFoundError,
)
from accounts.forms import LoginForm, OtpForm, SetPasswordForm, TotpConfirmForm
from accounts.models import User
from accounts.qr import qr_svg

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def safe_next(request: HttpRequest, default: str = "home") -> str:
    """The `next` target if it stays on this site, else the named default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default)


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def no_store(response: HttpResponse) -> HttpResponse:
    """Pages showing secrets (QR, backup codes, invite links) must not be cached anywhere."""
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, private"
    return response


def _has_device(user: Any) -> bool:
    import django_otp

    return bool(django_otp.user_has_device(user, confirmed=True))


# --- Login and logout -------------------------------------------------------------------------


@login_not_required
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid() and form.user is not None:
        next_url = safe_next(request, default=_landing(form.user))
        # login() rotates the session key (and flushes a different user's session).
        login(request, form.user)
        target = "accounts:mfa_verify" if _has_device(form.user) else "accounts:mfa_enroll"
        return HttpResponseRedirect(_with_next(target, next_url))
    return render(request, "accounts/login.html", {"form": form, "next": safe_next(request)})


@otp_not_required
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    services.user_logout(request=request)
    messages.success(request, "You have been logged out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- MFA --------------------------------------------------------------------------------------


def _otp_error(form: OtpForm | TotpConfirmForm, *, throttled: bool) -> None:
    if throttled:
        form.add_error(None, "Too many wrong codes. Wait a minute, then try again.")
    else:
        form.add_error("token", "That code is not valid. Check it and try again.")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@otp_not_required
@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_enroll(request: HttpRequest) -> HttpResponse:
    """TOTP enrollment. A first device needs an enrolment link opened by this session (the
    password alone is not enough); any further device needs a step-up."""
    user: User = request.user  # type: ignore[assignment]
    next_url = safe_next(request, default=_landing(user))
    first = not _has_device(user)
    if not first:
        if not session_security.is_verified(request):
            return HttpResponseRedirect(_with_next("accounts:mfa_verify", request.get_full_path()))
        if not session_security.otp_verified_within(request):
            return HttpResponseRedirect(_with_next("accounts:step_up", request.get_full_path()))
    elif services.enrolment_link_granted(request=request) is None:
        # The password alone never shows a QR code: whoever learnt it would enrol their own.
        return no_store(_enrolment_needed(request, status=403))
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.totp_device_confirm(
                request=request, token=form.cleaned_data["token"], name=form.cleaned_data["name"]
            )
        except EnrolmentLinkRequiredError:
            return no_store(_enrolment_needed(request, status=403))
        if result.confirmed:
            if result.backup_codes:
                context = {"codes": result.backup_codes, "next": next_url, "first": True}
                return no_store(render(request, "accounts/backup_codes.html", context))
            messages.success(request, "Your new authenticator is ready.")
            return redirect("accounts:security")
        _otp_error(form, throttled=result.throttled)
    device = services.totp_device_pending(user=user)
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "first": first,
        "next": next_url,
        "qr": qr_svg(device.config_url, label="QR code for your authenticator app"),
        "secret": _grouped(secret),
    }
    return no_store(render(request, "accounts/mfa_enroll.html", context))


def _landing(user: Any) -> str:
    """Where a login ends by default: platform staff without a merchant work in the admin."""
    if user.is_staff and not selectors.membership_list_for_user(user=user).exists():
        return "admin:index"
    return "home"


def _enrolment_needed(request: HttpRequest, *, status: int, message: str = "") -> HttpResponse:
    """How to get an enrolment link (and why one is needed), or why this one cannot be used."""
    context = {"message": message, "is_staff": request.user.is_staff}
    return render(request, "accounts/enrolment_needed.html", context, status=status)


@login_not_required
@otp_not_required
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def enrolment_link(request: HttpRequest, token: str) -> HttpResponse:
    """A one-time enrolment link: its person proves their password here, then enrols."""
    link = selectors.enrolment_link_get_pending(token=token)
    if link is None:
        message = EnrolmentLinkInvalidError.default_message
        return no_store(_enrolment_needed(request, status=404, message=message))
    user = request.user
    if user.is_authenticated and user.pk != link.user_id:
        message = "This enrolment link is for another account. Log out, then open it again."
        return no_store(_enrolment_needed(request, status=403, message=message))
    if not user.is_authenticated:
        # The email comes from the link, never from the form: the password is checked for
        # the link's own person, through the login form's lockout and audit.
        data = {"email": link.user.email, "password": request.POST.get("password", "")}
        form = LoginForm(request, data=data if request.method == "POST" else None)
        if not (request.method == "POST" and form.is_valid() and form.user is not None):
            context = {"form": form, "link_user": link.user}
            return no_store(render(request, "accounts/enrolment_link.html", context))
        login(request, form.user)
        user = form.user
    if _has_device(user):
        return HttpResponseRedirect(_with_next("accounts:mfa_verify", reverse(_landing(user))))
    try:
        services.enrolment_link_open(request=request, token=token)
    except EnrolmentLinkInvalidError as error:
        return no_store(_enrolment_needed(request, status=404, message=error.message))
    return HttpResponseRedirect(_with_next("accounts:mfa_enroll", reverse(_landing(user))))


@otp_not_required
@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if session_security.is_verified(request):
        return HttpResponseRedirect(next_url)
    if not _has_device(request.user):
        return HttpResponseRedirect(_with_next("accounts:mfa_enroll", next_url))
    return _otp_page(request, next_url=next_url, template="accounts/mfa_verify.html")


@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """Asks for a fresh OTP even on a verified session, then returns to a validated `next`."""
    return _otp_page(request, next_url=safe_next(request), template="accounts/step_up.html")


def _otp_page(request: HttpRequest, *, next_url: str, template: str) -> HttpResponse:
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.otp_verify(request=request, token=form.cleaned_data["token"])
        if result.ok:
            return HttpResponseRedirect(next_url)
        _otp_error(form, throttled=result.throttled)
    return render(request, template, {"form": form, "next": next_url})


@never_cache
def security(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    context = {
        "devices": selectors.totp_device_list(user=user),
        "backup_codes_remaining": selectors.backup_codes_remaining(user=user),
        "nav": "security",
    }
    return render(request, "accounts/security.html", context)


@require_POST
@step_up_required
def backup_codes(request: HttpRequest) -> HttpResponse:
    """Regenerate backup codes (old ones stop working) and show the new ones this once."""
    codes = services.backup_codes_regenerate(request=request)
    context = {"codes": codes, "next": reverse("accounts:security"), "first": False}
    return no_store(render(request, "accounts/backup_codes.html", context))


@require_POST
@step_up_required
def mfa_reset(request: HttpRequest) -> HttpResponse:
    services.mfa_reset(request=request)
    messages.warning(request, "Your second factors were removed. Set up an authenticator now.")
    return redirect("accounts:mfa_enroll")


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
@step_up_required
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    form.fields["old_password"].widget.attrs["autocomplete"] = "current-password"
    for name in ("new_password1", "new_password2"):
        form.fields[name].widget.attrs["autocomplete"] = "new-password"
    if request.method == "POST" and form.is_valid():
        services.password_change(request=request, form=form)
        messages.success(request, "Password changed. Your other sessions have been logged out.")
        return redirect("accounts:security")
    return render(request, "accounts/password_change.html", {"form": form, "nav": "security"})


# --- Tenancy ----------------------------------------------------------------------------------


@require_POST
def switch_merchant(request: HttpRequest) -> HttpResponse:
    try:
        membership = services.merchant_switch(
            request=request, merchant_public_id=request.POST.get("merchant", "")[:64]
        )
    except MerchantNotFoundError:
        messages.error(request, "You are not a member of that merchant.")
        return redirect("home")
    messages.success(request, f"Switched to {membership.merchant.legal_name}.")
    return HttpResponseRedirect(safe_next(request))


@never_cache
def no_merchant(request: HttpRequest) -> HttpResponse:
    if getattr(request, "membership", None) is not None:
        return redirect("home")
    if request.user.is_staff:
        # Platform staff work in the admin; a merchant-less dashboard is not their page.
        return redirect("admin:index")
    return render(request, "accounts/no_merchant.html")


# --- Invitations ------------------------------------------------------------------------------


def _invitation_error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "accounts/invite_invalid.html", {"message": message}, status=status)


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Redeem an invitation: an existing user logs in first, a new one sets a password."""
    invitation = selectors.invitation_get_pending(token=token)
    if invitation is None:
        return _invitation_error(request, InvitationInvalidError.default_message, 404)
    here = request.get_full_path()
    user = request.user
    context: dict[str, Any] = {"invitation": invitation}
    if not user.is_authenticated:
        if selectors.user_exists(email=invitation.email):
            context["login_url"] = _with_next("accounts:login", here)
            return no_store(render(request, "accounts/invite_login.html", context))
        return _invite_new_user(request, token, context)
    if not session_security.is_verified(request):
        return HttpResponseRedirect(_with_next("accounts:mfa_verify", here))
    if request.method == "POST":
        try:
            membership = services.invite_accept(token=token, user=user, request=request)
        except InvitationEmailMismatchError as error:
            return _invitation_error(request, error.message, 403)
        except InvitationInvalidError as error:
            return _invitation_error(request, error.message, 404)
        except AlreadyMemberError as error:
            return _invitation_error(request, error.message, 409)
        request.session[session_security.CURRENT_MERCHANT] = membership.merchant.public_id
        messages.success(request, f"You joined {membership.merchant.legal_name}.")
        return redirect("home")
    return no_store(render(request, "accounts/invite_accept.html", context))


def _invite_new_user(request: HttpRequest, token: str, context: dict[str, Any]) -> HttpResponse:
    invitation = context["invitation"]
    form = SetPasswordForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            joined = services.invite_accept_new_user(
                token=token,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
                request=request,
            )
        except (InvitationInvalidError, AccountExistsError) as error:
            return _invitation_error(request, error.message, error.status_code)
        membership = joined.membership
        login(request, membership.user, backend=MODEL_BACKEND)
        request.session[session_security.CURRENT_MERCHANT] = membership.merchant.public_id
        # Set the password and enrol in one flow: the invitation link proved this person.
        request.session[session_security.ENROLMENT_LINK] = joined.enrolment_link.public_id
        return HttpResponseRedirect(_with_next("accounts:mfa_enroll", reverse("home")))
    context["form"] = form
    return no_store(render(request, "accounts/invite_signup.html", context))
