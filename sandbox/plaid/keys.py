"""Webhook signing keys and the `Plaid-Verification` JWT, built by hand as Plaid builds it.

Plaid signs each webhook with an ES256 (P-256, SHA-256) JWT whose header names the key (`kid`)
and whose claims are `iat` and `request_body_sha256` (hex SHA-256 of the exact body). Receivers
fetch the public key by `kid` from /webhook_verification_key/get as a JWK. Keys rotate: a new
key signs from the moment it is created, older keys stay fetchable, and an expired key carries
`expired_at` so receivers refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None

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
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }

    def to_json(self) -> dict[str, Any]:
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "kid": self.kid,
            "pem": pem.decode("ascii"),
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SigningKey:
        private = serialization.load_pem_private_key(data["pem"].encode("ascii"), None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError("a Plaid signing key must be an EC key")
        return cls(data["kid"], private, int(data["created_at"]), data.get("expired_at"))


def new_key(now: int) -> SigningKey:
    return SigningKey(str(uuid.uuid4()), ec.generate_private_key(ec.SECP256R1()), now)


def es256(private: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """JWS wants r||s, 32 bytes each; `cryptography` gives DER, so convert."""
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jwt(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """`sign(signing_input) -> bytes`; an empty signature gives the `alg: none` form."""
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url(sign(signing_input.encode("ascii")))


@dataclass
class SignatureFaults:
    """Plaid-specific ways to sign wrongly, for receivers' verification tests.

    The shared webhook faults add `stale_timestamp` (an old `iat`) and `wrong_secret` (signed
    by a key that was never published, under the current `kid`).
    """

    alg: str = (
        "ES256"  # "none" (unsigned) or "HS256" (HMAC keyed by the public JWK) to test pinning
    )
    tamper_body: bool = False  # hash claims a different body than the one sent
    unknown_kid: bool = False  # a kid /webhook_verification_key/get does not know

    ALGS = ("ES256", "none", "HS256")

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name == "alg":
                if value not in self.ALGS:
                    raise ValueError(f"alg must be one of {', '.join(self.ALGS)}")
            elif name in ("tamper_body", "unknown_kid"):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be a boolean")
            else:
                raise ValueError(f"unknown setting: {name}")
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        return {"alg": self.alg, "tamper_body": self.tamper_body, "unknown_kid": self.unknown_kid}


class KeyRing:
    """Every signing key this sandbox has published; the newest unexpired one signs."""

    def __init__(self, now: int) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = [new_key(now)]
        self.faults = SignatureFaults()

    def current(self) -> SigningKey:
        with self._lock:
            return self._current()

    def _current(self) -> SigningKey:
        live = [k for k in self._keys if k.expired_at is None]
        return live[-1]

    def get(self, kid: str) -> SigningKey | None:
        with self._lock:
            return next((k for k in self._keys if k.kid == kid), None)

    def rotate(self, now: int) -> SigningKey:
        """A new key signs from now on; the previous ones stay valid until expired."""
        key = new_key(now)
        with self._lock:
            self._keys.append(key)
        return key

    def expire(self, now: int, kid: str | None) -> list[str]:
        """Expire one key (never the only live one), or every key but the current."""
        with self._lock:
            current = self._current()
            if kid is not None:
                targets = [k for k in self._keys if k.kid == kid and k.expired_at is None]
                if not targets:
                    raise KeyError(kid)
                if targets[0] is current:
                    # Plaid always has a live key; rotating first keeps webhooks verifiable.
                    self._keys.append(new_key(now))
            else:
                targets = [k for k in self._keys if k is not current and k.expired_at is None]
            for key in targets:
                key.expired_at = now
            return [k.kid for k in targets]

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [k.jwk() for k in self._keys]

    def sign(self, body: bytes, iat: int, *, wrong_key: bool) -> str:
        with self._lock:
            key = self._current()
            faults = SignatureFaults(**self.faults.to_json())
        kid = str(uuid.uuid4()) if faults.unknown_kid else key.kid
        digest_of = body + b" " if faults.tamper_body else body
        claims = {"iat": iat, "request_body_sha256": hashlib.sha256(digest_of).hexdigest()}
        header = {"alg": faults.alg, "kid": kid, "typ": "JWT"}
        if faults.alg == "none":
            return jwt(header, claims, lambda _: b"")
        if faults.alg == "HS256":
            # The classic algorithm-confusion attack: HMAC keyed with the public key's JSON.
            secret = json.dumps(key.jwk(), sort_keys=True).encode()
            return jwt(header, claims, lambda data: hmac.new(secret, data, "sha256").digest())
        private = ec.generate_private_key(ec.SECP256R1()) if wrong_key else key.private
        return jwt(header, claims, lambda data: es256(private, data))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.to_json() for k in self._keys], "faults": self.faults.to_json()}

    def restore(self, data: dict[str, Any]) -> None:
        keys = [SigningKey.from_json(k) for k in data.get("keys", [])]
        with self._lock:
            if any(k.expired_at is None for k in keys):
                self._keys = keys
            self.faults = SignatureFaults()
            self.faults.update(data.get("faults", {}))

    def reset(self, now: int) -> None:
        with self._lock:
            self._keys = [new_key(now)]
            self.faults = SignatureFaults()
