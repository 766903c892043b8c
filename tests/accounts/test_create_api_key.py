"""`create_api_key`: prints a working secret as its last line, fails with one line otherwise."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.api_keys import hash_secret
from accounts.models import ApiKey
from accounts.roles import Role
from compliance.models import AuditEntry
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def _api_status(secret: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get("/api/v1/payments").status_code


def test_last_line_is_a_working_key_for_that_merchant():
    merchant = MerchantFactory(slug="shop")
    MerchantFactory(slug="other")

    output = _run("--merchant", "shop", "--name", "Checkout server")

    secret = output.strip().splitlines()[-1]
    api_key = ApiKey.objects.get()
    assert api_key.secret_hash == hash_secret(secret)
    assert api_key.merchant == merchant
    assert api_key.name == "Checkout server"
    assert api_key.role == Role.DEVELOPER
    assert api_key.created_by is None
    assert output.count(secret) == 1
    assert _api_status(secret) == 200


def test_role_option_sets_what_the_key_may_do():
    MerchantFactory(slug="shop")
    secret = _run("--merchant", "shop", "--role", Role.VIEWER).strip().splitlines()[-1]

    assert ApiKey.objects.get().role == Role.VIEWER
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert (
        client.post("/api/v1/customers", {"email": "a@example.test"}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--merchant", "nope"], "unknown merchant 'nope'"),
        (["--merchant", "shop", "--role", "owner"], "bad role 'owner'"),
        (["--merchant", "shop", "--role", "root"], "bad role 'root'"),
        (["--merchant", "shop", "--name", "   "], "name"),
        (["--merchant", "shop", "--name", "x" * 101], "name"),
    ],
)
def test_failures_give_a_one_line_reason_and_create_nothing(args, reason):
    MerchantFactory(slug="shop")
    with pytest.raises(CommandError) as error:
        _run(*args)
    assert reason in str(error.value)
    assert "\n" not in str(error.value)
    assert not ApiKey.objects.exists()


def test_the_command_is_audited_as_the_system_without_the_secret():
    merchant = MerchantFactory(slug="shop")
    secret = _run("--merchant", "shop").strip().splitlines()[-1]

    entry = AuditEntry.objects.get(action="api_key.created")
    assert entry.actor_kind == "system"
    assert entry.actor_id == "create_api_key"
    assert entry.merchant_public_id == merchant.public_id
    assert entry.payload["step_up"] is False
    assert secret not in json.dumps(list(AuditEntry.objects.values()), default=str)
