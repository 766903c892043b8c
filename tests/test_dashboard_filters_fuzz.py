"""Hostile input to every dashboard filter form and CSV export: 0 server errors is the pass mark.

Each page's parameters are read from the page itself (the names of its GET forms' fields and
its pager's cursors), so a field added to a filter form is fuzzed without editing this file;
`test_every_page_with_a_get_form_is_fuzzed` fails when a new page with a GET form is missing
from PAGES. Values are generated: dates of every year and shape (9999-12-31, year 0, other
formats), huge and odd numbers, well-formed ids of nothing, real ids, control characters,
invalid UTF-8, repeated keys and unknown keys. A CSV export is read to its end, since a
streamed body fails while it is sent. Bounded to a few seconds a page for `make test`.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Merchant
from accounts.roles import Role
from compliance.actors import Actor
from compliance.services import audit_record
from inbound.models import InboundEventStatus
from payments.state import PaymentStatus
from tests.config.test_url_walk import DASHBOARD
from tests.factories import member, verified_client
from tests.payments.factories import (
    CustomerFactory,
    InboundEventFactory,
    PaymentFactory,
    PaymentLinkFactory,
)

pytestmark = pytest.mark.django_db

EXAMPLES_PER_PAGE = 15

# Route name -> the page's path, given the fixture's objects; exports carry their list's form.
PAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "home": lambda data: reverse("home"),
    "payments": lambda data: reverse("payments"),
    "payments-export": lambda data: reverse("payments-export"),
    "payment-detail": lambda data: reverse("payment-detail", args=[data["payment"]]),
    "customers": lambda data: reverse("customers"),
    "customer-detail": lambda data: reverse("customer-detail", args=[data["customer"]]),
    "payment-links": lambda data: reverse("payment-links"),
    "disputes": lambda data: reverse("disputes"),
    "balance": lambda data: reverse("balance"),
    "bank-accounts": lambda data: reverse("bank-accounts"),
    "developers": lambda data: reverse("developers"),
    "compliance:home": lambda data: reverse("compliance:home"),
    "compliance:audit_csv": lambda data: reverse("compliance:audit_csv"),
    "team:list": lambda data: reverse("team:list"),
}
# A CSV export takes the parameters of the page whose form it exports.
FORM_OF = {"payments-export": "payments", "compliance:audit_csv": "compliance:home"}
# The parameters of each page's pager links (its forms' fields are read from the page).
_KEYSET = ("starting_after", "ending_before")
CURSORS: dict[str, tuple[str, ...]] = {
    "payments": _KEYSET,
    "payments-export": _KEYSET,
    "customers": _KEYSET,
    "customer-detail": _KEYSET,
    "payment-links": _KEYSET,
    "balance": _KEYSET,
    "bank-accounts": ("after",),
    "compliance:home": ("page",),
    "compliance:audit_csv": ("page",),
}


class _GetFormFields(HTMLParser):
    """Names, input types and offered values of the fields of a page's `<form method="get">`s."""

    def __init__(self) -> None:
        super().__init__()
        self.in_get_form = False
        self.fields: dict[str, set[str]] = {}
        self.types: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.in_get_form = (found.get("method") or "get").lower() == "get"
        elif self.in_get_form and tag in ("input", "select", "textarea") and found.get("name"):
            name = str(found["name"])
            self.fields.setdefault(name, set())
            self.types[name] = tag if tag != "input" else str(found.get("type") or "text")
            if tag == "select":
                self._select = name
            elif found.get("value"):
                self.fields[name].add(str(found["value"]))
        elif tag == "option" and self._select is not None:
            self.fields[self._select].add(found.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_get_form = False
        elif tag == "select":
            self._select = None


@dataclass(frozen=True)
class Field:
    kind: str  # the input's type ("date", "email", "search", ...), "select" or "cursor"
    offered: frozenset[str]  # the values a select offers (or an input's preset value)


def get_form_fields(html: str) -> dict[str, Field]:
    parser = _GetFormFields()
    parser.feed(html)
    return {
        name: Field(parser.types[name], frozenset(values)) for name, values in parser.fields.items()
    }


@pytest.fixture
def merchant_data() -> dict[str, Any]:
    """An owner with something in every list: payments (one declined), a customer, a link,
    audit entries and processor events."""
    membership = member(Role.OWNER)
    merchant: Merchant = membership.merchant
    customer = CustomerFactory(merchant=merchant, email="buyer@example.test")
    payment = PaymentFactory(merchant=merchant, customer=customer)
    PaymentFactory(
        merchant=merchant,
        status=PaymentStatus.REQUIRES_PAYMENT_METHOD,
        failure_code="card_declined",
    )
    link = PaymentLinkFactory(merchant=merchant)
    audit_record(
        action="payment.created",
        actor=Actor.system("tests"),
        merchant_id=merchant.public_id,
        target_type="payment",
        target_id=payment.public_id,
    )
    InboundEventFactory(
        merchant=merchant, status=InboundEventStatus.FAILED, last_error="ValueError: boom"
    )
    return {
        "client": verified_client(membership.user, merchant=merchant),
        "payment": payment.public_id,
        "customer": customer.public_id,
        "link": link.public_id,
    }


def _body(response: Any) -> bytes:
    # A streamed export fails while it is sent: read it to the end.
    return b"".join(response.streaming_content) if response.streaming else response.content


def _page_parameters(client: Client, path: str, cursors: tuple[str, ...]) -> dict[str, Field]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    fields = get_form_fields(_body(response).decode())
    for name in cursors:
        fields.setdefault(name, Field("cursor", frozenset()))
    return fields


_ID_PREFIXES = ("pay", "pi", "cus", "plink", "ba", "evt", "usr", "key", "mer", "x")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%Y%m%d")
_EDGE_DATES = ("9999-12-31", "0001-01-01", "0000-01-01", "10000-01-01", "2024-02-30", "2024-13-01")
_EDGE_NUMBERS = (
    "1e400",
    "NaN",
    "-Infinity",
    "-0",
    "\uff11\uff12",
    "0x10",
    "12.345",
    "9" * 40,
    "-1",
)

_hostile_text = st.one_of(
    st.sampled_from(_EDGE_DATES + _EDGE_NUMBERS),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.emails(),
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)
_any_date = st.one_of(
    st.sampled_from(_EDGE_DATES),
    st.dates().map(lambda day: day.isoformat()),
    st.builds(lambda day, form: day.strftime(form), st.dates(), st.sampled_from(_DATE_FORMATS)),
)
_made_up_id = st.tuples(
    st.sampled_from(_ID_PREFIXES),
    st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=70),
).map("_".join)


