"""The acting user of a request, and the audit entry about their own account."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.exceptions import TeamPermissionError
from accounts.models import User
from compliance.actors import Actor
from compliance.services import audit_record


def acting_user(request: HttpRequest) -> User:
    """The request's signed-in user; an anonymous request is refused."""
    user = request.user
    if not user.is_authenticated:
        raise TeamPermissionError("You must be logged in.")
    return user


def user_audit(
    action: str,
    *,
    request: HttpRequest,
    user: Any,
    outcome: str = "success",
    payload: dict[str, Any] | None = None,
) -> None:
    """An entry about the acting user's own account (login, MFA, session, password)."""
    audit_record(
        action=action,
        request=request,
        actor=Actor.for_user(user),
        target_type="user",
        target_id=user.public_id,
        outcome=outcome,
        payload=payload,
    )
