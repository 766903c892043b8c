"""One-time submission tokens of money forms: bound to their action, object and person; any
other value changes nothing and says to reload, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from payments.models import Refund
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.payments.factories import card_payment

pytestmark = pytest.mark.django_db
EXPIRED = "This form has expired; nothing was changed. Reload the page and try again."


@pytest.fixture
def owner(merchant, sandbox_control) -> Client:
    return verified_client(member(Role.OWNER, merchant).user, merchant=merchant)


@pytest.fixture
def payment(merchant, sandbox_control):
    return card_payment(merchant)


def _landed_messages(client: Client, response) -> list[str]:
    assert response.status_code == 302
    return [str(m) for m in client.get(response["Location"]).context["messages"]]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=st.text(max_size=600))
def test_any_token_we_did_not_issue_changes_nothing(owner, payment, token):
    """Hostile tokens (any text, over-long, near-misses) are refused the same way; the
    fixtures are made once and shared by the generated examples."""
    url = reverse("payment-refund", args=[payment.public_id])
    response = owner.post(url, {"amount": "1.00", "submission_token": token.replace("\x00", "")})
    assert _landed_messages(owner, response) == [EXPIRED]
    assert not Refund.objects.filter(payment=payment).exists()


def test_a_token_is_bound_to_its_payment_action_and_person(merchant, owner, sandbox_control):
    first, second = card_payment(merchant), card_payment(merchant)
    refund_first = reverse("payment-refund", args=[first.public_id])
    token = form_fields(owner, reverse("payment-detail", args=[first.public_id]), refund_first)[
        "submission_token"
    ]
    # Another payment's form, or another action, does not accept it.
    for url in (
        reverse("payment-refund", args=[second.public_id]),
        reverse("payment-cancel", args=[first.public_id]),
    ):
        response = owner.post(url, {"amount": "1.00", "submission_token": token})
        assert _landed_messages(owner, response) == [EXPIRED]
    # Another member of the merchant cannot submit this person's form either.
    colleague = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    response = colleague.post(refund_first, {"amount": "1.00", "submission_token": token})
    assert _landed_messages(colleague, response) == [EXPIRED]
    assert not Refund.objects.exists()
    # Its own form takes it.
    response = owner.post(refund_first, {"amount": "1.00", "submission_token": token})
    assert _landed_messages(owner, response) == ["Refund submitted."]
