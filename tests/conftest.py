"""Suite-wide fixtures and the rule for tests that need real services.

A test that needs PostgreSQL, Redis or Chromium skips with a one-line reason on a machine
without them; under CI (LEDGERLINE_REQUIRE_SERVICES=1) the same absence fails the run.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection


def _require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("LEDGERLINE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        _require(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")
    if item.get_closest_marker("redis"):
        _require(bool(os.environ.get("REDIS_URL")), "needs Redis: set REDIS_URL")
    if item.get_closest_marker("browser"):
        _require(shutil.which("chromium") is not None, "needs Chromium: apt-get install chromium")
