"""Dashboard sections that a later release fills; each says so plainly instead of pretending."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def planned_section(
    request: HttpRequest, *, section: str, title: str, summary: str
) -> HttpResponse:
    context = {"title": title, "summary": summary, "nav": section}
    return render(request, "dashboard/planned.html", context)
