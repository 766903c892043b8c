"""Fixtures of the audit log tests: a private export directory and ways to fill the log."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compliance.actors import Actor
from compliance.models import AuditEntry
from compliance.services import audit_record


@pytest.fixture(autouse=True)
def audit_export_dir(settings, tmp_path):
    """Each test exports checkpoints to its own directory, never the shared one."""
    settings.AUDIT_EXPORT_DIR = str(tmp_path / "audit-exports")
    settings.AUDIT_SEAL_INLINE = False
    return tmp_path / "audit-exports"


@pytest.fixture
def record_entries() -> Callable[..., list[AuditEntry]]:
    """Record `count` varied entries (actions, actors, payload shapes) for merchant `merchant`."""

    def record(count: int, *, merchant: str = "mer_test") -> list[AuditEntry]:
        actors = [
            Actor.for_api_key("key_abc"),
            Actor.system("sweeper"),
            Actor.webhook("stripe"),
            Actor.anonymous(),
            Actor(kind="user", id="usr_alice"),
        ]
        return [
            audit_record(
                action=("payment.refund.created", "auth.login.failed", "team.role.changed")[i % 3],
                actor=actors[i % len(actors)],
                merchant_id=merchant,
                target_type="payment",
                target_id=f"pay_{i:06d}",
                outcome="failure" if i % 7 == 0 else "success",
                payload={"amount": i * 100, "currency": "eur", "tags": ["a", i], "ok": i % 2 == 0},
            )
            for i in range(count)
        ]

    return record
