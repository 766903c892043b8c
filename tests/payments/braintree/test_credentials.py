"""Connecting a merchant's Braintree account: keys proved by a test call before anything is
stored, sealed under the project's key ring (rotation included), never shown again, audited
without secrets."""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from compliance.actors import Actor
from compliance.models import AuditEntry
from payments import processor_credentials
from payments.exceptions import (
    InvalidPaymentRequestError,
    ProcessorAccountTakenError,
    ProcessorKeysInvalidError,
    ProcessorUnavailableError,
)
from payments.models import ProcessorAccount, ProcessorCredential
from payments.services import braintree_account_connect
from sandbox.client import SandboxControl
from tests.factories import MerchantFactory
from tests.payments.braintree.conftest import MERCHANT_ID, PRIVATE_KEY, PUBLIC_KEY

ACTOR = Actor.system("tests")


def _connect(merchant: Any, **overrides: str) -> ProcessorAccount:
    keys = {"merchant_id": MERCHANT_ID, "public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY}
    return braintree_account_connect(merchant=merchant, actor=ACTOR, **{**keys, **overrides})


def test_good_keys_are_sealed_and_the_account_can_charge(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    account = _connect(bt_merchant)
    assert (account.processor, account.processor_account_id) == ("braintree", MERCHANT_ID)
    assert account.charges_enabled
    credential = ProcessorCredential.objects.get(account=account)
    assert credential.key_id == "local:test-1"
    assert PRIVATE_KEY.encode() not in bytes(credential.ciphertext)
    assert PUBLIC_KEY.encode() not in bytes(credential.ciphertext)
    assert processor_credentials.braintree_keys(merchant_id=MERCHANT_ID) == (
        PUBLIC_KEY,
        PRIVATE_KEY,
    )


def test_no_key_is_stored_in_the_clear_anywhere(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    _connect(bt_merchant)
    with connection.cursor() as cursor:
        for table in ("payments_processorcredential", "compliance_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
            assert PRIVATE_KEY not in dump
            assert PUBLIC_KEY not in dump


def test_the_connection_is_audited_without_secrets(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    _connect(bt_merchant)
    entry = AuditEntry.objects.get(action="merchant.processor_account_connect")
    assert entry.outcome == "success"
    assert entry.payload["account"] == MERCHANT_ID
    assert PRIVATE_KEY not in json.dumps(entry.payload)
    assert PUBLIC_KEY not in json.dumps(entry.payload)


def test_keys_braintree_refuses_are_not_stored(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    with pytest.raises(ProcessorKeysInvalidError):
        _connect(bt_merchant, private_key="not_the_private_key")
    assert not ProcessorAccount.objects.filter(processor="braintree").exists()
    assert not ProcessorCredential.objects.exists()
    failure = AuditEntry.objects.get(action="merchant.processor_account_connect")
    assert failure.outcome == "failure"
    assert "not_the_private_key" not in json.dumps(failure.payload)


def test_keys_of_another_merchant_id_are_refused(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    with pytest.raises(ProcessorKeysInvalidError):
        _connect(bt_merchant, merchant_id="someone_else")
    assert not ProcessorCredential.objects.exists()


def test_braintree_down_stores_nothing_and_says_retry_later(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    bt_control.add_fault("error_500", count=10, path=f"/merchants/{MERCHANT_ID}/")
    with pytest.raises(ProcessorUnavailableError):
        _connect(bt_merchant)
    assert not ProcessorCredential.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("merchant_id", ""),
        ("public_key", "has spaces in it"),
        ("private_key", "4111111111111111 and more"),
        ("merchant_id", "x" * 65),
    ],
)
def test_malformed_input_is_refused_before_any_call(
    bt_merchant: Any, bt_control: SandboxControl, field: str, value: str
) -> None:
    with pytest.raises(InvalidPaymentRequestError) as caught:
        _connect(bt_merchant, **{field: value})
    assert caught.value.param == field
    assert value not in caught.value.message or not value


def test_an_account_connected_by_another_merchant_is_refused(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    _connect(bt_merchant)
    with pytest.raises(ProcessorAccountTakenError):
        _connect(MerchantFactory())


def test_reconnecting_replaces_the_keys(bt_merchant: Any, bt_control: SandboxControl) -> None:
    first = _connect(bt_merchant)
    old = ProcessorCredential.objects.get(account=first).public_id
    second = _connect(bt_merchant)
    assert second.pk == first.pk
    assert ProcessorCredential.objects.get(account=second).public_id != old


def test_a_sealed_credential_copied_to_another_account_does_not_open(
    bt_merchant: Any, bt_control: SandboxControl
) -> None:
    from config.envelope import EnvelopeError

    account = _connect(bt_merchant)
    credential = ProcessorCredential.objects.get(account=account)
    other = ProcessorAccount.objects.create(
        merchant=MerchantFactory(), processor="braintree", processor_account_id="other_merchant"
    )
    credential.account = other
    with pytest.raises(EnvelopeError):
        processor_credentials.credential_open(credential)


def test_rotate_encryption_key_rewraps_processor_credentials(
    bt_merchant: Any, bt_control: SandboxControl, settings: Any
) -> None:
    account = _connect(bt_merchant)
    before = ProcessorCredential.objects.get(account=account)
    new = "k-next:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    with override_settings(ENCRYPTION_KEYS=[new, *settings.ENCRYPTION_KEYS]):
        out = io.StringIO()
        call_command("rotate_encryption_key", stdout=out)
        after = ProcessorCredential.objects.get(account=account)
        assert after.key_id == "local:k-next"
        assert bytes(after.ciphertext) == bytes(before.ciphertext)  # payload untouched
        processor_credentials.keys_forget()
        assert processor_credentials.braintree_keys(merchant_id=MERCHANT_ID)[1] == PRIVATE_KEY
        out = io.StringIO()
        call_command("rotate_encryption_key", stdout=out)
        assert "Re-wrapped 0" in out.getvalue()
