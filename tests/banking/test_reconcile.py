"""The reconciliation poll: quiet items are re-read from the sandbox Plaid, webhooks or not.

Items linked here have no webhook URL at Plaid, so every change the sandbox makes reaches the
app only if the poll asks for it.
"""

# The sandbox fixtures come from test_rotation.py; pytest injects them by parameter name, which
# ruff reads as redefining the imported names.
# ruff: noqa: F811

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from banking.models import PlaidItem, PlaidItemStatus, VerificationState
from banking.tasks import plaid_items_reconcile_quiet
from compliance.models import AuditEntry
from sandbox.server import SandboxHandle
from tests.banking.test_rotation import (  # noqa: F401 - fixtures shared with the rotation tests
    HOUNDSTOOTH,
    PASS_MICRODEPOSITS,
    LinkItem,
    access_token_of,
    link_item,
    plaid_call,
    plaid_sandbox,
)

pytestmark = pytest.mark.django_db


def _quiet(*items: PlaidItem, hours: int = 7) -> None:
    PlaidItem.objects.filter(pk__in=[i.pk for i in items]).update(
        synced_at=timezone.now() - timedelta(hours=hours)
    )


def test_the_beat_schedule_runs_the_poll() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["banking-plaid-items-reconcile"]
    assert entry["task"] == "banking.tasks.plaid_items_reconcile_quiet"
    assert plaid_items_reconcile_quiet.name == entry["task"]


def test_a_verification_plaid_never_announced_is_picked_up_by_the_poll(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    quiet = link_item(institution=HOUNDSTOOTH, password=PASS_MICRODEPOSITS)
    fresh = link_item(institution=HOUNDSTOOTH, password=PASS_MICRODEPOSITS)
    for item in (quiet, fresh):
        account = item.accounts.get()
        assert account.verification_state == VerificationState.PENDING_AUTOMATIC
        status, body = plaid_call(
            plaid_sandbox,
            "/sandbox/item/set_verification_status",
            {
                "access_token": access_token_of(item),
                "account_id": account.plaid_account_id,
                "verification_status": "automatically_verified",
            },
        )
        assert status == 200, body
    _quiet(quiet)

    result = plaid_items_reconcile_quiet.delay().get()

    assert result == {"synced": 1, "changed": 1, "failed": 0, "left": 0}
    verified = quiet.accounts.get()
    assert verified.verification_state == VerificationState.VERIFIED
    assert verified.verified_at is not None
    assert verified.routing_fingerprint  # the numbers exist once verified
    quiet.refresh_from_db()
    assert quiet.synced_at is not None
    assert timezone.now() - quiet.synced_at < timedelta(minutes=1)
    # The item read recently is left to its webhooks until it goes quiet.
    assert fresh.accounts.get().verification_state == VerificationState.PENDING_AUTOMATIC
    entry = AuditEntry.objects.get(action="plaid_item.sync", target_id=quiet.public_id)
    assert entry.actor_id == "banking.reconcile"
    assert entry.payload["changed"] == {verified.public_id: "verified"}
    # A second run finds nothing due.
    assert plaid_items_reconcile_quiet.delay().get()["synced"] == 0


def test_a_login_error_without_a_webhook_is_found_and_final_items_are_never_polled(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    broken, revoked, removed = link_item(), link_item(), link_item()
    status, _ = plaid_call(
        plaid_sandbox, "/sandbox/item/reset_login", {"access_token": access_token_of(broken)}
    )
    assert status == 200
    PlaidItem.objects.filter(pk=revoked.pk).update(status=PlaidItemStatus.REVOKED)
    PlaidItem.objects.filter(pk=removed.pk).update(status=PlaidItemStatus.REMOVED)
    _quiet(broken, revoked, removed)
    quiet_since = {i.pk: PlaidItem.objects.get(pk=i.pk).synced_at for i in (revoked, removed)}

    assert plaid_items_reconcile_quiet.delay().get()["synced"] == 1

    broken.refresh_from_db()
    assert broken.status == PlaidItemStatus.LOGIN_REQUIRED
    assert broken.error_code == "ITEM_LOGIN_REQUIRED"
    for final in (revoked, removed):
        final.refresh_from_db()
        assert final.synced_at == quiet_since[final.pk]


def test_one_items_failure_is_logged_without_secrets_and_the_others_go_on(
    plaid_sandbox: SandboxHandle, link_item: LinkItem, caplog: pytest.LogCaptureFixture
) -> None:
    failing, healthy = link_item(), link_item()
    token = access_token_of(failing)
    # Plaid replaces the token behind our back: ours is now refused as invalid.
    status, body = plaid_call(
        plaid_sandbox, "/item/access_token/invalidate", {"access_token": token}
    )
    assert status == 200
    _quiet(failing, hours=9)
    _quiet(healthy)

    with caplog.at_level(logging.WARNING, logger="banking"):
        result = plaid_items_reconcile_quiet.delay().get()

    assert result == {"synced": 1, "changed": 0, "failed": 1, "left": 0}
    healthy.refresh_from_db()
    assert timezone.now() - healthy.synced_at < timedelta(minutes=1)  # type: ignore[operator]
    failing.refresh_from_db()
    assert timezone.now() - failing.synced_at > timedelta(hours=8)  # type: ignore[operator]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"Reconciling Plaid item {failing.public_id} failed: invalid_access_token" in logged
    assert token not in logged
    assert body["new_access_token"] not in logged
    assert "access-sandbox" not in logged


def test_runs_are_bounded_and_take_the_quietest_first(link_item: LinkItem) -> None:
    items = [link_item() for _ in range(3)]
    for hours, item in zip((10, 30, 20), items, strict=True):
        _quiet(item, hours=hours)

    assert plaid_items_reconcile_quiet.delay(max_items=1).get()["synced"] == 1
    fresh = {
        i.public_id
        for i in PlaidItem.objects.filter(synced_at__gt=timezone.now() - timedelta(minutes=1))
    }
    assert fresh == {items[1].public_id}
    assert plaid_items_reconcile_quiet.delay(max_items=5).get()["synced"] == 2


def test_consent_expiring_at_plaid_is_found_from_the_items_consent_time(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    item = link_item()
    # Plaid sets the consent time and sends PENDING_EXPIRATION; the item has no webhook URL.
    plaid_sandbox.control.plaid_fire_webhook(item.item_id, "PENDING_EXPIRATION")
    _quiet(item)

    assert plaid_items_reconcile_quiet.delay().get()["changed"] == 1

    item.refresh_from_db()
    assert item.status == PlaidItemStatus.PENDING_EXPIRATION
    assert not item.accounts.first().can_move_money  # type: ignore[union-attr]
