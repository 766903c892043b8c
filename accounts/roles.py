"""Merchant roles and what each may do: the one place permissions are decided.

The permissions themselves are named in `config.permissions` (every app's pages use them,
compliance's too); views, API classes and services ask `role_allows(role, permission)` or the
member (`Membership.has_permission`); nothing else compares role names.
"""

from __future__ import annotations

from django.db import models

from config.permissions import Permission


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


_READ = {
    Permission.VIEW_DASHBOARD,
    Permission.VIEW_PAYMENTS,
    Permission.VIEW_CUSTOMERS,
    Permission.VIEW_TEAM,
}
_ANALYST = _READ | {Permission.EXPORT_PAYMENTS, Permission.VIEW_COMPLIANCE}
_DEVELOPER = _READ | {
    Permission.VIEW_DEVELOPERS,
    Permission.MANAGE_API_KEYS,
    Permission.CREATE_PAYMENTS,
    Permission.MANAGE_PAYMENT_LINKS,
    Permission.MANAGE_CUSTOMERS,
}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Permission),
    # Admins may do everything an owner may, except what the team rules reserve for owners
    # (granting or removing the owner role); see accounts.services.
    Role.ADMIN: frozenset(Permission),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ANALYST: frozenset(_ANALYST),
    Role.VIEWER: frozenset(_READ),
}


def role_allows(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def roles_allowing(permission: str) -> list[Role]:
    """The roles that grant `permission`, most powerful first (as Role lists them)."""
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]
