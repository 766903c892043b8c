"""Date filters typed as calendar days, turned into the UTC instants a query compares with.

Every dashboard filter with "from" and "to" days (payments, the audit log) goes through
`utc_day_range`, so the inclusive end day and the last day a datetime can hold are handled once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def utc_day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """(from, before): the instants bounding the days `start` to `end`, both days included.

    `before` is midnight after `end`, compared with `<`. The last day a date can hold
    (9999-12-31) has no next midnight: nothing can be later, so there is no upper bound.
    """
    since = utc_day_start(start) if start else None
    if end is None or end == date.max:
        return since, None
    return since, utc_day_start(end + timedelta(days=1))
