"""Plaid's state in the sandbox: Items with their accounts, and every kind of token.

Everything is plain JSON (dicts) under one lock so the state file can hold it as is. An Item
keeps sandbox-only facts (full account numbers, micro-deposit attempts, the login used) next
to what Plaid shows; `render` in api.py decides what goes on the wire.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from collections import deque
from typing import Any

JSON = dict[str, Any]
ENVIRONMENT = "sandbox"
_ALPHABET = string.ascii_letters + string.digits


def plaid_id() -> str:
    """Item and account ids look like Plaid's: 37 random letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(37))


def token(kind: str) -> str:
    """`access-sandbox-<uuid>`, `public-sandbox-<uuid>`, `link-sandbox-<uuid>`, ..."""
    return f"{kind}-{ENVIRONMENT}-{uuid.uuid4()}"


class PlaidStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.items: dict[str, JSON] = {}
        self.access_tokens: dict[str, str] = {}  # token -> item_id (current tokens only)
        self.public_tokens: dict[str, JSON] = {}  # token -> {item_id, expires}
        self.link_tokens: dict[str, JSON] = {}
        self.processor_tokens: dict[str, JSON] = {}
        self.bank_account_tokens: dict[str, JSON] = {}
        # Webhooks built (sent or not), newest last: tests and the control API read them.
        self.webhooks: deque[JSON] = deque(maxlen=500)

    def account(self, account_id: str) -> tuple[JSON, JSON] | None:
        for item in self.items.values():
            for account in item["accounts"]:
                if account["account_id"] == account_id:
                    return item, account
        return None

    def count(self) -> dict[str, int]:
        with self.lock:
            return {
                "items": len(self.items),
                "accounts": sum(len(i["accounts"]) for i in self.items.values()),
                "access_tokens": len(self.access_tokens),
                "public_tokens": len(self.public_tokens),
                "link_tokens": len(self.link_tokens),
                "processor_tokens": len(self.processor_tokens),
                "bank_account_tokens": len(self.bank_account_tokens),
                "webhooks": len(self.webhooks),
            }

    _PERSISTED = (
        "items",
        "access_tokens",
        "public_tokens",
        "link_tokens",
        "processor_tokens",
        "bank_account_tokens",
    )

    def snapshot(self) -> JSON:
        with self.lock:
            return {name: getattr(self, name) for name in self._PERSISTED}

    def restore(self, data: JSON) -> None:
        with self.lock:
            for name in self._PERSISTED:
                value = data.get(name, {})
                setattr(self, name, dict(value) if isinstance(value, dict) else {})

    def reset(self) -> None:
        with self.lock:
            for name in self._PERSISTED:
                setattr(self, name, {})
            self.webhooks.clear()
