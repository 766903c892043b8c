"""Keyset pages: newest first, by (created_at or another time, pk), at any depth without OFFSET.

The cursor is the public id of the last object seen; it is turned into its (time, id)
position, so a page costs one index range scan at any depth. `keyset_page` serves the API's
lists (`{"data", "has_more"}`), `keyset_window` the dashboard's pages in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet

from api.exceptions import InvalidRequestError

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_more: bool


def keyset_page(
    queryset: QuerySet[M],
    *,
    limit: int,
    starting_after: str | None = None,
    order_field: str = "created_at",
) -> Page[M]:
    """Newest-first page of `queryset` after the object with public id `starting_after`."""
    window = keyset_window(
        queryset, limit=limit, starting_after=starting_after, order_field=order_field
    )
    return Page(items=window.items, has_more=window.has_next)


@dataclass(frozen=True)
class CursorPage(Generic[M]):
    """A newest-first page that knows whether newer (previous) and older (next) pages exist."""

    items: list[M]
    has_previous: bool
    has_next: bool


def _keyset_anchor(queryset: QuerySet[M], cursor: str, param: str, field: str) -> tuple[Any, int]:
    anchor: tuple[Any, int] | None = (
        queryset.filter(public_id=cursor).values_list(field, "pk").first()
    )
    if anchor is None:
        raise InvalidRequestError(
            f"{param} does not name an object in this list.",
            code="resource_missing",
            param=param,
        )
    return anchor


def _beyond(
    queryset: QuerySet[M],
    anchor: tuple[Any, int],
    limit: int,
    *,
    field: str,
    newer: bool = False,
) -> list[M]:
    """Up to limit + 1 rows strictly older (or newer) than the anchor, nearest first."""
    at, pk = anchor
    if newer:
        bounded = queryset.filter(**{f"{field}__gte": at}).filter(
            Q(**{f"{field}__gt": at}) | Q(**{field: at, "pk__gt": pk})
        )
        return list(bounded.order_by(field, "pk")[: limit + 1])
    bounded = queryset.filter(**{f"{field}__lte": at}).filter(
        Q(**{f"{field}__lt": at}) | Q(**{field: at, "pk__lt": pk})
    )
    return list(bounded.order_by(f"-{field}", "-pk")[: limit + 1])


def keyset_window(
    queryset: QuerySet[M],
    *,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
    order_field: str = "created_at",
) -> CursorPage[M]:
    """Newest-first page after `starting_after` (older) or before `ending_before` (newer).

    Ordered by (`order_field`, pk); each bound is written twice: `order_field <= anchor` lets
    PostgreSQL start the index range scan at the anchor (the OR alone would be a filter over
    every newer row, as slow as OFFSET at depth), and the OR breaks ties on the primary key.
    """
    field = order_field
    if starting_after:
        anchor = _keyset_anchor(queryset, starting_after, "starting_after", field)
        rows = _beyond(queryset, anchor, limit, field=field)
        # The anchor itself is newer than this page and matches the filters.
        return CursorPage(items=rows[:limit], has_previous=True, has_next=len(rows) > limit)
    if ending_before:
        anchor = _keyset_anchor(queryset, ending_before, "ending_before", field)
        rows = _beyond(queryset, anchor, limit, field=field, newer=True)
        return CursorPage(items=rows[:limit][::-1], has_previous=len(rows) > limit, has_next=True)
    rows = list(queryset.order_by(f"-{field}", "-pk")[: limit + 1])
    return CursorPage(items=rows[:limit], has_previous=False, has_next=len(rows) > limit)


def keyset_window_or_newest(
    queryset: QuerySet[M],
    *,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> tuple[CursorPage[M], bool]:
    """`keyset_window`, or the newest page when a cursor names nothing in the list.

    Dashboard links to a page can outlive the object they point at (deleted, filtered out,
    or typed by hand), so a page shows the newest items instead of failing; the flag is True
    then, for the page to say so.
    """
    try:
        window = keyset_window(
            queryset, limit=limit, starting_after=starting_after, ending_before=ending_before
        )
    except InvalidRequestError:
        return keyset_window(queryset, limit=limit), True
    return window, False
