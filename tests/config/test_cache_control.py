"""Every page, export and API answer is `Cache-Control: no-store` unless a view says otherwise.

The walk reuses tests/config/test_url_walk.py's list of every route, so a view added later is
checked without anyone remembering to: dashboard and admin pages as an OTP-verified staff
owner with data to show, API routes with an API key, public pages (pay, bank link) with real
tokens. Static files keep their long-lived caching.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from banking import services as banking_services
from compliance.actors import Actor
from tests.config.test_url_walk import ROUTES, Route
from tests.factories import member, verified_client
from tests.payments.factories import (
    CustomerFactory,
    PaymentFactory,
    PaymentLinkFactory,
    api_key_for,
)

pytestmark = pytest.mark.django_db


def _ids(routes: list[Route]) -> list[str]:
    return [f"{r.name} {r.path}" for r in routes]


@pytest.fixture
def staff_owner() -> Client:
    """An OTP-verified owner who is also platform staff, with a payment, customer and link."""
    membership = member(Role.OWNER)
    membership.user.is_staff = membership.user.is_superuser = True
    membership.user.save()
    customer = CustomerFactory(merchant=membership.merchant, email="buyer@example.test")
    PaymentFactory(merchant=membership.merchant, customer=customer)
    PaymentLinkFactory(merchant=membership.merchant)
    return verified_client(membership.user, merchant=membership.merchant)


def _assert_no_store(response) -> None:  # type: ignore[no-untyped-def]
    assert "no-store" in response.get("Cache-Control", ""), (
        response.status_code,
        response.get("Cache-Control"),
    )


@pytest.mark.parametrize("route", ROUTES, ids=_ids(ROUTES))
def test_every_route_answers_no_store(staff_owner: Client, route: Route) -> None:
    """Dashboard, admin and public routes, whatever they answer (page, redirect, 404, 405)."""
    _assert_no_store(staff_owner.get(route.path))


def test_pages_and_exports_with_real_objects_answer_no_store() -> None:
    payment = PaymentFactory()
    membership = member(Role.OWNER, payment.merchant)
    customer = CustomerFactory(merchant=payment.merchant)
    client = verified_client(membership.user, merchant=payment.merchant)
    for path in (
        reverse("payments"),
        reverse("payments-export"),
        reverse("payment-detail", args=[payment.public_id]),
        reverse("customers"),
        reverse("customer-detail", args=[customer.public_id]),
        reverse("compliance:home"),
        reverse("compliance:audit_csv"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_no_store(response)


def test_public_token_pages_answer_no_store() -> None:
    link = PaymentLinkFactory()
    _assert_no_store(Client().get(reverse("pay", args=[link.token])))
    customer = CustomerFactory()
    session = banking_services.bank_link_session_create(
        merchant=customer.merchant, customer=customer, actor=Actor.system("tests")
    )
    _assert_no_store(Client().get(session.path))


def test_api_answers_no_store() -> None:
    payment = PaymentFactory()
    _, secret = api_key_for(payment.merchant)
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    for path in ("/api/v1/payments", f"/api/v1/payments/{payment.public_id}", "/api/v1/nope"):
        _assert_no_store(client.get(path))


def test_static_files_keep_their_own_caching() -> None:
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
