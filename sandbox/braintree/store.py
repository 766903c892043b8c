"""The Braintree stand-in's state: plain JSON records behind one lock, kept in the state file.

Records hold money as integer cents and times as sandbox-clock seconds; `render.py` turns them
into Braintree's XML objects. Card numbers are never stored (see `cards.py`).
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from typing import Any

JSON = dict[str, Any]
_LOWER = string.ascii_lowercase + string.digits
KINDS = (
    "transactions",
    "customers",
    "payment_methods",
    "nonces",
    "disputes",
    "disbursements",
    "document_uploads",
)


def random_id(length: int = 8, alphabet: str = _LOWER) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class BraintreeStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.transactions: dict[str, JSON] = {}
        self.customers: dict[str, JSON] = {}
        self.payment_methods: dict[str, JSON] = {}  # vaulted cards by token
        self.nonces: dict[str, JSON] = {}
        self.disputes: dict[str, JSON] = {}
        self.disbursements: dict[str, JSON] = {}
        # Uploaded evidence documents: what Braintree shows of them, never their bytes.
        self.document_uploads: dict[str, JSON] = {}
        self.notifications: list[JSON] = []  # every webhook built, sent or not
        # 3-D Secure challenges waiting for the tester's answer (minutes long, not persisted).
        self.challenges: dict[str, JSON] = {}
        # Signs client-token fingerprints; only the sandbox itself checks them.
        self.fingerprint_key = random_id(32)
        # The other merchants' stores: an id is new only when none of them holds it either, so
        # the control API finds an object's merchant by its id alone.
        self.siblings: list[BraintreeStore] = []

    def new_id(self, kind: str, length: int = 8) -> str:
        tables: list[dict[str, JSON]] = [getattr(s, kind) for s in (self, *self.siblings)]
        while True:
            candidate = random_id(length)
            if all(candidate not in table for table in tables):
                return candidate

    def count(self) -> dict[str, int]:
        with self.lock:
            return {kind: len(getattr(self, kind)) for kind in KINDS}

    def snapshot(self) -> JSON:
        with self.lock:
            data = {kind: getattr(self, kind) for kind in KINDS}
            return copy.deepcopy(
                {
                    **data,
                    "notifications": self.notifications[-500:],
                    "fingerprint_key": self.fingerprint_key,
                }
            )

    def restore(self, data: JSON) -> None:
        with self.lock:
            for kind in KINDS:
                setattr(self, kind, dict(data.get(kind, {})))
            self.notifications = list(data.get("notifications", []))
            self.challenges = {}
            self.fingerprint_key = str(data.get("fingerprint_key") or random_id(32))

    def reset(self) -> None:
        self.restore({})
