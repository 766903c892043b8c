"""One state machine over Plaid's `verification_status`: what each value means and what may follow.

Plaid's value is mapped to a `VerificationState`; a value we do not know maps to UNKNOWN, which
never allows money movement. Verified, failed and expired are final: a later (older, or
replayed) observation never moves an account out of them. Handlers re-read Plaid's current
status, so pending states simply follow what Plaid says now.
"""

from __future__ import annotations

from banking.models import VerificationState

# Absent (""): Link verified the account instantly with the customer's credentials.
_BY_PLAID_STATUS: dict[str, str] = {
    "": VerificationState.VERIFIED,
    "automatically_verified": VerificationState.VERIFIED,
    "manually_verified": VerificationState.VERIFIED,
    "database_matched": VerificationState.VERIFIED,
    "pending_automatic_verification": VerificationState.PENDING_AUTOMATIC,
    "pending_manual_verification": VerificationState.PENDING_MANUAL,
    "unsent": VerificationState.PENDING_MANUAL,
    "verification_failed": VerificationState.FAILED,
    "database_insights_fail": VerificationState.FAILED,
    "verification_expired": VerificationState.EXPIRED,
}

FINAL = frozenset({VerificationState.VERIFIED, VerificationState.FAILED, VerificationState.EXPIRED})
PENDING = frozenset({VerificationState.PENDING_AUTOMATIC, VerificationState.PENDING_MANUAL})


def state_for(plaid_status: str) -> str:
    """Our state for Plaid's value; anything unrecognised is UNKNOWN (blocks money movement)."""
    return _BY_PLAID_STATUS.get(plaid_status.strip().lower(), VerificationState.UNKNOWN)


def next_state(current: str, plaid_status: str) -> str:
    """The state after observing `plaid_status`: final states never change.

    An absent status means instant Auth only when an account is first linked; an account that
    was waiting (or unknown) and comes back without one has told us nothing, so it keeps its
    state: an omission never verifies an account.
    """
    if current in FINAL:
        return current
    if not plaid_status.strip():
        return current
    return state_for(plaid_status)
