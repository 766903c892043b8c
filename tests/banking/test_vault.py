"""Token vault: envelope encryption bound to its row, key rotation, KMS, and no plaintext leaks."""

from __future__ import annotations

import base64
import io
import logging
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from banking.exceptions import VaultError, VaultKeyError
from banking.models import VaultSecret
from banking.vault import Binding, newest_key_id, vault_open, vault_rewrap, vault_seal

pytestmark = pytest.mark.django_db

TOKEN = "access-sandbox-0b6c3e1a-9f1d-4c1e-8a55-5d1f0c3c7a21"


def _key(key_id: str) -> str:
    return f"{key_id}:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


OLD = _key("k-2024")
NEW = _key("k-2025")


def _binding(row: str = "pitem_a", merchant: str = "mer_a", item: str = "item_a") -> Binding:
    return Binding(purpose="plaid_access_token", row=row, merchant=merchant, item=item)


def test_seal_then_open_returns_the_plaintext_and_stores_no_plaintext() -> None:
    secret = vault_seal(plaintext=TOKEN, binding=_binding())
    stored = VaultSecret.objects.get(pk=secret.pk)
    assert TOKEN.encode() not in bytes(stored.ciphertext)
    assert stored.key_id == "local:test-1"
    assert vault_open(secret=stored, binding=_binding()) == TOKEN


def test_each_secret_gets_its_own_data_key_and_nonce() -> None:
    first = vault_seal(plaintext=TOKEN, binding=_binding())
    second = vault_seal(plaintext=TOKEN, binding=_binding())
    assert bytes(first.wrapped_key) != bytes(second.wrapped_key)
    assert bytes(first.ciphertext) != bytes(second.ciphertext)


@pytest.mark.parametrize(
    "other",
    [
        _binding(row="pitem_b"),
        _binding(merchant="mer_b"),
        _binding(item="item_b"),
        Binding(purpose="other", row="pitem_a", merchant="mer_a", item="item_a"),
    ],
)
def test_a_secret_opened_for_another_row_merchant_or_item_fails(other: Binding) -> None:
    secret = vault_seal(plaintext=TOKEN, binding=_binding())
    with pytest.raises(VaultError):
        vault_open(secret=secret, binding=other)


def test_a_ciphertext_copied_into_another_secret_row_fails_to_open() -> None:
    """Given two rows, when row B's payload is overwritten with row A's, B no longer opens."""
    a = vault_seal(plaintext=TOKEN, binding=_binding(row="pitem_a", item="item_a"))
    b = vault_seal(plaintext="access-sandbox-other", binding=_binding(row="pitem_b", item="item_b"))
    VaultSecret.objects.filter(pk=b.pk).update(
        wrapped_key=a.wrapped_key, nonce=a.nonce, ciphertext=a.ciphertext
    )
    b.refresh_from_db()
    with pytest.raises(VaultError):
        vault_open(secret=b, binding=_binding(row="pitem_b", item="item_b"))
    with pytest.raises(VaultError):
        vault_open(secret=b, binding=_binding(row="pitem_a", item="item_a"))


def test_a_tampered_ciphertext_fails_to_open() -> None:
    secret = vault_seal(plaintext=TOKEN, binding=_binding())
    raw = bytearray(bytes(secret.ciphertext))
    raw[0] ^= 1
    secret.ciphertext = bytes(raw)
    with pytest.raises(VaultError):
        vault_open(secret=secret, binding=_binding())


def test_a_missing_key_id_fails_clearly() -> None:
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        secret = vault_seal(plaintext=TOKEN, binding=_binding())
    with override_settings(ENCRYPTION_KEYS=[NEW]), pytest.raises(VaultKeyError, match="k-2024"):
        vault_open(secret=secret, binding=_binding())


def test_a_wrong_key_under_the_same_id_fails() -> None:
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        secret = vault_seal(plaintext=TOKEN, binding=_binding())
    impostor = _key("k-2024")
    with override_settings(ENCRYPTION_KEYS=[impostor]), pytest.raises(VaultError):
        vault_open(secret=secret, binding=_binding())


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "No key-encryption key"),
        (["no-colon"], "key-id:base64url"),
        (["short:" + base64.urlsafe_b64encode(b"x" * 16).decode()], "32 bytes"),
        ([OLD, OLD], "same id"),
    ],
)
def test_a_bad_key_ring_is_refused_with_a_reason(keys: list[str], message: str) -> None:
    with override_settings(ENCRYPTION_KEYS=keys), pytest.raises(VaultKeyError, match=message):
        newest_key_id()


def test_a_key_equal_to_the_secret_key_is_refused() -> None:
    secret_key = "k" * 32 + "-rest-of-a-long-django-secret-key"
    material = base64.urlsafe_b64encode(secret_key.encode()[:32]).decode()
    with (
        override_settings(SECRET_KEY=secret_key, ENCRYPTION_KEYS=[f"same:{material}"]),
        pytest.raises(VaultKeyError, match="SECRET_KEY"),
    ):
        newest_key_id()


