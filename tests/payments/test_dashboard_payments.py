"""Payments list: filters (valid and invalid), keyset pages in both directions without gaps or
duplicates and without OFFSET, and the streamed, injection-safe CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from payments import reports
from payments.models import PaymentMethodType
from payments.state import PaymentStatus
from tests.factories import member, verified_client
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def owner(merchant) -> Client:
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


def _ids(response) -> list[str]:
    return [row["payment"].public_id for row in response.context["rows"]]


def _list(client: Client, **params) -> object:
    return client.get(reverse("payments"), params)


# --- filters --------------------------------------------------------------------------------


def test_filters_narrow_the_list(merchant, owner):
    alice = CustomerFactory(merchant=merchant, email="alice@example.test")
    small = PaymentFactory(merchant=merchant, amount=900, created_at=T0)
    big = PaymentFactory(
        merchant=merchant,
        amount=5000,
        customer=alice,
        card_last4="1881",
        created_at=T0 + timedelta(days=2),
        processor_payment_id="pi_big123",
    )
    pending = PaymentFactory(
        merchant=merchant,
        amount=2500,
        status=PaymentStatus.REQUIRES_CAPTURE,
        created_at=T0 + timedelta(days=5),
    )
    euro = PaymentFactory(merchant=merchant, amount=5000, currency="eur", created_at=T0)

    assert _ids(_list(owner, status="requires_capture")) == [pending.public_id]
    assert _ids(_list(owner, email="ALICE@example.test")) == [big.public_id]
    assert _ids(_list(owner, last4="1881")) == [big.public_id]
    assert _ids(_list(owner, q=big.public_id)) == [big.public_id]
    assert _ids(_list(owner, q="pi_big123")) == [big.public_id]
    # Dates are inclusive UTC days.
    assert set(_ids(_list(owner, created_from="2025-03-10", created_to="2025-03-12"))) == {
        small.public_id,
        big.public_id,
        euro.public_id,
    }
    # Amounts are major units of the merchant's currency (GBP), so the EUR payment is out.
    assert _ids(_list(owner, amount_min="10", amount_max="50.00")) == [
        pending.public_id,
        big.public_id,
    ]
    assert _ids(_list(owner, amount_min="49.99", currency="eur")) == [euro.public_id]
    assert _ids(_list(owner, amount_max="9.00")) == [small.public_id]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"amount_min": "abc"}, "Enter an amount such as 12.50."),
        ({"amount_min": "1.234"}, "GBP amounts have at most 2 decimal places."),
        ({"amount_min": "-5"}, "Enter an amount such as 12.50."),
        ({"amount_min": "20", "amount_max": "10"}, "The upper amount must not be below"),
        ({"created_from": "2025-13-45"}, "Enter a valid date."),
        ({"created_from": "2025-03-10", "created_to": "2025-03-01"}, "must not be before"),
        ({"status": "stolen"}, "Select a valid choice."),
        ({"last4": "12a4"}, "Enter the last four digits of the card."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"q": "' OR 1=1 --"}, "Search by a payment id (pay_…)"),
        ({"currency": "US"}, "three-letter ISO 4217 code"),
        ({"amount_min": "5", "currency": "jpy1"}, "Ensure this value has at most 3"),
        ({"q": "pay_\x00"}, "Null characters are not allowed."),
    ],
)
def test_invalid_filters_answer_400_with_a_clear_message(merchant, owner, params, message):
    PaymentFactory(merchant=merchant)
    response = _list(owner, **params)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Some filters are not valid." in body
    assert message in response.content.decode("utf-8").replace("&#x27;", "'")
    # No results are shown for filters that could not be applied.
    assert response.context["page"] is None


def test_invalid_filters_on_the_export_answer_400_in_plain_text(owner):
    response = owner.get(reverse("payments-export"), {"last4": "xx"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "Enter the last four digits" in response.content.decode()


# --- pagination -----------------------------------------------------------------------------


@pytest.fixture
def many(merchant) -> list[str]:
    """60 payments, newest first, with runs of identical timestamps to exercise tie-breaks."""
    rows = [
        PaymentFactory(merchant=merchant, created_at=T0 + timedelta(minutes=index // 3))
        for index in range(60)
    ]
    rows.sort(key=lambda p: (p.created_at, p.pk), reverse=True)
    return [p.public_id for p in rows]


def _walk(client: Client, direction: str, start: dict[str, str]) -> list[list[str]]:
    pages = []
    params: dict[str, str] | None = start
    while params is not None:
        response = client.get(reverse("payments") + "?" + _encode(params))
        assert response.status_code == 200
        pages.append(_ids(response))
        link = response.context["links"].get(direction)
        params = dict(pair.split("=", 1) for pair in link.split("&")) if link else None
    return pages


def _encode(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


def test_older_pages_cover_every_payment_once_in_order(owner, many):
    pages = _walk(owner, "next", {})
    assert [len(page) for page in pages] == [25, 25, 10]
    assert [pid for page in pages for pid in page] == many


def test_newer_pages_walk_back_from_the_last_page_to_the_first(owner, many):
    pages = _walk(owner, "previous", {"starting_after": many[49]})
    assert pages == [many[50:], many[25:50], many[:25]]
    first = owner.get(reverse("payments") + "?ending_before=" + many[25])
    assert "previous" not in first.context["links"]


def test_pages_keep_the_filters(merchant, owner):
    for index in range(30):
        PaymentFactory(merchant=merchant, card_last4="1111", created_at=T0 + timedelta(hours=index))
    PaymentFactory(merchant=merchant, card_last4="2222", created_at=T0)
    first = _list(owner, last4="1111")
    assert "last4=1111" in first.context["links"]["next"]
    second = owner.get(reverse("payments") + "?" + first.context["links"]["next"])
    assert len(_ids(second)) == 5
    assert all(row["payment"].card_last4 == "1111" for row in second.context["rows"])


def test_an_unknown_cursor_shows_the_newest_page_with_a_notice(owner, many):
    response = _list(owner, starting_after="pay_gone")
    assert response.status_code == 200
    assert _ids(response) == many[:25]
    assert "That page is no longer available" in response.content.decode()
    garbage = _list(owner, starting_after="x" * 500 + "\x00")
    assert garbage.status_code == 200
    assert _ids(garbage) == many[:25]


def test_a_deep_page_is_a_keyset_query_without_offset(owner, many):
    with CaptureQueriesContext(connection) as queries:
        response = _list(owner, starting_after=many[49])
    assert _ids(response) == many[50:]
    payment_queries = [q["sql"] for q in queries if '"payments_payment"' in q["sql"]]
    assert payment_queries
    assert not any("OFFSET" in sql.upper() for sql in payment_queries)
    # The page query is bounded by the anchor's time, so an index range scan can start there.
    assert any("LIMIT 26" in sql and '"created_at" <=' in sql for sql in payment_queries)


# --- CSV ------------------------------------------------------------------------------------


def _csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_minor_units_currency_and_formatted_amounts(merchant, owner):
    customer = CustomerFactory(merchant=merchant, email="bob@example.test")
    payment = PaymentFactory(
        merchant=merchant, amount=123456, customer=customer, created_at=T0, description="Tea"
    )
    PaymentFactory(merchant=merchant, amount=500, currency="jpy", created_at=T0)
    response = owner.get(reverse("payments-export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="payments-')
    rows = _csv(response)
    assert list(rows[0]) == list(reports.CSV_COLUMNS)
    by_id = {row["id"]: row for row in rows}
    mine = by_id[payment.public_id]
    assert (mine["amount"], mine["currency"], mine["amount_formatted"]) == (
        "123456",
        "gbp",
        "£1,234.56",
    )
    assert mine["customer_email"] == "bob@example.test"
    assert mine["created_utc"] == "2025-03-10T12:00:00Z"
    yen = next(row for row in rows if row["currency"] == "jpy")
    assert (yen["amount"], yen["amount_formatted"]) == ("500", "¥500")


def test_csv_applies_the_list_filters(merchant, owner):
    keep = PaymentFactory(merchant=merchant, card_last4="1881")
    PaymentFactory(merchant=merchant, card_last4="4242")
    rows = _csv(owner.get(reverse("payments-export"), {"last4": "1881"}))
    assert [row["id"] for row in rows] == [keep.public_id]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_csv_cells_that_look_like_formulas_are_neutralised(merchant, owner, start):
    hostile = f'{start}HYPERLINK("http://evil.test","x")'
    PaymentFactory(merchant=merchant, description=hostile)
    row = _csv(owner.get(reverse("payments-export")))[0]
    assert row["description"] == "'" + hostile


def test_csv_is_streamed_and_reads_payments_only_while_sending(merchant, owner):
    for _ in range(3):
        PaymentFactory(merchant=merchant)
    with CaptureQueriesContext(connection) as before_body:
        response = owner.get(reverse("payments-export"))
    assert response.streaming
    assert not any('"payments_payment"' in q["sql"] for q in before_body)
    with CaptureQueriesContext(connection) as while_sending:
        rows = _csv(response)
    assert len(rows) == 3
    assert any('"payments_payment"' in q["sql"] for q in while_sending)


# --- rendering and queries ------------------------------------------------------------------


def test_a_row_shows_its_link_amount_status_card_customer_and_utc_time(merchant, owner):
    alice = CustomerFactory(merchant=merchant, email="alice@example.test")
    paid = PaymentFactory(
        merchant=merchant,
        amount=123456,
        currency="gbp",
        customer=alice,
        card_brand="visa",
        card_last4="4242",
        status=PaymentStatus.SUCCEEDED,
        created_at=T0,
    )
    bare = PaymentFactory(merchant=merchant, card_last4="", created_at=T0 - timedelta(hours=1))

    html = _list(owner).content.decode()

    assert f'href="{reverse("payment-detail", args=[paid.public_id])}"' in html
    assert "£1,234.56" in html
    assert '<span class="badge badge-ok">Succeeded</span>' in html
    assert "Visa ···· 4242" in html
    assert "alice@example.test" in html
    assert "2025-03-10 12:00" in html
    bare_row = html[html.index(bare.public_id) :]
    assert bare_row.index('<span class="muted">none</span>') < bare_row.index("</tr>")


def test_the_page_loads_the_users_memberships_once(merchant, owner):
    """The merchant switcher reuses the memberships the current-merchant middleware loaded."""
    PaymentFactory(merchant=merchant)
    with CaptureQueriesContext(connection) as captured:
        response = _list(owner)
    assert response.status_code == 200
    membership_queries = [
        q for q in captured.captured_queries if 'FROM "accounts_membership"' in q["sql"]
    ]
    assert len(membership_queries) == 1
    assert [m.merchant for m in response.context["memberships"]] == [merchant]


# --- what paid ------------------------------------------------------------------------------


def test_list_and_detail_say_what_paid_a_card_or_a_bank_debit(merchant, owner):
    card = PaymentFactory(merchant=merchant, card_brand="visa", card_last4="4242", created_at=T0)
    debit = PaymentFactory(
        merchant=merchant,
        payment_method_type=PaymentMethodType.US_BANK_ACCOUNT,
        card_brand="",
        card_last4="",
        bank_last4="6789",
        currency="usd",
        created_at=T0 + timedelta(days=1),
    )
    listed = _list(owner).content.decode()
    assert "Visa ···· 4242" in listed
    assert "Bank debit (ACH) ···· 6789" in listed
    detail = owner.get(reverse("payment-detail", args=[debit.public_id])).content.decode()
    assert "Bank debit (ACH) ···· 6789" in detail
    assert "no card details yet" not in detail
    detail = owner.get(reverse("payment-detail", args=[card.public_id])).content.decode()
    assert "Visa ···· 4242" in detail


@pytest.mark.parametrize("name", ["payments", "payments-export"])
def test_the_last_representable_day_as_end_date_lists_everything_up_to_it(merchant, owner, name):
    """created_to=9999-12-31 has no next midnight: it means "no upper bound", not a 500."""
    payment = PaymentFactory(merchant=merchant, created_at=T0)
    response = owner.get(reverse(name), {"created_from": "0001-01-01", "created_to": "9999-12-31"})
    assert response.status_code == 200
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    assert payment.public_id in body


def test_declined_payments_read_failed_and_have_a_filter(merchant, owner):
    declined = PaymentFactory(
        merchant=merchant,
        status=PaymentStatus.REQUIRES_PAYMENT_METHOD,
        failure_code="card_declined",
        created_at=T0,
    )
    waiting = PaymentFactory(
        merchant=merchant, status=PaymentStatus.REQUIRES_PAYMENT_METHOD, created_at=T0
    )
    PaymentFactory(merchant=merchant, created_at=T0)
    everything = _list(owner)
    labels = {row["payment"].public_id: row["status_label"] for row in everything.context["rows"]}
    assert labels[declined.public_id] == "Failed"
    assert labels[waiting.public_id] == "Requires payment method"
    assert _ids(_list(owner, status="failed")) == [declined.public_id]
    assert '<option value="failed">Failed (declined)</option>' in everything.content.decode()
    detail = owner.get(reverse("payment-detail", args=[declined.public_id])).content.decode()
    assert '<span class="badge badge-bad">Failed</span>' in detail
