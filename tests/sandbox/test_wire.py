"""Stripe's wire format at the HTTP level: form decoding, keys, headers, hostile input."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from sandbox.stripe.errors import StripeError
from sandbox.stripe.params import parse_form
from tests.sandbox.conftest import SANDBOX_KEY

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    sent = {"Authorization": f"Bearer {SANDBOX_KEY}", **(headers or {})}
    request = urllib.request.Request(url + path, data=body, method=method, headers=sent)  # noqa: S310
    try:
        with _OPENER.open(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_leaf = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_values = st.recursive(
    _leaf,
    lambda inner: (
        st.dictionaries(_names, inner, min_size=1, max_size=3)
        | st.lists(inner, min_size=1, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_names, _values, min_size=1, max_size=4))
def test_form_decoding_inverts_the_sdk_encoder(params):
    """Whatever nested hashes and arrays the SDK encodes, the sandbox decodes the same value."""
    encoded = urlencode(list(_api_encode(params)))
    assert parse_form(encoded) == params


def test_empty_brackets_append_to_a_list():
    assert parse_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}


@pytest.mark.parametrize("body", ["a=1&a[b]=2", "a[b]=2&a=1", "a[=1", "]=x", "%ff=1"])
def test_malformed_forms_are_parameter_errors(body):
    with pytest.raises(StripeError) as caught:
        parse_form(body)
    assert caught.value.status == 400
    assert caught.value.stored is False


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_bytes_either_parse_or_raise_a_stripe_error(raw):
    try:
        result: object = parse_form(raw)
    except StripeError as exc:
        result = exc.status
    assert result == 400 or isinstance(result, dict)


def test_missing_key_is_401_with_a_stripe_error(sandbox):
    status, headers, body = call(sandbox.url, "GET", "/v1/customers", headers={"Authorization": ""})
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize(
    "key", ["sk_live_abc", "pk_live_abc", "rk_test_", "sk_test_abc def", "Bearer"]
)
def test_non_test_keys_are_refused(sandbox, key):
    status, _, body = call(
        sandbox.url, "GET", "/v1/customers", headers={"Authorization": f"Bearer {key}"}
    )
    assert status == 401
    assert "Invalid API Key" in body["error"]["message"]


def test_basic_auth_with_the_key_as_user_is_accepted(sandbox):
    token = base64.b64encode(f"{SANDBOX_KEY}:".encode()).decode()
    status, _, _ = call(
        sandbox.url, "GET", "/v1/customers", headers={"Authorization": f"Basic {token}"}
    )
    assert status == 200


def test_publishable_key_cannot_call_secret_endpoints(sandbox):
    status, _, body = call(
        sandbox.url,
        "GET",
        "/v1/customers",
        headers={"Authorization": "Bearer pk_test_ledgerline_sandbox"},
    )
    assert status == 401
    assert "publishable" in body["error"]["message"]


def test_keys_with_different_names_are_different_platforms(sandbox):
    _, _, created = call(sandbox.url, "POST", "/v1/customers", b"email=a%40b.c")
    status, _, _ = call(
        sandbox.url,
        "GET",
        f"/v1/customers/{created['id']}",
        headers={"Authorization": "Bearer sk_test_other"},
    )
    assert status == 404


def test_unknown_route_is_a_stripe_404(sandbox):
    status, headers, body = call(sandbox.url, "GET", "/v1/nothing_here")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing_here)")
    assert "Request-Id" in headers


def test_invalid_stripe_version_is_refused(sandbox):
    status, _, body = call(
        sandbox.url, "GET", "/v1/customers", headers={"Stripe-Version": "yesterday"}
    )
    assert status == 400
    assert "API version" in body["error"]["message"]


def test_stripe_version_is_echoed(sandbox):
    _, headers, _ = call(
        sandbox.url, "GET", "/v1/customers", headers={"Stripe-Version": "2024-06-20"}
    )
    assert headers["Stripe-Version"] == "2024-06-20"


def test_foreign_stripe_account_is_refused(sandbox):
    status, _, body = call(
        sandbox.url, "GET", "/v1/customers", headers={"Stripe-Account": "acct_notmine"}
    )
    assert status == 403
    assert body["error"]["code"] == "account_invalid"


def test_bad_integer_names_its_parameter(sandbox):
    status, _, body = call(sandbox.url, "POST", "/v1/payment_intents", b"amount=ten&currency=usd")
    assert status == 400
    assert body["error"]["param"] == "amount"
    assert body["error"]["code"] == "parameter_invalid_integer"


def test_nested_unknown_parameter_is_named_in_full(sandbox):
    status, _, body = call(sandbox.url, "POST", "/v1/customers", b"address[planet]=mars")
    assert status == 400
    assert body["error"]["param"] == "address[planet]"


def test_invalid_content_length_gets_400_and_server_survives(sandbox):
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    status, _, _ = call(sandbox.url, "GET", "/v1/customers")
    assert status == 200


def test_cors_preflight_allows_stripe_js_headers(sandbox):
    request = urllib.request.Request(sandbox.url + "/v1/payment_methods", method="OPTIONS")  # noqa: S310
    with _OPENER.open(request, timeout=5) as answer:
        assert answer.status == 204
        assert "Stripe-Account" in answer.headers["Access-Control-Allow-Headers"]
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_raw_card_number_that_is_not_a_test_card_is_declined(sandbox):
    body = b"type=card&card[number]=4111111111111111&card[exp_month]=12&card[exp_year]=2040"
    status, _, answer = call(sandbox.url, "POST", "/v1/payment_methods", body)
    assert status == 402
    assert answer["error"]["decline_code"] == "live_mode_test_card"


def test_card_number_failing_luhn_is_incorrect_number(sandbox):
    body = b"type=card&card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2040"
    status, _, answer = call(sandbox.url, "POST", "/v1/payment_methods", body)
    assert status == 402
    assert answer["error"]["code"] == "incorrect_number"


def test_state_never_holds_a_card_number(sandbox):
    body = b"type=card&card[number]=4000002500003155&card[exp_month]=12&card[exp_year]=2040"
    status, _, pm = call(sandbox.url, "POST", "/v1/payment_methods", body)
    assert status == 200
    assert pm["card"]["last4"] == "3155"
    dump = json.dumps(sandbox.sandbox.stripe.snapshot())
    assert "4000002500003155" not in dump


def test_digit_parameter_names_stay_names_at_the_top_level():
    assert parse_form("0=a") == {"0": "a"}
