"""Retention: apply the policies in settings.RETENTION_POLICIES to the categories apps register.

A policy names a category (`payments.refunded_payments`) and an age in days; records older
than that, and not under a legal hold (`LegalHold`), are deleted or stripped of the person by
the category's own `apply`. Run by beat daily and by `manage.py apply_retention [--dry-run]`;
each real run writes one audit entry with the counts per policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from compliance import personal_data
from compliance.actors import Actor
from compliance.models import LegalHold
from compliance.services import audit_record


@dataclass(frozen=True)
class PolicyRun:
    policy: str
    days: int
    matched: int
    applied: int


def retention_policies() -> list[tuple[str, int]]:
    configured: dict[str, Any] = settings.RETENTION_POLICIES
    categories = personal_data.retention_categories()
    policies = []
    for name, policy in configured.items():
        days = policy.get("days") if isinstance(policy, dict) else None
        if name not in categories:
            raise ImproperlyConfigured(f"RETENTION_POLICIES names an unknown category {name!r}")
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ImproperlyConfigured(f"RETENTION_POLICIES[{name!r}] needs days >= 1")
        policies.append((name, days))
    return policies


def legal_holds() -> personal_data.Holds:
    active = LegalHold.objects.filter(released_at__isnull=True)
    return personal_data.Holds(
        merchants=frozenset(
            active.filter(customer_public_id="").values_list("merchant_public_id", flat=True)
        ),
        customers=frozenset(
            active.exclude(customer_public_id="").values_list("customer_public_id", flat=True)
        ),
    )


def retention_apply(
    *, dry_run: bool = False, progress: Callable[[str, int], None] | None = None
) -> list[PolicyRun]:
    """Apply every policy now (or count what it would touch); returns the counts."""
    now = timezone.now()
    holds = legal_holds()
    categories = personal_data.retention_categories()
    runs = []
    for name, days in retention_policies():
        category = categories[name]
        rows = category.select(now - timedelta(days=days), holds)
        matched = rows.count()
        applied = 0
        if not dry_run and matched:
            with transaction.atomic():
                applied = category.apply(rows)
        runs.append(PolicyRun(policy=name, days=days, matched=matched, applied=applied))
        if progress is not None:
            progress(name, matched)
    if not dry_run:
        with transaction.atomic():
            audit_record(
                action="retention.applied",
                actor=Actor.system("retention.apply"),
                payload={"policies": {r.policy.replace(".", ":"): r.applied for r in runs}},
            )
    return runs
