"""The `/settings/` page's processors: who may see and change them, step-up, Braintree keys
checked before they are stored and never shown again, routing choices, and hostile input
answered with a page, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from accounts.roles import Role
from compliance.actors import Actor
from compliance.models import AuditEntry
from payments import services
from payments.models import ProcessorAccount, ProcessorCredential, RoutingRank
from payments.routing import processor_routing_set
from tests.factories import member, verified_client
from tests.payments.braintree.conftest import MERCHANT_ID, PRIVATE_KEY, PUBLIC_KEY

pytestmark = pytest.mark.django_db

SETTINGS = "/settings/"
CONNECT = "/settings/processors/braintree/"
ROUTING = "/settings/processors/routing/"
KEYS = {"merchant_id": MERCHANT_ID, "public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY}


def _as(role: str, merchant: Any) -> Client:
    return verified_client(member(role, merchant).user, merchant=merchant)


@pytest.fixture
def stripe_merchant(bt_merchant: Any, sandbox_control: Any, bt_control: Any) -> Any:
    services.merchant_connect_account_ensure(merchant=bt_merchant)
    return bt_merchant


@pytest.fixture
def owner(stripe_merchant: Any) -> Client:
    return _as(Role.OWNER, stripe_merchant)


def _stale_step_up(client: Client) -> None:
    session = client.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=30)).isoformat()
    session.save()


def test_owner_sees_processors_with_role_and_status(owner, stripe_merchant):
    page = owner.get(SETTINGS)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Stripe" in html
    assert "Primary" in html
    assert "Taking payments" in html
    assert "Connect Braintree" in html


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.ANALYST, Role.VIEWER])
def test_other_roles_cannot_open_or_change_settings(stripe_merchant, role):
    client = _as(role, stripe_merchant)
    assert client.get(SETTINGS).status_code == 403
    assert client.post(CONNECT, KEYS).status_code == 403
    assert client.post(ROUTING, {"primary": "stripe"}).status_code == 403
    assert not ProcessorAccount.objects.filter(processor="braintree").exists()


def test_admin_may_open_settings(stripe_merchant):
    assert _as(Role.ADMIN, stripe_merchant).get(SETTINGS).status_code == 200


def test_connecting_braintree_needs_a_fresh_one_time_password(owner):
    _stale_step_up(owner)
    response = owner.post(CONNECT, KEYS, HTTP_REFERER="http://testserver/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:step_up"))
    assert not ProcessorAccount.objects.filter(processor="braintree").exists()


def test_connecting_braintree_stores_keys_sealed_and_never_shows_them(owner, stripe_merchant):
    response = owner.post(CONNECT, KEYS)
    assert response.status_code == 302
    account = ProcessorAccount.objects.get(merchant=stripe_merchant, processor="braintree")
    credential = ProcessorCredential.objects.get(account=account)
    assert PRIVATE_KEY.encode() not in bytes(credential.ciphertext)
    html = owner.get(SETTINGS).content.decode()
    assert "Braintree" in html
    assert "Set " in html
    assert PRIVATE_KEY not in html
    assert PUBLIC_KEY not in html
    entry = AuditEntry.objects.get(action="merchant.processor_account_connect", outcome="success")
    assert PRIVATE_KEY not in str(entry.payload)
    assert PUBLIC_KEY not in str(entry.payload)


def test_bad_keys_are_refused_in_plain_words_and_nothing_is_stored(owner):
    response = owner.post(CONNECT, {**KEYS, "private_key": "wrong_private_key"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "refused these keys" in html
    assert "wrong_private_key" not in html
    assert not ProcessorAccount.objects.filter(processor="braintree").exists()
    assert AuditEntry.objects.filter(
        action="merchant.processor_account_connect", outcome="failure"
    ).exists()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"merchant_id": "", "public_key": "", "private_key": ""},
        {**KEYS, "merchant_id": "4242424242424242"},
        {**KEYS, "public_key": "4242 4242 4242 4242"},
        {**KEYS, "private_key": "x" * 5000},
        {**KEYS, "merchant_id": "ledger\x00line"},
        {**KEYS, "merchant_id": "<script>alert(1)</script>"},
        {**KEYS, "public_key": "ключ"},
        {"merchant_id": ["a", "b"], "public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY},
    ],
)
def test_hostile_connect_input_is_a_form_error_never_a_500(owner, fields):
    response = owner.post(CONNECT, fields)
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert not ProcessorAccount.objects.filter(processor="braintree").exists()


def test_choosing_braintree_primary_is_audited(owner, stripe_merchant):
    owner.post(CONNECT, KEYS)
    response = owner.post(ROUTING, {"primary": "braintree", "secondary": "stripe"})
    assert response.status_code == 302
    ranks = dict(
        ProcessorAccount.objects.filter(merchant=stripe_merchant).values_list(
            "processor", "routing_rank"
        )
    )
    assert ranks == {"braintree": RoutingRank.PRIMARY, "stripe": RoutingRank.SECONDARY}
    entry = AuditEntry.objects.get(action="merchant.processor_routing_update")
    assert entry.payload["primary"] == "braintree"
    assert entry.payload["step_up"] is True


def test_routing_needs_step_up(owner, stripe_merchant):
    owner.post(CONNECT, KEYS)
    _stale_step_up(owner)
    response = owner.post(ROUTING, {"primary": "braintree"})
    assert response["Location"].startswith(reverse("accounts:step_up"))
    assert ProcessorAccount.objects.get(processor="stripe").routing_rank == RoutingRank.PRIMARY


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"primary": "stripe", "secondary": "stripe"},
        {"primary": "braintree"},  # not connected
        {"primary": "paypal"},
        {"primary": "stripe", "secondary": "x" * 3000},
        {"primary": ["stripe", "braintree"]},
    ],
)
def test_bad_routing_choices_are_form_errors(owner, stripe_merchant, fields):
    response = owner.post(ROUTING, fields)
    assert response.status_code == 400
    assert ProcessorAccount.objects.get(processor="stripe").routing_rank == RoutingRank.PRIMARY
    assert not AuditEntry.objects.filter(action="merchant.processor_routing_update").exists()


def test_a_merchant_without_a_processor_connecting_braintree_makes_it_primary(bt_control):
    merchant = member(Role.OWNER).merchant
    client = verified_client(merchant.memberships.get().user, merchant=merchant)
    client.post(CONNECT, KEYS)
    account = ProcessorAccount.objects.get(merchant=merchant)
    assert account.processor == "braintree"
    assert account.routing_rank == RoutingRank.PRIMARY


def test_settings_link_shows_only_for_owners_and_admins(stripe_merchant):
    owner_home = _as(Role.OWNER, stripe_merchant).get("/payments/").content.decode()
    viewer_home = _as(Role.VIEWER, stripe_merchant).get("/payments/").content.decode()
    assert 'href="/settings/"' in owner_home
    assert 'href="/settings/"' not in viewer_home


def test_routing_service_refuses_unconnected_processor(stripe_merchant):
    from payments.routing import ProcessorNotConnectedError

    with pytest.raises(ProcessorNotConnectedError):
        processor_routing_set(
            merchant=stripe_merchant, primary="braintree", secondary=None, actor=Actor.system("t")
        )


def test_another_merchants_processor_is_neither_shown_nor_routable(owner, bt_control):
    """Merchant B connected Braintree; A's settings page does not list it and A cannot make it
    A's primary."""
    other = member(Role.OWNER).merchant
    verified_client(other.memberships.get().user, merchant=other).post(CONNECT, KEYS)
    assert ProcessorAccount.objects.filter(merchant=other, processor="braintree").exists()
    html = owner.get(SETTINGS).content.decode()
    assert MERCHANT_ID not in html
    response = owner.post(ROUTING, {"primary": "braintree"})
    assert response.status_code == 400
    assert ProcessorAccount.objects.get(merchant=other).routing_rank == RoutingRank.PRIMARY
