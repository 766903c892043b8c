"""Absolute one-time link URLs for management commands, which have no request to build them.

The base is `--base-url`, else the `LEDGERLINE_BASE_URL` environment variable, else the
embedded default's address.
"""

from __future__ import annotations

import os

from django.urls import reverse

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def base_url(option: str | None = None) -> str:
    return (option or os.environ.get("LEDGERLINE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def enrolment_url(*, token: str, base: str) -> str:
    return f"{base}{reverse('accounts:enrolment_link', args=[token])}"
