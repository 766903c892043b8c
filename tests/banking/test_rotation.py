"""Plaid access-token rotation against the sandbox Plaid: service, command and admin action.

The sandbox (its own thread and port) is Plaid here: the gateway and plaid-python talk to it
through `PLAID_API_BASE`. The fixtures at the top (`plaid_sandbox`, `link_item`, `plaid_call`)
are shared with test_reconcile.py and test_new_accounts.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from banking import services
from banking.exceptions import BankLinkSessionUnavailableError, InvalidBankingRequestError
from banking.gateways import plaid as plaid_gateway
from banking.gateways.plaid import client as plaid_client
from banking.models import PlaidItem, PlaidItemStatus, VaultSecret
from compliance.actors import Actor
from compliance.models import AuditEntry
from sandbox.server import SandboxHandle, start_in_thread
from tests.factories import UserFactory, verified_client
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "ledgerline_sandbox_client"
SECRET = "ledgerline_sandbox_secret"
FIRST_PLATYPUS, HOUNDSTOOTH = "ins_109508", "ins_109512"
PASS_GOOD, PASS_MICRODEPOSITS = "pass_good", "microdeposits_good"
ACTOR = Actor.system("tests")


@pytest.fixture
def plaid_sandbox(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    """A fresh sandbox Plaid per test, and the app pointed at it."""
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    with start_in_thread(port=0) as handle:
        settings.PLAID_API_BASE = handle.url
        settings.PLAID_CLIENT_ID = CLIENT_ID
        settings.PLAID_SECRET = SECRET
        yield handle


def plaid_call(
    handle: SandboxHandle, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """One Plaid API call on the sandbox, as Plaid's own test tooling would make it."""
    data = json.dumps({"client_id": CLIENT_ID, "secret": SECRET, **body}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback sandbox
        f"{handle.url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


LinkItem = Callable[..., PlaidItem]


@pytest.fixture
def link_item(plaid_sandbox: SandboxHandle) -> LinkItem:
    """Link an item through Plaid's /sandbox/public_token/create and our bank_link_complete.

    `hide` names account masks the sandbox keeps back during the link (as if the customer had
    not shared them yet); `reveal(item)` on the returned function gives them back at Plaid.
    """
    hidden: dict[str, list[dict[str, Any]]] = {}

    def link(
        *,
        customer: Any = None,
        institution: str = FIRST_PLATYPUS,
        password: str = PASS_GOOD,
        hide: tuple[str, ...] = (),
    ) -> PlaidItem:
        status, body = plaid_call(
            plaid_sandbox,
            "/sandbox/public_token/create",
            {
                "institution_id": institution,
                "initial_products": ["auth"],
                "options": {"override_password": password},
            },
        )
        assert status == 200, body
        if hide:
            store = plaid_sandbox.sandbox.plaid.store
            with store.lock:
                item_id = store.public_tokens[body["public_token"]]["item_id"]
                accounts = store.items[item_id]["accounts"]
                hidden[item_id] = [a for a in accounts if a["mask"] in hide]
                accounts[:] = [a for a in accounts if a["mask"] not in hide]
        customer = customer or CustomerFactory()
        new = services.bank_link_session_create(
            merchant=customer.merchant, customer=customer, actor=ACTOR
        )
        return services.bank_link_complete(
            session=new.session, public_token=body["public_token"], metadata={}
        )

    def reveal(item: PlaidItem) -> None:
        store = plaid_sandbox.sandbox.plaid.store
        with store.lock:
            store.items[item.item_id]["accounts"].extend(hidden.pop(item.item_id))

    link.reveal = reveal  # type: ignore[attr-defined]
    return link


def access_token_of(item: PlaidItem) -> str:
    item.refresh_from_db()
    return services.plaid_item_access_token(item=item)


def _works(handle: SandboxHandle, token: str) -> tuple[bool, str]:
    status, body = plaid_call(handle, "/item/get", {"access_token": token})
    return status == 200, str(body.get("error_code", ""))


# --- The service -----------------------------------------------------------------------------


def test_rotation_kills_the_old_token_keeps_the_new_one_sealed_and_audits(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    item = link_item()
    old_token = access_token_of(item)
    old_secret = item.access_token
    assert old_secret is not None

    result = services.plaid_item_rotate_access_token(item=item, actor=ACTOR)

    new_token = access_token_of(item)
    assert new_token != old_token
    assert _works(plaid_sandbox, old_token) == (False, "INVALID_ACCESS_TOKEN")
    assert _works(plaid_sandbox, new_token) == (True, "")
    # The same item keeps working through the app with the new token.
    assert services.plaid_item_sync(item=item, actor=ACTOR).item_status == PlaidItemStatus.ACTIVE
    assert not VaultSecret.objects.filter(pk=old_secret.pk).exists()
    assert item.access_token is not None
    assert item.access_token.public_id == result.new_secret != result.old_secret
    entry = AuditEntry.objects.get(action="plaid_item.rotate_access_token")
    assert entry.target_id == item.public_id
    assert entry.payload == {
        "vault_row_before": old_secret.public_id,
        "vault_row_after": result.new_secret,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM banking_vaultsecret")
        dump = repr(cursor.fetchall())
        cursor.execute("SELECT payload FROM compliance_auditentry")
        dump += repr(cursor.fetchall())
    assert new_token not in dump
    assert old_token not in dump


def test_the_new_token_is_bound_to_its_item_like_the_old_one(link_item: LinkItem) -> None:
    item, other = link_item(), link_item()
    services.plaid_item_rotate_access_token(item=item, actor=ACTOR)
    item.refresh_from_db()
    # The new secret moved onto another item's row fails the binding check.
    other.access_token = item.access_token
    with pytest.raises(Exception, match="does not belong"):
        services.plaid_item_access_token(item=other)


def test_a_removed_item_has_nothing_to_rotate_and_plaid_is_not_called(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    item = link_item()
    account = item.accounts.first()
    assert account is not None
    for other in item.accounts.exclude(pk=account.pk):
        services.bank_account_disconnect(account=other, actor=ACTOR)
    services.bank_account_disconnect(account=account, actor=ACTOR)
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.REMOVED
    with pytest.raises(InvalidBankingRequestError):
        services.plaid_item_rotate_access_token(item=item, actor=ACTOR)
    assert not AuditEntry.objects.filter(action="plaid_item.rotate_access_token").exists()


def test_an_item_removed_while_plaid_answered_keeps_no_new_token(
    link_item: LinkItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = link_item()
    real = plaid_gateway.access_token_invalidate

    def invalidate_then_removed(*, access_token: str) -> str:
        new = real(access_token=access_token)
        # A disconnect lands between Plaid's answer and our write.
        secret_pk = PlaidItem.objects.get(pk=item.pk).access_token_id
        PlaidItem.objects.filter(pk=item.pk).update(
            status=PlaidItemStatus.REMOVED, access_token=None, removed_at=timezone.now()
        )
        VaultSecret.objects.filter(pk=secret_pk).delete()
        return new

    monkeypatch.setattr(plaid_gateway, "access_token_invalidate", invalidate_then_removed)
    with pytest.raises(BankLinkSessionUnavailableError):
        services.plaid_item_rotate_access_token(item=item, actor=ACTOR)
    assert not VaultSecret.objects.exists()
    assert PlaidItem.objects.get(pk=item.pk).access_token is None


# --- The command -----------------------------------------------------------------------------


def _run(*args: str) -> str:
    out = StringIO()
    call_command("rotate_plaid_access_tokens", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_counts_on_dry_run_then_rotates_every_live_item_once(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    items = [link_item() for _ in range(3)]
    tokens = [access_token_of(i) for i in items]
    assert "3 access tokens" in _run("--dry-run")
    assert [access_token_of(i) for i in items] == tokens

    out = _run()
    assert "Rotated 3 access tokens." in out
    for item, old in zip(items, tokens, strict=True):
        assert _works(plaid_sandbox, old)[0] is False
        assert _works(plaid_sandbox, access_token_of(item))[0] is True
    assert AuditEntry.objects.filter(action="plaid_item.rotate_access_token").count() == 3


def test_an_interrupted_run_resumes_with_the_printed_time_and_skips_rotated_items(
    link_item: LinkItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [link_item() for _ in range(3)]
    real = services.plaid_item_rotate_access_token
    calls = {"n": 0}

    def dies_on_second(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(**kwargs)

    from banking.management.commands import rotate_plaid_access_tokens as command

    monkeypatch.setattr(command, "plaid_item_rotate_access_token", dies_on_second)
    out = StringIO()
    with pytest.raises(KeyboardInterrupt):
        call_command("rotate_plaid_access_tokens", stdout=out, stderr=StringIO())
    resume_at = out.getvalue().split("--sealed-before ")[1].split(")")[0]
    monkeypatch.setattr(command, "plaid_item_rotate_access_token", real)

    assert "Rotated 2 access tokens." in _run("--sealed-before", resume_at)
    assert AuditEntry.objects.filter(action="plaid_item.rotate_access_token").count() == 3
    rotated = {e.target_id for e in AuditEntry.objects.filter(action__contains="rotate")}
    assert rotated == {i.public_id for i in items}
    assert "Rotated 0 access tokens." in _run("--sealed-before", resume_at)


def test_one_item_and_failures_exit_non_zero_with_one_line(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    first, second = link_item(), link_item()
    assert "Rotated 1 access tokens." in _run("--item", first.public_id)
    # Plaid no longer knows the second item: its rotation fails, and the run says so.
    status, _ = plaid_call(plaid_sandbox, "/item/remove", {"access_token": access_token_of(second)})
    assert status == 200
    with pytest.raises(CommandError) as failed:
        _run("--item", second.public_id)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("1 access tokens could not be rotated; first: " + second.public_id)
    with pytest.raises(CommandError, match="No Plaid item"):
        _run("--item", "pitem_nope")
    with pytest.raises(CommandError, match="ISO 8601"):
        _run("--sealed-before", "yesterday")


# --- The admin action ------------------------------------------------------------------------


def _staff(*perms: str) -> Client:
    user = UserFactory(is_staff=True)
    for codename in perms:
        user.user_permissions.add(AuthPermission.objects.get(codename=codename))
    return verified_client(user)


def test_the_admin_shows_no_secret_and_rotates_only_for_permitted_staff(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    item = link_item()
    token = access_token_of(item)
    url = reverse("admin:banking_plaiditem_changelist")
    action = {"action": "rotate_access_token", "_selected_action": [item.pk]}

    viewer = _staff("view_plaiditem", "view_bankaccount", "view_banklinksession")
    for page in (
        url,
        reverse("admin:banking_plaiditem_change", args=[item.pk]),
        reverse("admin:banking_bankaccount_changelist"),
        reverse("admin:banking_banklinksession_changelist"),
    ):
        response = viewer.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert token not in text
        assert "access-" not in text
        assert "vs_" not in text
    assert b"rotate_access_token" not in viewer.get(url).content
    viewer.post(url, action)
    assert access_token_of(item) == token

    rotator = _staff("view_plaiditem", "change_plaiditem")
    assert b"rotate_access_token" in rotator.get(url).content
    response = rotator.post(url, action, follow=True)
    assert b"Rotated 1 access token" in response.content
    assert access_token_of(item) != token
    entry = AuditEntry.objects.get(action="plaid_item.rotate_access_token")
    assert entry.actor_kind == "user"
