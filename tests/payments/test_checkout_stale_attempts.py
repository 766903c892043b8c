"""A single-use link is never paid twice, even through an abandoned 3-D Secure challenge."""

from __future__ import annotations

import pytest
import requests
import time_machine
from django.test import Client
from django.utils import timezone

from payments.models import Payment, PaymentLink
from payments.services import merchant_connect_account_ensure
from tests.cache_support import clear_own_cache
from tests.payments.factories import PaymentLinkFactory
from tests.payments.test_pay_page import _authenticate, _form, _intents, _post

pytestmark = pytest.mark.django_db
PAST_THE_HOLD = 31 * 60


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_own_cache()


@pytest.fixture
def link(merchant, sandbox_control) -> PaymentLink:
    merchant_connect_account_ensure(merchant=merchant)
    return PaymentLinkFactory(merchant=merchant, amount=2500, currency="gbp", reusable=False)


@pytest.fixture
def customer() -> Client:
    return Client(enforce_csrf_checks=True)


def _abandon_a_challenge(customer: Client, link: PaymentLink) -> Payment:
    fields = _form(customer, link)
    assert _post(customer, link, fields, "pm_card_authenticationRequired").status_code == 303
    abandoned = Payment.objects.get(payment_link=link)
    assert abandoned.status == "requires_action"
    return abandoned


def test_new_attempt_cancels_an_abandoned_challenge_so_it_can_never_charge(
    customer, link, sandbox_control
):
    """Given a 3-D Secure attempt abandoned for longer than the hold, a new attempt cancels it
    at the processor before paying, so approving the old challenge later charges nothing."""
    abandoned = _abandon_a_challenge(customer, link)
    with time_machine.travel(timezone.now().timestamp() + PAST_THE_HOLD, tick=False):
        fields = _form(customer, link)
        assert _post(customer, link, fields, "pm_card_visa").status_code == 303

    abandoned.refresh_from_db()
    assert abandoned.status == "canceled"
    statuses = {i["id"]: i["status"] for i in _intents(sandbox_control, link)}
    assert statuses[abandoned.processor_payment_id] == "canceled"
    assert sorted(statuses.values()) == ["canceled", "succeeded"]
    with pytest.raises(requests.HTTPError):
        _authenticate(sandbox_control, abandoned.processor_payment_id, "approve")
    assert Payment.objects.filter(payment_link=link, status="succeeded").count() == 1


def test_a_challenge_approved_meanwhile_keeps_the_link_taken(customer, link, sandbox_control):
    """Given the old challenge was approved at the bank but we never heard of it, the new
    attempt finds that out instead of cancelling, records it, and is refused: one charge."""
    abandoned = _abandon_a_challenge(customer, link)
    _authenticate(sandbox_control, abandoned.processor_payment_id, "approve")
    with time_machine.travel(timezone.now().timestamp() + PAST_THE_HOLD, tick=False):
        fields = _form(customer, link)
        refused = _post(customer, link, fields, "pm_card_visa")

    assert refused.status_code == 410
    abandoned.refresh_from_db()
    assert abandoned.status == "succeeded"
    assert [i["status"] for i in _intents(sandbox_control, link)] == ["succeeded"]
