"""A fixture that records processor calls made while the code under test held a transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from banking.gateways.plaid import api as plaid_api
from payments.gateways.stripe import api as stripe_api


@pytest.fixture
def calls_in_transaction(monkeypatch) -> list[str]:
    """Names of processor calls made while a transaction of the code under test was open."""
    baseline = len(connection.atomic_blocks)  # the test's own transaction(s)
    seen: list[str] = []

    def recording(module: Any) -> None:
        real: Callable[..., Any] = module.call

        def call(operation: str, *args: Any, **kwargs: Any) -> Any:
            if len(connection.atomic_blocks) > baseline:
                seen.append(operation)
            return real(operation, *args, **kwargs)

        monkeypatch.setattr(module, "call", call)

    recording(stripe_api)
    recording(plaid_api)
    return seen
