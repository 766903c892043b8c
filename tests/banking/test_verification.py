"""The verification state machine over Plaid's verification_status values."""

from __future__ import annotations

import itertools

import pytest

from banking.models import VerificationState as S
from banking.verification import FINAL, next_state, state_for


@pytest.mark.parametrize(
    ("plaid", "state"),
    [
        ("", S.VERIFIED),
        ("automatically_verified", S.VERIFIED),
        ("manually_verified", S.VERIFIED),
        ("pending_automatic_verification", S.PENDING_AUTOMATIC),
        ("pending_manual_verification", S.PENDING_MANUAL),
        ("verification_failed", S.FAILED),
        ("verification_expired", S.EXPIRED),
        ("database_insights_pass_with_caution", S.UNKNOWN),
        ("something_plaid_adds_next_year", S.UNKNOWN),
    ],
)
def test_each_plaid_value_maps_to_one_state(plaid: str, state: str) -> None:
    assert state_for(plaid) == state


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_states_never_change(final: str) -> None:
    for plaid in ("", "pending_manual_verification", "verification_failed", "new_value"):
        assert next_state(final, plaid) == final


def test_any_order_of_observations_ends_in_the_first_final_state_reached() -> None:
    observations = [
        "pending_automatic_verification",
        "automatically_verified",
        "pending_automatic_verification",
        "verification_expired",
    ]
    for order in itertools.permutations(observations):
        state = S.PENDING_AUTOMATIC
        for plaid in order:
            state = next_state(state, plaid)
        first_final = next(state_for(p) for p in order if state_for(p) in FINAL)
        assert state == first_final


def test_an_unknown_value_blocks_until_plaid_says_something_known() -> None:
    state = next_state(S.PENDING_MANUAL, "brand_new")
    assert state == S.UNKNOWN
    assert next_state(state, "manually_verified") == S.VERIFIED


@pytest.mark.parametrize("waiting", [S.PENDING_AUTOMATIC, S.PENDING_MANUAL, S.UNKNOWN])
def test_a_waiting_account_is_never_verified_by_an_absent_status(waiting: str) -> None:
    """Absent means instant Auth only at link time; later it is an omission, not a verdict."""
    assert next_state(waiting, "") == waiting
    assert next_state(waiting, "  ") == waiting
    assert next_state(waiting, "manually_verified") == S.VERIFIED
