"""The Stripe stand-in's state: objects as Stripe JSON, scoped per account, behind one lock.

Objects are kept exactly as the API returns them, so answering is serialising. Sandbox-only
facts (a card's test behaviour, a PaymentIntent's 3-D Secure state) live beside them in
`private`, never in the JSON. Ids are global as at Stripe; an object is visible only from the
account (`Stripe-Account` scope) that owns it.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.stripe.errors import invalid, missing

JSON = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits

# Which fields of each object type `expand[]` may replace by the object they name.
EXPANDABLE: dict[str, set[str]] = {
    "payment_intent": {"customer", "payment_method", "latest_charge", "on_behalf_of"},
    "charge": {"customer", "payment_intent", "balance_transaction", "on_behalf_of", "dispute"},
    "refund": {"charge", "payment_intent", "balance_transaction"},
    "dispute": {"charge", "payment_intent"},
    "setup_intent": {"customer", "payment_method", "mandate"},
    "payment_method": {"customer"},
    "customer": {"default_source", "invoice_settings"},
    "customer.invoice_settings": {"default_payment_method"},
    "balance_transaction": {"source"},
    "payout": {"balance_transaction", "failure_balance_transaction", "destination"},
}


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def platform_account_id(platform: str) -> str:
    """Deterministic, so a restarted sandbox maps the same key to the same platform account."""
    digest = hashlib.sha256(platform.encode()).hexdigest()
    return "acct_1" + digest[:15].upper()


@dataclass(frozen=True)
class Auth:
    platform: str  # the platform's own account id (from the API key)
    account: str  # the account the call acts on: the platform or a connected account
    publishable: bool

    @property
    def connected(self) -> bool:
        return self.account != self.platform


class StripeStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, JSON] = {}
        self.scope: dict[str, str] = {}  # object id -> owning account id
        self.order: dict[str, int] = {}  # object id -> creation sequence (list order)
        self.private: dict[str, JSON] = {}
        # account id -> its money index (see sandbox.stripe.resources.ledger)
        self.ledgers: dict[str, JSON] = {}
        self._seq = 0
        # Called with each new event; the provider wires it to webhook delivery.
        self.on_event: Callable[[JSON], None] = lambda event: None

    # --- objects ---------------------------------------------------------------------------
    def add(self, obj: JSON, account: str) -> JSON:
        with self.lock:
            self._seq += 1
            self.objects[obj["id"]] = obj
            self.scope[obj["id"]] = account
            self.order[obj["id"]] = self._seq
            return obj

    def find(self, object_id: str, account: str, object_type: str) -> JSON | None:
        with self.lock:
            obj = self.objects.get(object_id)
            if obj is None or self.scope.get(object_id) != account:
                return None
            return obj if obj.get("object") == object_type else None

    def get(self, object_id: str, account: str, object_type: str, param: str = "id") -> JSON:
        obj = self.find(object_id, account, object_type)
        if obj is None:
            raise missing(object_type, object_id, param)
        return obj

    def items(self, object_type: str, account: str) -> list[JSON]:
        """Objects of one type in one account, newest first (Stripe's list order)."""
        with self.lock:
            found = [
                obj
                for object_id, obj in self.objects.items()
                if obj.get("object") == object_type and self.scope[object_id] == account
            ]
            return sorted(found, key=lambda obj: self.order[obj["id"]], reverse=True)

    def count(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for obj in self.objects.values():
                counts[obj["object"]] = counts.get(obj["object"], 0) + 1
            return counts

    def private_of(self, object_id: str) -> JSON:
        with self.lock:
            return self.private.setdefault(object_id, {})

    # --- lists -----------------------------------------------------------------------------
    def page(self, items: list[JSON], params: JSON, url: str) -> JSON:
        """A Stripe list object over newest-first items with limit and cursor paging."""
        limit = params.get("limit") or 10
        ids = [item["id"] for item in items]
        if params.get("starting_after"):
            cursor = params["starting_after"]
            if cursor not in ids:
                raise missing("object", cursor, "starting_after")
            rest = items[ids.index(cursor) + 1 :]
            data, has_more = rest[:limit], len(rest) > limit
        elif params.get("ending_before"):
            cursor = params["ending_before"]
            if cursor not in ids:
                raise missing("object", cursor, "ending_before")
            before = items[: ids.index(cursor)]
            data, has_more = before[-limit:], len(before) > limit
        else:
            data, has_more = items[:limit], len(items) > limit
        return {"object": "list", "data": data, "has_more": has_more, "url": url}

    # --- expansion -------------------------------------------------------------------------
    def render(self, obj: JSON, expand: Iterable[str], account: str) -> JSON:
        """A deep copy of `obj` with each `expand[]` path replaced by the object it names."""
        with self.lock:
            out = copy.deepcopy(obj)
            for path in expand:
                if path.count(".") > 3:
                    raise invalid(f"You cannot expand more than 4 levels of a property ({path}).")
                self._expand(out, path.split("."), account, path, out.get("object", ""))
            return out

    def _expand(self, node: JSON, parts: list[str], account: str, path: str, kind: str) -> None:
        field, rest = parts[0], parts[1:]
        if kind == "list" and field == "data":
            for item in node.get("data", []):
                if rest:
                    self._expand(item, rest, account, path, item.get("object", ""))
            return
        if field not in EXPANDABLE.get(kind, set()) or field not in node:
            hint = (
                f" You may want to try expanding 'data.{path}' instead." if kind == "list" else ""
            )
            raise invalid(f"This property cannot be expanded ({path}).{hint}")
        value = node[field]
        if isinstance(value, str):
            target = self.objects.get(value)
            if target is not None and self.scope.get(value) == account:
                value = copy.deepcopy(target)
                node[field] = value
        if rest and isinstance(value, dict):
            sub_kind = value.get("object") or f"{kind}.{field}"
            self._expand(value, rest, account, path, sub_kind)

    # --- persistence -----------------------------------------------------------------------
    def snapshot(self) -> JSON:
        with self.lock:
            return copy.deepcopy(
                {
                    "objects": self.objects,
                    "scope": self.scope,
                    "order": self.order,
                    "private": self.private,
                    "ledgers": self.ledgers,
                    "seq": self._seq,
                }
            )

    def restore(self, data: JSON) -> None:
        with self.lock:
            self.objects = data.get("objects", {})
            self.scope = data.get("scope", {})
            self.order = data.get("order", {})
            self.private = data.get("private", {})
            self.ledgers = data.get("ledgers", {})
            self._seq = int(data.get("seq", 0))

    def reset(self) -> None:
        self.restore({})
