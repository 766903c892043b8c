"""Suite-wide fixtures, the rule for tests that need real services, and the browser.

A test that needs PostgreSQL, Redis or Chromium skips with a one-line reason on a machine
without them; under CI (LEDGERLINE_REQUIRE_SERVICES=1) the same absence fails the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


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
        _require(Path(CHROMIUM).exists(), "needs Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _require(False, "needs Chromium: apt-get install chromium")
    # One Playwright instance per test process: two sync_playwright() cannot coexist.
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself are still synchronous and sequential, so Django's guard does not apply.
    # Module scope: the loop lives only while one browser test module runs.
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
            )
            yield launched
            launched.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    new_page = context.new_page()
    new_page.set_default_timeout(15_000)
    yield new_page
    context.close()


@pytest.fixture
def screenshot(page, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Call `screenshot("step")` to keep var/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
