"""The XML wire: keys, unknown endpoints, malformed and hostile XML, fuzzing, processor faults."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request

import braintree
import pytest
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.http.connection_error import ConnectionError as BTConnectionError
from braintree.exceptions.http.timeout_error import ReadTimeoutError
from braintree.exceptions.server_error import ServerError
from braintree.exceptions.too_many_requests_error import TooManyRequestsError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.braintree.xmlwire import XMLInputError, parse
from tests.sandbox.braintree.conftest import MERCHANT_ID, PRIVATE_KEY, PUBLIC_KEY, make_gateway

AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{PRIVATE_KEY}".encode()).decode()
SALE = {"amount": "10.00", "payment_method_nonce": "fake-valid-nonce"}


def _raw(url: str, method: str, path: str, body: bytes, auth: str = AUTH) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 (loopback test server)
        f"{url}/merchants/{MERCHANT_ID}{path}",
        data=body if method != "GET" else None,
        method=method,
        headers={"Authorization": auth, "Content-Type": "application/xml", "X-ApiVersion": "6"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _count(sandbox) -> int:
    return sandbox.control.state()["braintree"]["objects"]["transactions"]


def test_wrong_keys_are_an_authentication_error(sandbox):
    with pytest.raises(AuthenticationError):
        make_gateway(sandbox, private_key="wrong").transaction.sale(dict(SALE))
    assert _count(sandbox) == 0


def test_keys_of_another_merchant_are_an_authorization_error(sandbox):
    with pytest.raises(AuthorizationError):
        make_gateway(sandbox, merchant_id="someone_else").transaction.find("abc")


def test_unknown_endpoint_is_a_404(sandbox):
    status, body = _raw(sandbox.url, "GET", "/plans", b"")
    assert status == 404
    assert b"no such endpoint" in body


@pytest.mark.parametrize(
    "body",
    [
        b"<transaction><amount>1</amount>",
        b"not xml at all",
        b"<a/><b/>",
        b"\xff\xfe<x/>",
    ],
)
def test_malformed_xml_is_a_clean_400(sandbox, body):
    status, answer = _raw(sandbox.url, "POST", "/transactions", body)
    assert status == 400
    assert b"not valid XML" in answer
    assert _count(sandbox) == 0


def test_entities_and_doctypes_are_refused(sandbox):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<transaction><amount>&b;</amount></transaction>"
    )
    status, _ = _raw(sandbox.url, "POST", "/transactions", bomb)
    assert status == 400
    external = (
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<transaction><order-id>&x;</order-id></transaction>"
    )
    assert _raw(sandbox.url, "POST", "/transactions", external)[0] == 400
    with pytest.raises(XMLInputError):
        parse(b"<a>" * 100 + b"</a>" * 100)


def test_the_parser_reads_what_the_sdk_writes():
    from braintree.util.generator import Generator

    xml = Generator(
        {"search": {"ids": ["a", "b"], "amount": {"min": "1.00"}, "flag": True, "n": 3}}
    ).generate()
    assert parse(xml.encode()) == {
        "search": {"ids": ["a", "b"], "amount": {"min": "1.00"}, "flag": True, "n": 3}
    }


def test_a_wrongly_shaped_field_is_a_validation_error(sandbox):
    status, body = _raw(
        sandbox.url,
        "POST",
        "/transactions",
        b"<transaction><amount><x>1</x></amount><payment-method-nonce>fake-valid-nonce</payment-method-nonce></transaction>",
    )
    assert status == 422
    assert b"81503" in body


xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
tags = st.sampled_from(
    [
        "transaction",
        "amount",
        "payment-method-nonce",
        "options",
        "submit-for-settlement",
        "customer",
        "search",
        "ids",
        "item",
        "order-id",
        "credit-card",
        "number",
        "evidence",
        "comments",
        "status",
        "created-at",
        "min",
        "max",
        "is",
        "client-token",
        "email",
    ]
)
types = st.sampled_from(
    ["", ' type="array"', ' type="integer"', ' type="boolean"', ' type="datetime"', ' nil="true"']
)


@st.composite
def documents(draw, depth=0):
    tag = draw(tags)
    kind = draw(types)
    if depth < 3 and draw(st.booleans()):
        inner = "".join(draw(st.lists(documents(depth=depth + 1), max_size=3)))
    else:
        value = draw(xml_text)
        inner = value.replace("&", "&amp;").replace("<", "&lt;")
    return f"<{tag}{kind}>{inner}</{tag}>"


ENDPOINTS = [
    ("POST", "/transactions"),
    ("POST", "/transactions/advanced_search_ids"),
    ("POST", "/transactions/advanced_search"),
    ("POST", "/customers"),
    ("POST", "/customers/advanced_search_ids"),
    ("POST", "/client_token"),
    ("POST", "/disputes/advanced_search"),
    ("PUT", "/transactions/nosuch/submit_for_settlement"),
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.one_of(documents(), st.binary(max_size=200)),
)
def test_fuzzed_xml_never_gets_a_5xx(sandbox, endpoint, body):
    method, path = endpoint
    payload = body.encode() if isinstance(body, str) else body
    status, _ = _raw(sandbox.url, method, path, payload)
    assert status < 500


def test_error_500_fault_has_no_effect(sandbox):
    gw = make_gateway(sandbox)
    sandbox.control.add_fault("error_500", path=f"/merchants/{MERCHANT_ID}/transactions")
    with pytest.raises(ServerError):
        gw.transaction.sale(dict(SALE))
    assert _count(sandbox) == 0


def test_rate_limit_fault(sandbox):
    sandbox.control.add_fault("rate_limit_429")
    with pytest.raises(TooManyRequestsError):
        make_gateway(sandbox).transaction.sale(dict(SALE))


def test_timeout_fault_drops_the_call_before_any_effect(sandbox):
    sandbox.control.add_fault("timeout", seconds=0.2)
    with pytest.raises(BTConnectionError):
        make_gateway(sandbox).transaction.sale(dict(SALE))
    assert _count(sandbox) == 0


@pytest.mark.parametrize(
    ("kind", "seen"), [("lose_response", BTConnectionError), ("error_500_after", ServerError)]
)
def test_faults_after_acting_leave_exactly_one_transaction_to_find(sandbox, kind, seen):
    """The charge happened though the caller saw a failure: a search by order id finds it."""
    gw = make_gateway(sandbox)
    sandbox.control.add_fault(kind, method="POST", path=f"/merchants/{MERCHANT_ID}/transactions")
    with pytest.raises(seen):
        gw.transaction.sale({**SALE, "order_id": "order-42"})
    found = gw.transaction.search(braintree.TransactionSearch.order_id == "order-42")
    assert found.maximum_size == 1


def test_timeout_after_acting_is_a_read_timeout(sandbox):
    gw = make_gateway(sandbox, timeout=0.5)
    sandbox.control.add_fault("timeout_after", seconds=2, method="POST")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        gw.transaction.sale({**SALE, "order_id": "order-43"})
    assert time.monotonic() - started < 2
    found = make_gateway(sandbox).transaction.search(
        braintree.TransactionSearch.order_id == "order-43"
    )
    assert found.maximum_size == 1


def test_latency_fault_answers_late_but_normally(sandbox):
    sandbox.control.add_fault("latency", seconds=0.3)
    started = time.monotonic()
    assert make_gateway(sandbox).transaction.sale(dict(SALE)).is_success
    assert time.monotonic() - started >= 0.3
