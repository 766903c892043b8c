"""API plumbing fixtures: the payments API is the resource the idempotency and form-token tests
drive, so they use its sandbox processor, merchant and key-holding client."""

from tests.payments.conftest import (  # noqa: F401 - fixtures, registered by import
    _fast_resilience,
    api,
    merchant,
    sandbox,
    sandbox_control,
)
