"""Inbound-pipeline fixtures: Stripe's webhooks drive most of these tests, so the payments
fixtures (the sandbox, a merchant, an API client, fast retries) are used here as they are."""

from collections.abc import Iterator

import pytest

from config.celery_app import app as celery_app
from tests.payments.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    _fast_resilience,
    api,
    merchant,
    sandbox,
    sandbox_control,
)


@pytest.fixture
def stored_only() -> Iterator[None]:
    """Ingest stores events without processing them (a relay would hand them to a worker)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = saved
