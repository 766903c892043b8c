"""Sign test webhooks as Plaid does: an ES256 JWT with `iat` and the body's SHA-256."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

# The kid of the key the banking tests' `key` fixture has the Plaid stub serve.
TEST_KID = "kid-1"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class SigningKey:
    def __init__(self, kid: str, expired_at: int | None = None) -> None:
        self.kid = kid
        self.expired_at = expired_at
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "created_at": 1_700_000_000,
            "expired_at": self.expired_at,
        }

    def sign(
        self,
        body: bytes,
        *,
        iat: float | None = None,
        alg: str = "ES256",
        body_hash: str | None = None,
    ) -> str:
        return self.sign_segments(
            json.dumps({"alg": alg, "kid": self.kid, "typ": "JWT"}).encode(),
            json.dumps(
                {
                    "iat": int(time.time() if iat is None else iat),
                    "request_body_sha256": body_hash or hashlib.sha256(body).hexdigest(),
                }
            ).encode(),
        )

    def sign_segments(self, jose: bytes, claims: bytes) -> str:
        """A JWT of these exact header and claims bytes, validly signed (for hostile claims)."""
        signing_input = f"{b64url(jose)}.{b64url(claims)}".encode()
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return f"{signing_input.decode()}.{signature}"


def webhook_body(webhook_type: str, webhook_code: str, item_id: str, **extra: Any) -> bytes:
    return json.dumps(
        {
            "webhook_type": webhook_type,
            "webhook_code": webhook_code,
            "item_id": item_id,
            "environment": "sandbox",
            **extra,
        },
        indent=2,
    ).encode()
