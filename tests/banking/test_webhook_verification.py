"""Plaid-Verification: ES256 pinned, keys by kid (cached, fetched once, expiry), iat, body hash."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest

from banking.gateways.plaid import client as plaid_client
from banking.gateways.plaid.webhooks import (
    Reason,
    WebhookVerificationError,
    verify_webhook,
)
from tests.banking.plaid_stub import PlaidStub
from tests.banking.webhook_signing import SigningKey, b64url, webhook_body

KEY_PATH = "/webhook_verification_key/get"
BODY = webhook_body("AUTH", "AUTOMATICALLY_VERIFIED", "item_1", account_id="acc_1")


def _refused(body: bytes, header: str | None, now: float | None = None) -> Reason:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body=body, header=header, now=now)
    return caught.value.reason


def test_a_correctly_signed_webhook_is_accepted(key: SigningKey) -> None:
    verified = verify_webhook(body=BODY, header=key.sign(BODY))
    assert (verified.webhook_type, verified.webhook_code, verified.item_id) == (
        "AUTH",
        "AUTOMATICALLY_VERIFIED",
        "item_1",
    )
    assert verified.body_sha256 == hashlib.sha256(BODY).hexdigest()


def test_a_tampered_body_is_refused(key: SigningKey) -> None:
    header = key.sign(BODY)
    tampered = BODY.replace(b"AUTOMATICALLY_VERIFIED", b"VERIFICATION_EXPIRED")
    assert _refused(tampered, header) == Reason.BODY_MISMATCH


def test_a_body_hash_claim_for_another_body_is_refused(key: SigningKey) -> None:
    header = key.sign(BODY, body_hash=hashlib.sha256(b"{}").hexdigest())
    assert _refused(BODY, header) == Reason.BODY_MISMATCH


def test_tampered_claims_break_the_signature(key: SigningKey) -> None:
    header_b64, _, signature = key.sign(BODY).split(".")
    forged = b64url(json.dumps({"iat": int(time.time()), "request_body_sha256": "00"}).encode())
    assert _refused(BODY, f"{header_b64}.{forged}.{signature}") == Reason.MISMATCH


def test_a_signature_by_another_key_under_the_same_kid_is_refused(key: SigningKey) -> None:
    impostor = SigningKey("kid-1")
    assert _refused(BODY, impostor.sign(BODY)) == Reason.MISMATCH


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_an_iat_outside_five_minutes_is_refused(key: SigningKey, age: int) -> None:
    assert _refused(BODY, key.sign(BODY, iat=time.time() - age)) == Reason.STALE_IAT


def test_an_iat_within_five_minutes_is_accepted(key: SigningKey) -> None:
    verify_webhook(body=BODY, header=key.sign(BODY, iat=time.time() - 290))


def test_alg_none_is_refused_without_fetching_a_key(stub: PlaidStub) -> None:
    header = b64url(json.dumps({"alg": "none", "kid": "kid-1"}).encode())
    claims = b64url(json.dumps({"iat": int(time.time()), "request_body_sha256": "x"}).encode())
    assert _refused(BODY, f"{header}.{claims}.") == Reason.BAD_ALG
    assert stub.calls(KEY_PATH) == []


def test_hs256_signed_with_the_public_key_is_refused(stub: PlaidStub, key: SigningKey) -> None:
    """The classic algorithm confusion: an HMAC keyed with the public JWK."""
    header = b64url(json.dumps({"alg": "HS256", "kid": "kid-1"}).encode())
    claims = b64url(
        json.dumps(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(BODY).hexdigest()}
        ).encode()
    )
    mac = hmac.new(json.dumps(key.jwk()).encode(), f"{header}.{claims}".encode(), "sha256")
    assert _refused(BODY, f"{header}.{claims}.{b64url(mac.digest())}") == Reason.BAD_ALG
    assert stub.calls(KEY_PATH) == []


def test_an_unknown_kid_is_refused_and_not_asked_again_at_once(stub: PlaidStub) -> None:
    stub.error(KEY_PATH, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    unknown = SigningKey("kid-unknown")
    assert _refused(BODY, unknown.sign(BODY)) == Reason.UNKNOWN_KID
    assert _refused(BODY, unknown.sign(BODY)) == Reason.UNKNOWN_KID
    assert len(stub.calls(KEY_PATH)) == 1


def test_an_expired_key_is_refused(stub: PlaidStub) -> None:
    expired = SigningKey("kid-old", expired_at=int(time.time()) - 10)
    stub.answer(KEY_PATH, {"key": expired.jwk()})
    assert _refused(BODY, expired.sign(BODY)) == Reason.EXPIRED_KEY


def test_a_cached_key_is_refused_once_its_expiry_passes(stub: PlaidStub) -> None:
    rotating = SigningKey("kid-rot", expired_at=int(time.time()) + 60)
    stub.answer(KEY_PATH, {"key": rotating.jwk()})
    verify_webhook(body=BODY, header=rotating.sign(BODY))
    later = time.time() + 120
    assert _refused(BODY, rotating.sign(BODY, iat=later), now=later) == Reason.EXPIRED_KEY
    assert len(stub.calls(KEY_PATH)) == 1


def test_keys_are_cached_per_kid(stub: PlaidStub, key: SigningKey) -> None:
    for _ in range(3):
        verify_webhook(body=BODY, header=key.sign(BODY))
    second = SigningKey("kid-2")
    stub.answer(KEY_PATH, {"key": second.jwk()})
    verify_webhook(body=BODY, header=second.sign(BODY))
    assert [c["key_id"] for c in stub.calls(KEY_PATH)] == ["kid-1", "kid-2"]


def test_concurrent_first_use_of_a_new_kid_fetches_once(stub: PlaidStub) -> None:
    fresh = SigningKey("kid-new")
    stub.answer(KEY_PATH, {"key": fresh.jwk()})
    stub.delay = 0.2
    header = fresh.sign(BODY)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def deliver() -> None:
        barrier.wait()
        try:
            verify_webhook(body=BODY, header=header)
            outcomes.append("ok")
        except WebhookVerificationError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["ok"] * 8
    assert len(stub.calls(KEY_PATH)) == 1


def test_plaid_unreachable_for_the_key_is_its_own_reason(stub: PlaidStub) -> None:
    for _ in range(plaid_client.MAX_ATTEMPTS):
        stub.error(KEY_PATH, "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    assert _refused(BODY, SigningKey("kid-x").sign(BODY)) == Reason.KEY_UNAVAILABLE


@pytest.mark.parametrize(
    "header",
    [None, "", "a.b", "a.b.c.d", "!!!.###.$$$", "x" * 5000, b64url(b"[1]") + ".e30.", "e30.e30."],
)
def test_garbage_headers_are_refused_with_a_reason(stub: PlaidStub, header: str | None) -> None:
    assert _refused(BODY, header) in {Reason.MISSING_HEADER, Reason.BAD_HEADER, Reason.BAD_ALG}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", Reason.BAD_JSON),
        (b"[]", Reason.BAD_EVENT),
        (b'{"webhook_type": "AUTH"}', Reason.BAD_EVENT),
        (b'{"webhook_type": 1, "webhook_code": "X"}', Reason.BAD_EVENT),
        (b'{"webhook_type": "AUTH", "webhook_code": "X\\u0000"}', Reason.BAD_EVENT),
        (b'{"webhook_type": "AUTH", "webhook_code": "X", "item_id": "\\ud800"}', Reason.BAD_EVENT),
    ],
)
def test_signed_bodies_that_are_not_webhooks_are_refused(
    key: SigningKey, body: bytes, reason: Reason
) -> None:
    assert _refused(body, key.sign(body)) == reason


def test_an_oversized_body_is_refused_before_anything_else(stub: PlaidStub) -> None:
    assert _refused(b"x" * (1024 * 1024 + 1), "a.b.c") == Reason.TOO_LARGE