# Tried one by one in every field of their kind on every run, before the generated queries.
EDGES: dict[str, tuple[str, ...]] = {
    "date": ("9999-12-31", "0001-01-01", "0000-01-01", "10000-01-01", "2024-02-30"),
    "cursor": ("pay_doesnotexist", "ba_doesnotexist", "cus_0", "1", "-1", "99999999999999999999"),
    "any": ("", "\x00", "\udcff", "x" * 2000, "9" * 40, "-1e400"),
}
_plausible_text = st.sampled_from(
    ["", "0", "10", "12.50", "gbp", "usd", "eur", "4242", "payment.", "auth.login", "usr_a"]
)


def _fitting(field: Field, known_ids: list[str]) -> st.SearchStrategy[str]:
    """Values a person could mean for this kind of field: one mistake away from valid."""
    by_kind: dict[str, st.SearchStrategy[str]] = {
        "date": _any_date,
        "email": st.one_of(st.emails(), st.emails().map(str.upper)),
        "cursor": st.one_of(st.sampled_from(known_ids), _made_up_id, st.integers().map(str)),
        "search": st.one_of(st.sampled_from(known_ids), _made_up_id),
    }
    fitting = by_kind.get(field.kind, _plausible_text)
    if field.offered:
        return st.one_of(st.sampled_from(sorted(field.offered)), fitting)
    return fitting


def _encoded(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return text.map(lambda value: value.encode("utf-8", "surrogatepass"))


def _query(fields: dict[str, Field], known_ids: list[str]) -> st.SearchStrategy[str]:
    """Either plausible values in one to three fields (few, so that one invalid field does not
    hide the others: a form with any invalid field never reaches its query), or anything."""
    names = sorted(fields)
    # Anything: hostile text or bytes that are not UTF-8, in known, repeated or unknown keys.
    anything = st.one_of(_encoded(_hostile_text), st.binary(max_size=40))
    keys = st.binary(max_size=20)
    if names:
        keys = st.one_of(st.sampled_from(names).map(str.encode), keys)
    queries = st.lists(st.tuples(keys, anything), min_size=1, max_size=8)
    if names:
        plausible = st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True).flatmap(
            lambda chosen: st.tuples(
                *(
                    st.tuples(st.just(name.encode()), _encoded(_fitting(fields[name], known_ids)))
                    for name in chosen
                )
            )
        )
        queries = st.one_of(plausible.map(list), queries)
    return queries.map(
        lambda pairs: "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in pairs)
    )


@pytest.mark.parametrize("name", sorted(PAGES))
def test_no_filter_input_makes_a_page_or_export_fail(
    merchant_data: dict[str, Any], name: str
) -> None:
    client: Client = merchant_data["client"]
    path = PAGES[name](merchant_data)
    form_page = PAGES[FORM_OF[name]](merchant_data) if name in FORM_OF else path
    fields = _page_parameters(client, form_page, CURSORS.get(name, ()))
    known_ids = [merchant_data[key] for key in ("payment", "customer", "link")]

    def answers(query: str) -> None:
        response = client.get(path, QUERY_STRING=query)
        _body(response)
        assert response.status_code < 500, (path, query, response.status_code)

    for field_name, field in fields.items():
        for value in EDGES.get(field.kind, ()) + EDGES["any"]:
            encoded = value.encode("utf-8", "surrogatepass")
            answers(f"{quote_from_bytes(field_name.encode())}={quote_from_bytes(encoded)}")

    @settings(
        max_examples=EXAMPLES_PER_PAGE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(query=_query(fields, known_ids))
    def generated(query: str) -> None:
        answers(query)

    generated()


def test_every_page_with_a_get_form_is_fuzzed(merchant_data: dict[str, Any]) -> None:
    client: Client = merchant_data["client"]
    for route in DASHBOARD:
        if route.name in PAGES or route.name.startswith("accounts:"):
            continue
        if "{" in route.path or any(part in route.path for part in ("/x/", "/1/")):
            continue  # needs an object in its path; the ones with filters are in PAGES
        response = client.get(route.path)
        if response.status_code != 200 or response.streaming:
            assert not response.streaming, f"export {route.name} is not fuzzed"
            continue
        fields = get_form_fields(response.content.decode())
        assert not fields, f"{route.name} has a GET form ({sorted(fields)}) that is not fuzzed"


def test_a_page_s_form_fields_are_found() -> None:
    html = (
        '<form method="get"><input name="q"><select name="status"><option value="">Any</option>'
        '<option value="failed">Failed</option></select></form><form method="post">'
        '<input name="amount"></form>'
    )
    assert get_form_fields(html) == {
        "q": Field("text", frozenset()),
        "status": Field("select", frozenset({"", "failed"})),
    }
