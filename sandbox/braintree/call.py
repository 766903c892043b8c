"""What every Braintree endpoint handler gets, and checked reading of its (untrusted) params."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.braintree import errors
from sandbox.braintree.errors import ValidationError, invalid
from sandbox.braintree.store import JSON, BraintreeStore

# (notification kind, subject root tag, subject record id)
Emit = Callable[[str, str, str], object]
_AMOUNT = re.compile(r"^(\d{1,10})(?:\.(\d{1,2}))?$")
MAX_AMOUNT_CENTS = 9_999_999_999  # Braintree refuses amounts above 99,999,999.99


@dataclass
class Call:
    store: BraintreeStore
    now: float
    body: JSON  # the parsed XML document, `{root: value}`
    args: tuple[str, ...]  # URL path parameters
    query: dict[str, str]
    merchant_id: str
    merchant_accounts: dict[str, str]  # merchant account id -> currency
    emit: Emit
    base_url: str

    @property
    def default_merchant_account(self) -> str:
        return next(iter(self.merchant_accounts))

    def section(self, name: str) -> JSON:
        """The body's `<name>` element as a dict (absent or empty is `{}`)."""
        value = self.body.get(name)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid((name,), "base", errors.TYPE_IS_INVALID, f"<{name}> must hold fields")
        return value


def text(
    params: JSON, name: str, path: tuple[str, ...], *, max_length: int = 255, code: str = ""
) -> str | None:
    """An optional string field; anything but text (or too long) is a validation error."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(path, name, code or errors.TYPE_IS_INVALID, f"{name} must be text")
    if len(value) > max_length:
        raise invalid(path, name, code or errors.TYPE_IS_INVALID, f"{name} is too long")
    return value


def section(params: JSON, name: str, path: tuple[str, ...]) -> JSON:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(path, name, errors.TYPE_IS_INVALID, f"{name} must hold fields")
    return value


def flag(params: JSON, name: str) -> bool:
    value = params.get(name)
    return value is True or value in ("true", "1")


def amount(value: Any, path: tuple[str, ...], *, required: bool = True) -> int | None:
    """Cents from Braintree's decimal amount text ("10", "10.5", "10.00")."""
    if value is None or value == "":
        if required:
            raise invalid(path, "amount", errors.AMOUNT_IS_REQUIRED, "Amount is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(path, "amount", errors.AMOUNT_IS_INVALID, "Amount is an invalid format.")
    raw = str(value).strip()
    if raw.startswith("-"):
        raise invalid(
            path, "amount", errors.AMOUNT_CANNOT_BE_NEGATIVE, "Amount cannot be negative."
        )
    match = _AMOUNT.match(raw)
    if match is None:
        raise invalid(path, "amount", errors.AMOUNT_IS_INVALID, "Amount is an invalid format.")
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents == 0:
        raise invalid(
            path,
            "amount",
            errors.AMOUNT_MUST_BE_GREATER_THAN_ZERO,
            "Amount must be greater than zero.",
        )
    if cents > MAX_AMOUNT_CENTS:
        raise invalid(path, "amount", errors.AMOUNT_IS_TOO_LARGE, "Amount is too large.")
    return cents


__all__ = ["Call", "Emit", "ValidationError", "amount", "flag", "section", "text"]
