"""/api/v1/: each app contributes its own resource routes."""

urlpatterns: list = []
