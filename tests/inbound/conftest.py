"""Inbound-pipeline fixtures: Stripe's webhooks drive most of these tests, so the payments
fixtures (the sandbox, a merchant, an API client, fast retries) are used here as they are."""

from tests.payments.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    _fast_resilience,
    api,
    merchant,
    sandbox,
    sandbox_control,
)
