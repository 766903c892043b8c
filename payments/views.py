"""Server-rendered dashboard pages for payments."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import require_permission
from accounts.roles import Permission


@require_permission(Permission.VIEW_DASHBOARD)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/home.html", {"nav": "home"})
