"""Merchant roles and what each may do: the one place permissions are decided.

Views, API classes and services ask `role_allows(role, permission)` (or the helpers in
`accounts.permissions`); nothing else compares role names.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


class Permission(models.TextChoices):
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_PAYMENTS = "view_payments"
    EXPORT_PAYMENTS = "export_payments"
    CREATE_PAYMENTS = "create_payments"
    MANAGE_PAYMENTS = "manage_payments"  # capture, cancel
    REFUND_PAYMENTS = "refund_payments"
    MANAGE_PAYMENT_LINKS = "manage_payment_links"
    VIEW_CUSTOMERS = "view_customers"
    MANAGE_CUSTOMERS = "manage_customers"
    MANAGE_BANK_ACCOUNTS = "manage_bank_accounts"
    VIEW_DEVELOPERS = "view_developers"
    MANAGE_API_KEYS = "manage_api_keys"
    VIEW_TEAM = "view_team"
    MANAGE_TEAM = "manage_team"
    VIEW_COMPLIANCE = "view_compliance"
    MANAGE_DATA_REQUESTS = "manage_data_requests"


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
