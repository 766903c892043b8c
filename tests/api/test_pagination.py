"""Keyset pages: every object once, newest first, ties broken by id, in both directions; a
cursor that names nothing in the list is a 400 `resource_missing` (or the newest page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.exceptions import InvalidRequestError
from api.pagination import keyset_page, keyset_window, keyset_window_or_newest
from payments.models import Customer
from tests.factories import MerchantFactory
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def customers() -> list[Customer]:
    """Seven customers of one merchant, three of them created at the same instant; newest
    first, as a page lists them."""
    merchant = MerchantFactory()
    made = [CustomerFactory(merchant=merchant) for _ in range(7)]
    # Customers 2, 3 and 4 share one time: only the id orders them.
    for customer, minutes in zip(made, (0, 1, 2, 2, 2, 3, 4), strict=True):
        at = START + timedelta(minutes=minutes)
        Customer.objects.filter(pk=customer.pk).update(created_at=at)
    return list(Customer.objects.filter(merchant=merchant).order_by("-created_at", "-pk"))


def _queryset(customers: list[Customer]):
    return Customer.objects.filter(merchant_id=customers[0].merchant_id)


def test_pages_walk_every_object_once_newest_first(customers):
    seen: list[Customer] = []
    cursor = None
    while True:
        page = keyset_page(_queryset(customers), limit=3, starting_after=cursor)
        seen.extend(page.items)
        if not page.has_more:
            break
        cursor = page.items[-1].public_id
    assert seen == customers


def test_a_window_goes_back_to_newer_objects_with_ending_before(customers):
    older = keyset_window(_queryset(customers), limit=3, starting_after=customers[2].public_id)
    assert older.items == customers[3:6]
    assert (older.has_previous, older.has_next) == (True, True)
    newer = keyset_window(_queryset(customers), limit=3, ending_before=older.items[0].public_id)
    assert newer.items == customers[0:3]
    assert (newer.has_previous, newer.has_next) == (False, True)


@pytest.mark.parametrize("cursor", ["cus_doesnotexist", "pay_123"])
def test_a_cursor_that_names_nothing_in_the_list_is_resource_missing(customers, cursor):
    with pytest.raises(InvalidRequestError) as raised:
        keyset_page(_queryset(customers), limit=3, starting_after=cursor)
    assert (raised.value.status_code, raised.value.code) == (400, "resource_missing")
    assert raised.value.param == "starting_after"


def test_another_merchants_object_is_no_cursor(customers):
    stranger = CustomerFactory()
    with pytest.raises(InvalidRequestError):
        keyset_page(_queryset(customers), limit=3, starting_after=stranger.public_id)


def test_the_dashboard_falls_back_to_the_newest_page_and_says_so(customers):
    page, stale = keyset_window_or_newest(
        _queryset(customers), limit=3, ending_before="cus_doesnotexist"
    )
    assert stale is True
    assert page.items == customers[0:3]
    page, stale = keyset_window_or_newest(
        _queryset(customers), limit=3, starting_after=customers[0].public_id
    )
    assert (stale, page.items) == (False, customers[1:4])
