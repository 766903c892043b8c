"""Plaid's documented Sandbox institutions, credentials and the accounts a login yields.

Names, ids and credentials follow Plaid's Sandbox docs so a tester who knows Plaid can use the
stand-in without reading ours: `user_good` / `pass_good` logs in anywhere with instant Auth,
`user_good` / `microdeposits_good` at Houndstooth Bank is the automated micro-deposit flow,
routing number 110000000 entered manually is same-day micro-deposits (code `ABC`), and
`password = error_<CODE>` fails the login with that Plaid error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

USER_GOOD = "user_good"
PASS_GOOD = "pass_good"  # noqa: S105 (Plaid's public Sandbox password)
PASS_MICRODEPOSITS = "microdeposits_good"  # noqa: S105 (public Sandbox password)
SAME_DAY_ROUTING = "110000000"
SAME_DAY_CODE = "ABC"
SAME_DAY_ATTEMPTS = 3
HOUNDSTOOTH = "ins_109512"
# Plaid's fake Sandbox numbers: what /auth/get returns for a credential login.
SANDBOX_ROUTING = "011401533"
SANDBOX_WIRE_ROUTING = "021000021"
# `error_<CODE>` passwords Plaid's Sandbox understands, and the error type each belongs to.
LOGIN_ERROR_CODES = {
    "INVALID_CREDENTIALS": "ITEM_ERROR",
    "ITEM_LOCKED": "ITEM_ERROR",
    "ITEM_NOT_SUPPORTED": "ITEM_ERROR",
    "INSTITUTION_DOWN": "INSTITUTION_ERROR",
    "INSTITUTION_NOT_RESPONDING": "INSTITUTION_ERROR",
}


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    routing: str
    instant_auth: bool  # False: Auth needs automated micro-deposits (Houndstooth Bank)

    def to_json(self) -> dict[str, Any]:
        return {"institution_id": self.institution_id, "name": self.name}


INSTITUTIONS = {
    i.institution_id: i
    for i in (
        Institution("ins_109508", "First Platypus Bank", SANDBOX_ROUTING, True),
        Institution("ins_109509", "First Gingham Credit Union", "011000138", True),
        Institution("ins_109510", "Tattersall Federal Credit Union", "011000015", True),
        Institution("ins_109511", "Tartan Bank", "011000028", True),
        Institution(HOUNDSTOOTH, "Houndstooth Bank", "021000021", False),
    )
}


@dataclass(frozen=True)
class AccountTemplate:
    name: str
    official_name: str
    mask: str
    type: str
    subtype: str
    available: float | None
    current: float
    limit: float | None

    @property
    def depository(self) -> bool:
        return self.type == "depository"


# The accounts `user_good` sees (Plaid's Sandbox shows the same names and masks).
GOOD_ACCOUNTS = (
    AccountTemplate(
        "Plaid Checking",
        "Plaid Gold Standard 0% Interest Checking",
        "0000",
        "depository",
        "checking",
        100.0,
        110.0,
        None,
    ),
    AccountTemplate(
        "Plaid Saving",
        "Plaid Silver Standard 0.1% Interest Saving",
        "1111",
        "depository",
        "savings",
        200.0,
        210.0,
        None,
    ),
    AccountTemplate(
        "Plaid Credit Card",
        "Plaid Diamond 12.5% APR Interest Credit Card",
        "3333",
        "credit",
        "credit card",
        None,
        410.0,
        2000.0,
    ),
)
# What the bank opens later (NEW_ACCOUNTS_AVAILABLE in the sandbox): the first depository
# account of these the Item does not have yet (Plaid's Sandbox user also has this one).
MONEY_MARKET = AccountTemplate(
    "Plaid Money Market",
    "Plaid Platinum Standard 1.85% Interest Money Market",
    "4444",
    "depository",
    "money market",
    43200.0,
    43200.0,
    None,
)
NEW_ACCOUNT_TEMPLATES = (*GOOD_ACCOUNTS, MONEY_MARKET)
# Automated micro-deposits link exactly one checking account, whose numbers are only usable
# once the deposits are confirmed.
MICRODEPOSIT_ACCOUNT = GOOD_ACCOUNTS[0]


def account_number(mask: str, seed: str) -> str:
    """A fake, stable 16-digit account number ending in `mask` (distinct per item)."""
    digits = "".join(str(ord(c) % 10) for c in seed)[-12:].rjust(12, "1")
    return digits + mask
