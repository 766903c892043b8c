"""API keys: minted (secret shown once, only its keyed hash stored) and revoked, within the
role of the person who manages them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.api_keys import PREFIX_LENGTH, SECRET_PREFIX, generate_secret, hash_secret
from accounts.decorators import ensure_step_up
from accounts.exceptions import (
    InvalidRoleError,
    TeamPermissionError,
)
from accounts.models import (
    ApiKey,
    Membership,
    Merchant,
    User,
)
from accounts.roles import ROLE_PERMISSIONS, Permission, Role, role_allows
from compliance.actors import Actor
from compliance.services import audit_record
from config.exceptions import ApplicationError

API_KEY_NAME_MAX_LENGTH = 100  # ApiKey.name's max_length


def api_key_role_allowed(*, creator_role: str | None, role: str) -> bool:
    """Whether a key with `role` may be minted by someone holding `creator_role`.

    Keys never get the owner role (a leaked key must not be able to do what only a person
    should). A person's key may do nothing they cannot do themselves: the key role's
    permissions must be a subset of the creator's. `creator_role=None` is the operator's
    `create_api_key` command, bounded only by the first rule.
    """
    if role not in Role.values or role == Role.OWNER:
        return False
    if creator_role is None:
        return True
    return ROLE_PERMISSIONS.get(role, frozenset()) <= ROLE_PERMISSIONS.get(
        creator_role, frozenset()
    )


def _api_key_manager_role(*, merchant: Merchant, user: User | None) -> str | None:
    """The acting person's role in `merchant` (None for the system), if it may manage keys."""
    if user is None:
        return None
    membership = Membership.objects.filter(merchant=merchant, user=user).first()
    if membership is None or not role_allows(membership.role, Permission.MANAGE_API_KEYS):
        raise TeamPermissionError(
            "Your role does not allow managing API keys.", code="api_key_permission_denied"
        )
    return membership.role


def _api_key_audit_payload(api_key: ApiKey, *, step_up: bool) -> dict[str, Any]:
    # `key_id`, not `api_key` (a key name the scrubber redacts). Of the prefix only the
    # random characters after the public `ll_sk_` marker: the audit scrubber masks
    # anything shaped like a key, and these few characters identify it without revealing it.
    return {
        "key_id": api_key.public_id,
        "prefix": api_key.prefix.removeprefix(SECRET_PREFIX),
        "role": api_key.role,
        "step_up": step_up,
    }


def _step_up_of(request: HttpRequest | None) -> bool:
    if request is None:
        return False
    ensure_step_up(request)
    return True


def api_key_create(
    *,
    merchant: Merchant,
    name: str,
    role: str,
    created_by: User | None,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Mint a key for `merchant`; returns it with its secret, which exists in clear only here.

    Only the keyed hash is stored, so the caller must show the secret once and forget it.
    From the dashboard (`request` given) a fresh step-up OTP is required.
    """
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise ApplicationError(
            "Give the key a name of at most 100 characters.", code="invalid_name", param="name"
        )
    step_up = _step_up_of(request)
    creator_role = _api_key_manager_role(merchant=merchant, user=created_by)
    if role not in Role.values or role == Role.OWNER:
        raise InvalidRoleError("API keys may have any role except owner.", param="role")
    if not api_key_role_allowed(creator_role=creator_role, role=role):
        raise TeamPermissionError(
            "A key may not do more than your own role allows.", code="api_key_role_too_high"
        )
    secret = generate_secret()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant,
            name=name,
            role=role,
            prefix=secret[:PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            created_by=created_by,
        )
        audit_record(
            action="api_key.created",
            request=request,
            actor=Actor.for_user(created_by) if created_by else Actor.system("create_api_key"),
            merchant_id=merchant.public_id,
            target_type="api_key",
            target_id=api_key.public_id,
            payload=_api_key_audit_payload(api_key, step_up=step_up),
        )
    return api_key, secret


def api_key_revoke(
    *, api_key: ApiKey, revoked_by: User | None, request: HttpRequest | None = None
) -> ApiKey:
    """Revoke a key at once (its next request answers 401); revoking twice changes nothing.

    Anyone who may manage keys may revoke any key of the merchant, whatever its role:
    revoking only takes power away, and it is what an incident needs fast.
    """
    step_up = _step_up_of(request)
    _api_key_manager_role(merchant=api_key.merchant, user=revoked_by)
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("merchant").get(pk=api_key.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoked",
            request=request,
            actor=Actor.for_user(revoked_by) if revoked_by else Actor.system("api_key_revoke"),
            merchant_id=locked.merchant.public_id,
            target_type="api_key",
            target_id=locked.public_id,
            payload=_api_key_audit_payload(locked, step_up=step_up),
        )
    return locked
