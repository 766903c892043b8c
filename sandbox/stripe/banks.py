"""US bank accounts in the Stripe stand-in: Stripe's ACH test numbers and test tokens.

Stripe's docs list account numbers (routing `110000000`) whose debits succeed or fail with a
given ACH return code, and `btok_us_verified*` tokens for the same outcomes. A bank account
the sandbox's Plaid issued a `btok_` for behaves by its account number the same way (any
number not listed succeeds). Only last 4, routing number, fingerprint and the outcome are
kept: never the full account number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TEST_ROUTING = "110000000"
# Stripe settles ACH debits in about four business days; the sandbox clock moves faster.
SETTLEMENT_SECONDS = 2 * 24 * 3600
# Micro-deposits "arrive" one business day after the SetupIntent is confirmed.
MICRODEPOSIT_ARRIVAL_SECONDS = 24 * 3600
MICRODEPOSIT_EXPIRY_SECONDS = 10 * 24 * 3600
MICRODEPOSIT_MAX_ATTEMPTS = 10
MICRODEPOSIT_DESCRIPTOR = "SM11AA"
MICRODEPOSIT_AMOUNTS = (32, 45)


@dataclass(frozen=True)
class AchOutcome:
    """How a debit from this account ends: None for success, else the ACH return."""

    failure_code: str | None = None
    return_code: str | None = None
    message: str = ""


SUCCEEDS = AchOutcome()
_FAILURES = {
    "000111111113": AchOutcome("account_closed", "R02", "The customer's bank account is closed."),
    "000111111116": AchOutcome(
        "no_account", "R03", "The customer's bank account could not be located."
    ),
    "000222222227": AchOutcome(
        "insufficient_funds", "R01", "The customer's account has insufficient funds."
    ),
    "000333333335": AchOutcome(
        "debit_not_authorized", "R10", "The customer told their bank the debit was unauthorized."
    ),
    "000444444440": AchOutcome(
        "invalid_currency", "R03", "The bank was unable to process this payment's currency."
    ),
}
TEST_TOKENS = {
    "btok_us_verified": "000123456789",
    "btok_us_verified_accountClosed": "000111111113",
    "btok_us_verified_noAccount": "000111111116",
    "btok_us_verified_insufficientFunds": "000222222227",
    "btok_us_verified_debitNotAuthorized": "000333333335",
    "btok_us_verified_invalidCurrency": "000444444440",
}


def outcome_for(account_number: str) -> AchOutcome:
    return _FAILURES.get(account_number, SUCCEEDS)


def outcome_named(failure_code: str | None) -> AchOutcome:
    """The outcome stored (by code) beside an object, back as a value."""
    for outcome in _FAILURES.values():
        if outcome.failure_code == failure_code:
            return outcome
    return SUCCEEDS


def bank_fingerprint(routing: str, account_number: str) -> str:
    digest = hashlib.sha256(f"ledgerline-sandbox-bank:{routing}:{account_number}".encode())
    return digest.hexdigest()[:16]