def test_rewrap_changes_only_the_wrapped_key_and_still_opens() -> None:
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        secret = vault_seal(plaintext=TOKEN, binding=_binding())
    before = (bytes(secret.nonce), bytes(secret.ciphertext), bytes(secret.wrapped_key))
    with override_settings(ENCRYPTION_KEYS=[NEW, OLD]):
        assert vault_rewrap(secret=secret, target_key_id="local:k-2025")
        secret.refresh_from_db()
        assert (bytes(secret.nonce), bytes(secret.ciphertext)) == before[:2]
        assert bytes(secret.wrapped_key) != before[2]
        assert secret.key_id == "local:k-2025"
    # The old key is no longer needed at all.
    with override_settings(ENCRYPTION_KEYS=[NEW]):
        assert vault_open(secret=secret, binding=_binding()) == TOKEN


def _run_rotation(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def test_rotation_command_rewraps_every_row_in_batches_and_is_idempotent() -> None:
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        secrets = [vault_seal(plaintext=f"{TOKEN}-{n}", binding=_binding()) for n in range(5)]
    payloads = {s.pk: bytes(s.ciphertext) for s in secrets}
    with override_settings(ENCRYPTION_KEYS=[NEW, OLD]):
        assert "5 data keys would be re-wrapped" in _run_rotation("--dry-run")
        assert set(VaultSecret.objects.values_list("key_id", flat=True)) == {"local:k-2024"}
        assert "Re-wrapped 5 data keys" in _run_rotation("--batch-size", "2")
        assert "Re-wrapped 0 data keys" in _run_rotation()
    for stored in VaultSecret.objects.all():
        assert bytes(stored.ciphertext) == payloads[stored.pk]
        with override_settings(ENCRYPTION_KEYS=[NEW]):
            assert vault_open(secret=stored, binding=_binding()).startswith(TOKEN)


def test_rotation_resumes_after_a_partial_run() -> None:
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        secrets = [vault_seal(plaintext=TOKEN, binding=_binding()) for _ in range(3)]
    with override_settings(ENCRYPTION_KEYS=[NEW, OLD]):
        vault_rewrap(secret=secrets[0], target_key_id="local:k-2025")
        assert "Re-wrapped 2 data keys" in _run_rotation()


def test_rotation_reports_rows_it_cannot_open_in_one_line_and_fails() -> None:
    lost = _key("k-lost")
    with override_settings(ENCRYPTION_KEYS=[lost]):
        orphan = vault_seal(plaintext=TOKEN, binding=_binding())
    with override_settings(ENCRYPTION_KEYS=[OLD]):
        vault_seal(plaintext=TOKEN, binding=_binding())
    with (
        override_settings(ENCRYPTION_KEYS=[NEW, OLD]),
        pytest.raises(CommandError) as caught,
    ):
        _run_rotation()
    message = str(caught.value)
    assert "\n" not in message
    assert orphan.public_id in message
    assert "k-lost" in message
    assert VaultSecret.objects.filter(key_id="local:k-2025").count() == 1


def test_rotation_without_any_key_fails_with_one_line() -> None:
    with override_settings(ENCRYPTION_KEYS=[]), pytest.raises(CommandError, match="ENCRYPTION"):
        _run_rotation()


def test_no_access_token_in_the_database_or_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with override_settings(ENCRYPTION_KEYS=[NEW, OLD]):
        secret = vault_seal(plaintext=TOKEN, binding=_binding())
        vault_open(secret=secret, binding=_binding())
    dump = io.StringIO()
    call_command("dumpdata", "banking", stdout=dump)
    assert "access-" not in dump.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT wrapped_key, nonce, ciphertext FROM banking_vaultsecret")
        for row in cursor.fetchall():
            for value in row:
                assert b"access-" not in bytes(value)
    assert "access-" not in caplog.text


class TestKms:
    """AWS KMS as the key-encryption key, through moto."""

    @pytest.fixture
    def kms_key(self, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
        moto = pytest.importorskip("moto")
        import boto3

        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with moto.mock_aws():
            yield boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]

    def test_seal_and_open_with_kms(self, kms_key: str) -> None:
        with override_settings(AWS_KMS_KEY_ID=kms_key):
            secret = vault_seal(plaintext=TOKEN, binding=_binding())
            assert secret.key_id == f"kms:{kms_key}"
            assert vault_open(secret=secret, binding=_binding()) == TOKEN
            with pytest.raises(VaultError):
                vault_open(secret=secret, binding=_binding(merchant="mer_b"))

    def test_kms_refuses_a_data_key_moved_to_another_secret(self, kms_key: str) -> None:
        with override_settings(AWS_KMS_KEY_ID=kms_key):
            a = vault_seal(plaintext=TOKEN, binding=_binding())
            b = vault_seal(plaintext=TOKEN, binding=_binding())
            b.wrapped_key = a.wrapped_key
            with pytest.raises(VaultError, match="KMS"):
                vault_open(secret=b, binding=_binding())

    def test_rotation_from_the_local_ring_to_kms(self, kms_key: str) -> None:
        with override_settings(ENCRYPTION_KEYS=[OLD]):
            secret = vault_seal(plaintext=TOKEN, binding=_binding())
        with override_settings(ENCRYPTION_KEYS=[OLD], AWS_KMS_KEY_ID=kms_key):
            assert "Re-wrapped 1 data keys" in _run_rotation()
            secret.refresh_from_db()
            assert secret.key_id == f"kms:{kms_key}"
        with override_settings(ENCRYPTION_KEYS=[], AWS_KMS_KEY_ID=kms_key):
            assert vault_open(secret=secret, binding=_binding()) == TOKEN
