"""Admin building blocks shared by every app."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


# django-stubs makes ModelAdmin generic over its model; Django's class is not subscriptable.
class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows change through the services (with audit entries), never by hand-editing here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
