"""Plaid webhooks as a receiver sees them: POSTed to the Item's URL with a Plaid-Verification
ES256 JWT that verifies against the JWK /webhook_verification_key/get serves, and the faults
a receiver must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from tests.sandbox.plaid.conftest import sandbox_item


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(client: Any, body: bytes, jwt: str) -> dict[str, Any]:
    """What a receiver does: pin ES256, fetch the key by kid, check signature and body hash."""
    header_b64, claims_b64, signature_b64 = jwt.split(".")
    header = json.loads(_b64(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError("alg must be ES256")
    key = client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=header["kid"])
    ).key
    if key.expired_at is not None:
        raise ValueError("key expired")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(key.x), "big"), int.from_bytes(_b64(key.y), "big"), ec.SECP256R1()
    ).public_key()
    raw = _b64(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(_b64(claims_b64))
    if claims["request_body_sha256"] != hashlib.sha256(body).hexdigest():
        raise ValueError("body hash mismatch")
    return {"header": header, "claims": claims}


@pytest.fixture
def item(sandbox, plaid_client, receiver):
    sandbox.control.webhooks(retry={"base_seconds": 0.05, "max_seconds": 0.2, "max_attempts": 2})
    return sandbox_item(plaid_client, webhook=receiver.url)


def _fire(sandbox, plaid_client, token, code="NEW_ACCOUNTS_AVAILABLE"):
    plaid_client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=token, webhook_code=code)
    )
    assert sandbox.control.wait_for_webhooks(10)


def test_webhook_is_signed_as_plaid_signs_it(sandbox, plaid_client, receiver, item):
    token, item_id = item
    _fire(sandbox, plaid_client, token)
    received = receiver.received[-1]
    assert received.event == {
        "webhook_type": "ITEM",
        "webhook_code": "NEW_ACCOUNTS_AVAILABLE",
        "item_id": item_id,
        "error": None,
        "environment": "sandbox",
    }
    checked = verify(plaid_client, received.body, received.headers["plaid-verification"])
    assert checked["header"]["typ"] == "JWT"
    assert abs(checked["claims"]["iat"] - sandbox.control.advance_clock(0)) < 60
    # A receiver that re-serialises the body would hash other bytes: the hash is of these.
    with pytest.raises(ValueError, match="hash"):
        verify(
            plaid_client,
            json.dumps(received.event).encode(),
            received.headers["plaid-verification"],
        )


def test_rotation_signs_with_the_new_key_and_expired_keys_say_so(
    sandbox, plaid_client, receiver, item
):
    token, _ = item
    old = sandbox.control.plaid("GET", "keys")["current"]
    new = sandbox.control.plaid_rotate_key()
    _fire(sandbox, plaid_client, token)
    assert (
        verify(
            plaid_client,
            receiver.received[-1].body,
            receiver.received[-1].headers["plaid-verification"],
        )["header"]["kid"]
        == new
    )
    assert (
        plaid_client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=old)
        ).key.expired_at
        is None
    )
    sandbox.control.plaid_expire_keys()
    expired = plaid_client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=old)
    ).key
    assert expired.expired_at is not None
    _fire(sandbox, plaid_client, token)
    assert (
        verify(
            plaid_client,
            receiver.received[-1].body,
            receiver.received[-1].headers["plaid-verification"],
        )["header"]["kid"]
        == new
    )


@pytest.mark.parametrize(
    "case",
    [
        ({"wrong_secret": True}, {}, InvalidSignature),
        ({}, {"tamper_body": True}, ValueError),
        ({}, {"alg": "none"}, ValueError),
        ({}, {"alg": "HS256"}, ValueError),
    ],
)
def test_signature_faults_fail_verification(sandbox, plaid_client, receiver, item, case):
    shared, signature, error = case
    token, _ = item
    sandbox.control.webhooks(faults=shared)
    if signature:
        sandbox.control.plaid_signature_faults(**signature)
    _fire(sandbox, plaid_client, token)
    received = receiver.received[-1]
    with pytest.raises(error):
        verify(plaid_client, received.body, received.headers["plaid-verification"])


def test_unknown_kid_and_stale_iat(sandbox, plaid_client, receiver, item):
    token, _ = item
    sandbox.control.plaid_signature_faults(unknown_kid=True)
    _fire(sandbox, plaid_client, token)
    with pytest.raises(Exception, match="INVALID_WEBHOOK_VERIFICATION_KEY_ID"):
        verify(
            plaid_client,
            receiver.received[-1].body,
            receiver.received[-1].headers["plaid-verification"],
        )
    sandbox.control.plaid_signature_faults(unknown_kid=False)
    sandbox.control.webhooks(faults={"stale_timestamp": True, "stale_seconds": 900})
    _fire(sandbox, plaid_client, token)
    claims = verify(
        plaid_client,
        receiver.received[-1].body,
        receiver.received[-1].headers["plaid-verification"],
    )["claims"]
    assert sandbox.control.advance_clock(0) - claims["iat"] >= 899


def test_duplicates_arrive_as_identical_bodies(sandbox, plaid_client, receiver, item):
    token, _ = item
    sandbox.control.webhooks(faults={"duplicate": 3})
    _fire(sandbox, plaid_client, token, code="PENDING_DISCONNECT")
    bodies = {r.body for r in receiver.received}
    assert len(receiver.received) == 3
    assert len(bodies) == 1
