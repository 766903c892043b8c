"""Session ends (expiry, logout) and password changes, each audited."""

from __future__ import annotations

from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest

from accounts.decorators import ensure_step_up
from accounts.models import User
from accounts.services.users import acting_user, user_audit


def session_expired(*, request: HttpRequest, reason: str) -> None:
    """Called by SessionLifetimeMiddleware before it logs the user out ('idle' / 'absolute')."""
    user = acting_user(request)
    user_audit(
        "auth.session.expired",
        request=request,
        user=user,
        payload={"reason": reason},
    )


def user_logout(*, request: HttpRequest) -> None:
    user = request.user
    if user.is_authenticated:
        user_audit("auth.logout", request=request, user=user)
    logout(request)


def password_change(*, request: HttpRequest, form: PasswordChangeForm) -> User:
    """Save the new password; every other session of the user ends.

    Django stores a hash derived from the password hash in each session and flushes any
    session whose stored hash no longer matches, so all other sessions are dead from their
    next request on. `update_session_auth_hash` re-signs (and rotates) only this one.
    """
    ensure_step_up(request)
    with transaction.atomic():
        user: User = form.save()
        user_audit("auth.password.changed", request=request, user=user)
    update_session_auth_hash(request, user)
    return user
