"""Issue 13.5 end to end: the security review's card numbers are refused in every free-text
input (API, dashboard, public pages) with an error naming the field, what a processor echoes
back is masked before it is stored, and `pan_scan` then finds nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from api.models import IdempotencyRecord
from config.card_numbers import MASK, luhn_valid
from config.free_text import CARD_NUMBER_IN_KEY_MESSAGE, CARD_NUMBER_MESSAGE
from inbound.models import InboundEvent
from payments.models import Customer, Payment, PaymentLink
from tests.factories import member, verified_client
from tests.inbound.webhook_support import deliver, event_payload

pytestmark = pytest.mark.django_db

MASTERCARD_SPACED = "5555 5555 5555 4444"
VISA = "4012888888881881"
AMEX = "378282246310005"
DISCOVER = "6011111111111117"
VISA_19 = "4917610000000000003"


def _assert_pan_scan_finds_nothing() -> None:
    out = io.StringIO()
    try:
        call_command("pan_scan", stdout=out, stderr=io.StringIO())
    except CommandError as error:  # a find: the FOUND lines name where, never the digits
        raise AssertionError(f"{error}\n{out.getvalue()}") from error
    assert "OK: no card numbers found" in out.getvalue()


def _assert_refused(response, param: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("card_number", param)
    expected = CARD_NUMBER_IN_KEY_MESSAGE if param == "metadata" else CARD_NUMBER_MESSAGE
    if param != "Idempotency-Key":
        assert error["message"] == expected
    body = response.content.decode()
    for number in (VISA, AMEX, DISCOVER, VISA_19, MASTERCARD_SPACED):
        assert number not in body


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/v1/customers", {"name": MASTERCARD_SPACED}, "name"),
        ("/api/v1/customers", {"email": f"{VISA}@example.com"}, "email"),
        ("/api/v1/customers", {"description": f"card {AMEX} on file"}, "description"),
        ("/api/v1/customers", {"metadata": {"note": AMEX}}, "metadata.note"),
        ("/api/v1/customers", {"metadata": {AMEX: "x"}}, "metadata"),
        ("/api/v1/customers", {"metadata": {AMEX: AMEX}}, "metadata"),
        (
            "/api/v1/payments",
            {
                "amount": 1000,
                "currency": "gbp",
                "payment_method": "pm_card_visa",
                "description": VISA,
            },
            "description",
        ),
        (
            "/api/v1/payments",
            {
                "amount": 1000,
                "currency": "gbp",
                "payment_method": "pm_card_visa",
                "metadata": {"order": f"{AMEX[:4]}-{AMEX[4:10]}-{AMEX[10:]}"},
            },
            "metadata.order",
        ),
        (
            "/api/v1/payment-links",
            {"amount": 1000, "currency": "gbp", "description": DISCOVER},
            "description",
        ),
    ],
)
def test_api_refuses_a_card_number_in_free_text_naming_the_field(api, path, body, param):
    """Given the review's inputs, the API answers 400 `card_number` naming the field (never
    the key itself when a metadata key is the card number), and stores nothing."""
    _assert_refused(api.post(path, body, format="json"), param)
    assert not Customer.objects.exists()
    assert not Payment.objects.exists()
    assert not PaymentLink.objects.exists()
    _assert_pan_scan_finds_nothing()


def test_api_refuses_a_card_number_in_a_list_filter(api):
    _assert_refused(api.get("/api/v1/payments", {"customer": VISA_19}), "customer")


def test_an_idempotency_key_that_is_a_card_number_is_refused_before_anything_is_stored(api):
    response = api.post(
        "/api/v1/customers", {"name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY=VISA
    )
    _assert_refused(response, "Idempotency-Key")
    assert not IdempotencyRecord.objects.exists()
    assert not Customer.objects.exists()
    _assert_pan_scan_finds_nothing()


_pans = st.builds(
    lambda body: next(body + c for c in "0123456789" if luhn_valid(body + c)),
    st.from_regex(r"[2-9][0-9]{11,17}", fullmatch=True),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pan=_pans,
    separator=st.sampled_from(["", " ", "-"]),
    field=st.sampled_from(["name", "description"]),
)
def test_any_generated_card_number_is_refused_in_a_customer(api, pan, separator, field):
    grouped = separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    response = api.post("/api/v1/customers", {field: f"paid with {grouped}."}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field
    assert not Customer.objects.exists()


@pytest.fixture
def owner(merchant, sandbox_control):
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


def test_dashboard_forms_refuse_a_card_number_with_a_field_error(merchant, owner):
    """The payment-link form (its description is shown on the public pay page) and the API
    key name answer with a form error on the field; nothing is stored."""
    response = owner.post(
        reverse("payment-link-create"),
        {"amount": "12.50", "currency": "gbp", "description": DISCOVER, "reusable": "false"},
    )
    assert response.context["form"].errors["description"] == [CARD_NUMBER_MESSAGE]
    assert not PaymentLink.objects.exists()
    response = owner.post(
        reverse("developers-key-create"), {"name": MASTERCARD_SPACED, "role": Role.DEVELOPER}
    )
    assert response.context["form"].errors["name"] == [CARD_NUMBER_MESSAGE]
    assert DISCOVER not in response.content.decode()
    _assert_pan_scan_finds_nothing()


def test_a_signed_webhook_echoing_card_numbers_is_stored_masked(client, merchant):
    """A validly signed Stripe event whose object echoes card numbers (a description, metadata
    key and value, a number) is accepted on its signature and stored with them masked."""
    payload = event_payload(
        "customer.updated",
        obj={
            "id": "cus_echo1",
            "object": "customer",
            "description": f"card {MASTERCARD_SPACED}",
            "metadata": {"note": VISA, AMEX: "x"},
            "phone": int(DISCOVER),
        },
    )
    response = deliver(client, payload)
    assert response.status_code == 200, response.content
    stored = InboundEvent.objects.get(event_id=payload["id"]).payload
    obj = stored["data"]["object"]
    assert obj["description"] == f"card {MASK}"
    assert obj["metadata"] == {"note": MASK, MASK: "x"}
    assert obj["phone"] == MASK
    assert VISA not in json.dumps(stored)
    _assert_pan_scan_finds_nothing()
