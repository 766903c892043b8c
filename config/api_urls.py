"""/api/v1/: each app contributes its own resource routes."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("payments.api.urls")),
    path("", include("payments.api.event_urls")),
    path("", include("payments.api.data_request_urls")),
    path("", include("banking.api.urls")),
]
