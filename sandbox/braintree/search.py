"""Braintree's advanced search criteria (what the SDK's `*Search` node builders send), evaluated.

Text nodes send `{is, is_not, starts_with, ends_with, contains}`, multiple-value nodes a list,
range nodes `{min, max}` (datetimes, dates or decimal amounts). A resource describes each of its
records as `{name: (kind, value)}`; a criterion on a name the record does not describe is a 400
naming it, so a search the sandbox cannot answer never silently matches everything.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.braintree.errors import HTTPError

Fields = dict[str, tuple[str, Any]]  # name -> ("text" | "multi" | "range", value)
PAGE_SIZE = 50
MAX_RESULTS = 10_000


def _bound(value: Any, name: str) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            # Range values that are not times are amounts: compared in cents.
            return float(Decimal(str(value).strip()) * 100)
        except InvalidOperation:
            pass
    raise HTTPError(400, f"search criterion {name} has an invalid bound")


def _text(criterion: dict[str, Any], value: str | None, name: str) -> bool:
    current = value or ""
    for operator, wanted in criterion.items():
        if not isinstance(wanted, str):
            raise HTTPError(400, f"search criterion {name}.{operator} must be text")
        if operator == "is":
            ok = current == wanted
        elif operator == "is_not":
            ok = current != wanted
        elif operator == "starts_with":
            ok = current.startswith(wanted)
        elif operator == "ends_with":
            ok = current.endswith(wanted)
        elif operator == "contains":
            ok = wanted in current
        else:
            raise HTTPError(400, f"search criterion {name} has an unknown operator {operator}")
        if not ok:
            return False
    return True


def _range(criterion: dict[str, Any], value: float | None, name: str) -> bool:
    if set(criterion) - {"min", "max", "is"}:
        raise HTTPError(400, f"search criterion {name} takes min, max or is")
    if value is None:
        return False
    if "is" in criterion and value != _bound(criterion["is"], name):
        return False
    if "min" in criterion and value < _bound(criterion["min"], name):
        return False
    return not ("max" in criterion and value > _bound(criterion["max"], name))


def matches(criteria: dict[str, Any], fields: Fields) -> bool:
    for name, criterion in criteria.items():
        if name not in fields:
            raise HTTPError(400, f"the sandbox does not support the search field {name}")
        kind, value = fields[name]
        if kind == "multi":
            wanted = criterion if isinstance(criterion, list) else [criterion]
            if not all(isinstance(item, str) for item in wanted):
                raise HTTPError(400, f"search criterion {name} must be a list of text")
            values = value if isinstance(value, list) else [value]
            if not set(values) & set(wanted):
                return False
        elif not isinstance(criterion, dict):
            raise HTTPError(400, f"search criterion {name} must hold operators")
        elif kind == "text":
            if not _text(criterion, value, name):
                return False
        elif not _range(criterion, value, name):
            return False
    return True


def criteria_of(body: dict[str, Any]) -> dict[str, Any]:
    """The `<search>` element (absent or empty: no criteria)."""
    search = body.get("search")
    if search is None or search == "":
        return {}
    if not isinstance(search, dict):
        raise HTTPError(400, "<search> must hold criteria")
    return search
