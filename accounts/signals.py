"""Login bookkeeping from Django's and axes' signals: session clocks and audit entries.

Receivers rather than view code, so every call of `login()` is handled the same way.
A failed login names a user only by public id, and only when the email belongs to one; the
typed email itself is never recorded.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import session_security
from accounts.lockout import lockout_username, normalize_email
from accounts.models import User
from compliance.actors import Actor
from compliance.services import audit_record


def _known_user_id(email: str) -> str:
    if not email:
        return ""
    return User.objects.filter(email=email).values_list("public_id", flat=True).first() or ""


@receiver(user_logged_in, dispatch_uid="accounts.audit_login_succeeded")
def audit_login_succeeded(
    sender: Any, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    if request is not None and hasattr(request, "session"):
        # Here rather than in a view, so no login path can leave the session without the
        # clocks SessionLifetimeMiddleware reads (it ends a session that has none).
        session_security.record_authentication(request)
    audit_record(
        action="auth.login.succeeded",
        request=request,
        actor=Actor.for_user(user),
        target_type="user",
        target_id=user.public_id,
    )


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None:
        email = lockout_username(request, credentials)
    else:
        email = normalize_email(credentials.get("email") or credentials.get("username"))
    user_id = _known_user_id(email)
    audit_record(
        action="auth.login.failed",
        request=request,
        actor=Actor.anonymous(),
        target_type="user" if user_id else "",
        target_id=user_id,
        outcome="failure",
        payload={"locked_out": bool(getattr(request, "axes_locked_out", False))},
    )


@receiver(user_locked_out, dispatch_uid="accounts.audit_lockout")
def audit_lockout(
    sender: Any, request: HttpRequest, username: str | None = None, **kwargs: Any
) -> None:
    user_id = _known_user_id(normalize_email(username))
    audit_record(
        action="auth.lockout",
        request=request,
        actor=Actor.anonymous(),
        target_type="user" if user_id else "",
        target_id=user_id,
        outcome="failure",
    )
