"""Idempotent requests as Stripe runs them (https://docs.stripe.com/api/idempotent_requests).

The first response for a key (status and body, 500s included) is stored and replayed for every
retry with the same key; the same key with other parameters or on another endpoint is an
`idempotency_error`; a retry while the first request still runs gets 409
`idempotency_key_in_use`. Results are saved only when the endpoint began executing, so a
request refused by parameter validation leaves the key free. Keys are scoped per account
(platform and `Stripe-Account`) and kept for 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.clock import Clock
from sandbox.stripe.errors import StripeError

KEY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass
class Stored:
    status: int
    body: bytes
    request_id: str


@dataclass
class _Entry:
    fingerprint: str
    endpoint: str
    created: float
    result: Stored | None = None  # None while the first request is in flight


def request_fingerprint(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def begin(self, scope: str, key: str, endpoint: str, params: Any) -> Stored | None:
        """Claim the key; returns a stored result to replay, or None when this request runs.

        Raises the Stripe error for a key in use or reused with other parameters."""
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Invalid idempotency key: must be at most {MAX_KEY_LENGTH} characters.",
                stored=False,
            )
        fingerprint = request_fingerprint(params)
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            entry = self._entries.get((scope, key))
            if entry is None:
                self._entries[(scope, key)] = _Entry(fingerprint, endpoint, now)
                return None
            if entry.endpoint != endpoint:
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used for the same endpoint they "
                    f"were first used for ('{entry.endpoint}' vs '{endpoint}'). Try using a key "
                    f"other than '{key}' if you meant to execute a different request.",
                    stored=False,
                )
            if entry.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    stored=False,
                )
            if entry.result is None:
                raise StripeError(
                    409,
                    "invalid_request_error",
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                    stored=False,
                )
            return entry.result

    def finish(self, scope: str, key: str, result: Stored | None) -> None:
        """Store the result, or release the key when the request never began executing."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is None:
                return
            if result is None:
                del self._entries[(scope, key)]
            else:
                entry.result = result

    def _expire(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if now - e.created >= KEY_TTL_SECONDS]
        for k in stale:
            del self._entries[k]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- persistence: only finished results; an in-flight claim dies with its process ------
    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": e.fingerprint,
                    "endpoint": e.endpoint,
                    "created": e.created,
                    "status": e.result.status,
                    "body": e.result.body.decode(),
                    "request_id": e.result.request_id,
                }
                for (scope, key), e in self._entries.items()
                if e.result is not None
            ]

    def restore(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._entries = {
                (row["scope"], row["key"]): _Entry(
                    row["fingerprint"],
                    row["endpoint"],
                    row["created"],
                    Stored(row["status"], row["body"].encode(), row["request_id"]),
                )
                for row in rows
            }

    def reset(self) -> None:
        self.restore([])
