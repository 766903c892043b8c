"""Plaid's circuit breaker, against the sandbox Plaid's fault switches: outages open it, an open
breaker refuses at once (nothing reaches Plaid) with a Retry-After, refusals and rate limits
never open it, and a half-open probe closes it again."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from banking.exceptions import PlaidRequestError, PlaidUnavailableError
from banking.gateways import plaid as gateway
from banking.gateways.plaid import client as plaid_client
from config import resilience
from tests.banking.linking import FIRST_PLATYPUS, PlaidSandbox, new_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opens after 2 outages, lets a probe through 0.3 s later; one attempt per call."""
    monkeypatch.setattr(plaid_client, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(plaid_client, "BREAKER_FAIL_MAX", 2)
    monkeypatch.setattr(plaid_client, "BREAKER_RESET_TIMEOUT_SECONDS", 0.3)
    plaid_client.breaker_reset()


def _access_token(plaid: PlaidSandbox) -> str:
    public = plaid.sandbox_call(
        "/sandbox/public_token/create", institution_id=FIRST_PLATYPUS, initial_products=["auth"]
    )["public_token"]
    return gateway.public_token_exchange(public_token=public).access_token


def _faults_left(plaid: PlaidSandbox) -> int:
    return sum(f["remaining"] for f in plaid.control.request("GET", "faults")["faults"])


def _state() -> str:
    return str(resilience.breaker(plaid_client.policy()).current_state)


def test_outages_open_the_breaker_and_it_then_refuses_without_calling_plaid(
    plaid: PlaidSandbox, small_breaker: None
) -> None:
    access_token = _access_token(plaid)
    plaid.control.add_fault("error_500", count=10, path="/item/get")
    for _ in range(2):
        with pytest.raises(PlaidUnavailableError):
            gateway.item_get(access_token=access_token)
    assert _state() == "open"
    left = _faults_left(plaid)
    started = time.monotonic()
    with pytest.raises(PlaidUnavailableError) as caught:
        gateway.accounts_get(access_token=access_token)
    assert time.monotonic() - started < 0.2
    assert _faults_left(plaid) == left, "an open breaker sends nothing"
    assert caught.value.retry_after == 1
    assert caught.value.headers == {"Retry-After": "1"}


def test_refusals_and_rate_limits_never_open_the_breaker(
    plaid: PlaidSandbox, small_breaker: None
) -> None:
    for _ in range(4):
        with pytest.raises(PlaidRequestError):
            gateway.public_token_exchange(public_token="public-sandbox-forged")
    access_token = _access_token(plaid)
    plaid.control.add_fault("rate_limit_429", count=4, path="/item/get")
    for _ in range(4):
        with pytest.raises(PlaidUnavailableError):
            gateway.item_get(access_token=access_token)
    assert _state() == "closed"
    assert gateway.item_get(access_token=access_token).item_id


def test_a_half_open_probe_closes_the_breaker_once_plaid_answers(
    plaid: PlaidSandbox, small_breaker: None
) -> None:
    access_token = _access_token(plaid)
    plaid.control.add_fault("error_500", count=2, path="/item/get")
    for _ in range(2):
        with pytest.raises(PlaidUnavailableError):
            gateway.item_get(access_token=access_token)
    assert _state() == "open"
    time.sleep(0.35)
    assert gateway.item_get(access_token=access_token).item_id
    assert _state() == "closed"


def test_a_failed_probe_keeps_it_open(plaid: PlaidSandbox, small_breaker: None) -> None:
    access_token = _access_token(plaid)
    plaid.control.add_fault("error_500", count=3, path="/item/get")
    for _ in range(2):
        with pytest.raises(PlaidUnavailableError):
            gateway.item_get(access_token=access_token)
    time.sleep(0.35)
    with pytest.raises(PlaidUnavailableError):
        gateway.item_get(access_token=access_token)
    assert _faults_left(plaid) == 0, "the probe reached Plaid"
    assert _state() == "open"


def test_the_link_page_says_bank_linking_is_unavailable_while_the_breaker_is_open(
    plaid: PlaidSandbox, small_breaker: None
) -> None:
    """The customer gets the page's friendly 503, never a 500, and Plaid is not called."""
    new = new_session()
    plaid.control.add_fault("error_500", count=10, path="/link/token/create")
    client = Client()
    for _ in range(2):
        assert client.get(new.path).status_code == 503
    assert _state() == "open"
    left = _faults_left(plaid)
    response = client.get(new.path)
    assert response.status_code == 503
    assert "Bank linking is unavailable right now" in response.content.decode()
    assert _faults_left(plaid) == left
