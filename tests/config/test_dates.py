"""Calendar-day filters become UTC instants: inclusive end day, and the last day a date holds."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from config.dates import utc_day_range


def test_the_end_day_is_included_up_to_the_next_midnight() -> None:
    assert utc_day_range(date(2025, 3, 10), date(2025, 3, 12)) == (
        datetime(2025, 3, 10, tzinfo=UTC),
        datetime(2025, 3, 13, tzinfo=UTC),
    )


def test_the_last_representable_day_means_no_upper_bound() -> None:
    assert utc_day_range(date.min, date.max) == (datetime(1, 1, 1, tzinfo=UTC), None)


@given(st.one_of(st.none(), st.dates()), st.one_of(st.none(), st.dates()))
def test_any_pair_of_days_gives_bounds_without_error(start, end) -> None:
    since, before = utc_day_range(start, end)
    assert (since is None) == (start is None)
    if before is not None:
        assert end is not None
        assert before.date() > end
