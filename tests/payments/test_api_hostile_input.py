"""Hostile request bodies and queries are refused with a 400 in the API's error shape, never a 500.

Each case below answered 500 (or was silently accepted against the schema) before the API's
JSON parser checked documents and the input serializers checked JSON types (issue 13, items
3 and 14).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.models import IdempotencyRecord
from payments.models import Customer, PaymentLink

pytestmark = pytest.mark.django_db

PAYMENT = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}
# Any code point, plus what hypothesis leaves out by default: NUL and lone surrogates.
HOSTILE_CHARACTERS = st.one_of(
    st.characters(), st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"])
)


def _post_raw(api, path: str, text: str, **headers: str):
    """POST `text` as the body byte for byte (json.dumps escapes surrogates as \\udXXX)."""
    return api.generic("POST", path, text.encode(), content_type="application/json", **headers)


def _assert_api_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize("key", ["a\x00b", "\ud800", "ok\udfff"])
@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/payments"])
def test_nul_or_lone_surrogate_in_a_metadata_key_is_a_400_naming_metadata(
    api, path: str, key: str
) -> None:
    body = {**PAYMENT, "metadata": {key: "value"}}
    response = _post_raw(api, path, json.dumps(body))
    error = _assert_api_error(response, 400, "invalid_characters")
    assert error["param"] == "metadata"
    assert not Customer.objects.exists()


def test_customer_update_with_a_bad_metadata_key_changes_nothing(api, merchant) -> None:
    customer = Customer.objects.create(merchant=merchant, metadata={"kept": "yes"})
    response = _post_raw(
        api, f"/api/v1/customers/{customer.public_id}", json.dumps({"metadata": {"\x00": "x"}})
    )
    _assert_api_error(response, 400, "invalid_characters")
    customer.refresh_from_db()
    assert customer.metadata == {"kept": "yes"}


def test_idempotency_key_with_a_lone_surrogate_in_the_body_is_a_400_and_claims_nothing(
    api,
) -> None:
    body = json.dumps({**PAYMENT, "note": "\udc80"})  # a field the serializer ignores
    response = _post_raw(api, "/api/v1/payments", body, HTTP_IDEMPOTENCY_KEY="key-surrogate")
    error = _assert_api_error(response, 400, "invalid_characters")
    assert error["param"] == "note"
    customers = _post_raw(
        api, "/api/v1/customers", json.dumps({"name": "\ud83d"}), HTTP_IDEMPOTENCY_KEY="k2"
    )
    _assert_api_error(customers, 400, "invalid_characters")
    assert not IdempotencyRecord.objects.exists()


def test_an_email_longer_than_254_characters_is_a_400_naming_email(api) -> None:
    email = "a" * 64 + "@" + ".".join(["b" * 63] * 3 + ["c" * 37]) + ".example"
    assert len(email) == 302
    response = api.post("/api/v1/customers", {"email": email}, format="json")
    error = _assert_api_error(response, 400)
    assert error["param"] == "email"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_5000_deep_document_is_a_400_body_too_deep(api, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    text = opening * 5000 + "1" + closing * 5000
    _assert_api_error(_post_raw(api, "/api/v1/customers", text), 400, "body_too_deep")
    nested = json.dumps({"metadata": {"a": "b"}, "name": "n"})
    assert _post_raw(api, "/api/v1/customers", nested).status_code == 201


@pytest.mark.parametrize("text", ["\xff\xfe{}", '{"name": NaN}', '{"name": 1e999999}', "{"])
def test_undecodable_or_invalid_json_is_a_400_parse_error(api, text: str) -> None:
    body = text.encode("latin-1")
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    if response.status_code == 400 and response.json()["error"]["code"] == "invalid_type":
        return  # 1e999999 parses to infinity, which is not a string
    _assert_api_error(response, 400, "parse_error")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    key=st.text(HOSTILE_CHARACTERS, min_size=0, max_size=50),
    value=st.one_of(
        st.text(HOSTILE_CHARACTERS, max_size=20),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_any_metadata_key_and_value_is_stored_as_sent_or_refused_with_a_400(
    api, key: str, value: object
) -> None:
    """Generated keys and values, surrogates and control characters included."""
    response = _post_raw(api, "/api/v1/customers", json.dumps({"metadata": {key: value}}))
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 201:
        assert response.json()["metadata"] == {key: value}
    else:
        _assert_api_error(response, 400)


# --- The schema and the code agree (issue 13, item 14) ---------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/payments?starting_after=",
        "/api/v1/payments?status=",
        "/api/v1/payments?customer=",
        "/api/v1/events?type=",
        "/api/v1/events?status=",
        "/api/v1/customers?email=",
        "/api/v1/payment-links?limit=",
    ],
)
def test_an_empty_query_value_is_refused_as_the_schema_says(api, query: str) -> None:
    error = _assert_api_error(api.get(query), 400)
    assert error["param"] == query.split("?")[1].rstrip("=")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/v1/customers", {"metadata": {"count": 5}}, "metadata"),
        ("/api/v1/customers", {"metadata": {"flag": True}}, "metadata"),
        ("/api/v1/customers", {"name": 5}, "name"),
        ("/api/v1/customers", {"metadata": "a=b"}, "metadata"),
        ("/api/v1/payments", {**PAYMENT, "amount": "2000"}, "amount"),
        ("/api/v1/payments", {**PAYMENT, "amount": True}, "amount"),
        ("/api/v1/payment-links", {**PAYMENT, "description": "d", "reusable": "yes"}, "reusable"),
        ("/api/v1/payments", {**PAYMENT, "capture_method": 1}, "capture_method"),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_converted(
    api, path: str, body: dict, param: str
) -> None:
    error = _assert_api_error(api.post(path, body, format="json"), 400, "invalid_type")
    assert error["param"] == param
    assert not Customer.objects.exists()
    assert not PaymentLink.objects.exists()


def test_an_integral_float_is_an_integer_as_in_json_schema(api) -> None:
    body = {"amount": 4500.0, "currency": "gbp", "description": "Seat"}
    assert api.post("/api/v1/payment-links", body, format="json").status_code == 201


def test_an_empty_customer_id_is_refused_and_the_schema_says_so(api) -> None:
    response = api.post("/api/v1/payments", {**PAYMENT, "customer": ""}, format="json")
    error = _assert_api_error(response, 400)
    assert error["param"] == "customer"


def test_the_schema_describes_what_the_input_checks_enforce(client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    bodies = schema["components"]["schemas"]
    payment = bodies["PaymentCreateInputRequest"]["properties"]
    assert payment["customer"]["pattern"] == "^cus_[A-Za-z0-9]{1,28}$"  # so "" is refused
    assert bodies["PaymentLinkCreateInputRequest"]["properties"]["description"]["minLength"] == 1
    metadata = bodies["CustomerInputRequest"]["properties"]["metadata"]
    assert metadata["additionalProperties"]["type"] == "string"
    assert metadata["propertyNames"] == {"minLength": 1, "maxLength": 40}
    payments_list = schema["paths"]["/api/v1/payments"]["get"]
    cursor = next(p for p in payments_list["parameters"] if p["name"] == "starting_after")
    assert cursor["schema"]["minLength"] == 1
    assert "resource_missing" in cursor["description"]
    error = payments_list["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "414" in payments_list["responses"]
