"""The dashboard's main navigation: each page with the permission its view requires.

A member sees only the pages their role may open (`tests/accounts/test_navigation.py` proves
every link shown opens and every link hidden answers 403, for every role).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.roles import role_allows
from config.permissions import Permission


@dataclass(frozen=True)
class NavItem:
    key: str  # the `nav` a page sets to mark its own link as current
    label: str
    url_name: str
    permission: str


NAVIGATION = (
    NavItem("home", "Home", "home", Permission.VIEW_DASHBOARD),
    NavItem("payments", "Payments", "payments", Permission.VIEW_PAYMENTS),
    NavItem("disputes", "Disputes", "disputes", Permission.VIEW_PAYMENTS),
    NavItem("balance", "Balance", "balance", Permission.VIEW_PAYMENTS),
    NavItem("customers", "Customers", "customers", Permission.VIEW_CUSTOMERS),
    NavItem("payment-links", "Payment links", "payment-links", Permission.VIEW_PAYMENTS),
    NavItem("bank-accounts", "Bank accounts", "bank-accounts", Permission.VIEW_CUSTOMERS),
    NavItem("developers", "Developers", "developers", Permission.VIEW_DEVELOPERS),
    NavItem("team", "Team", "team:list", Permission.VIEW_TEAM),
    NavItem("compliance", "Compliance", "compliance:home", Permission.VIEW_COMPLIANCE),
    NavItem("settings", "Settings", "settings", Permission.MANAGE_PROCESSORS),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: `nav_items`, the links the current member's role may open."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"nav_items": []}
    return {
        "nav_items": [
            {"key": item.key, "label": item.label, "url": reverse(item.url_name)}
            for item in NAVIGATION
            if role_allows(membership.role, item.permission)
        ]
    }
