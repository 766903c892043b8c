"""Dashboard pages by role and by tenant: who may open or post what, and another merchant's
objects are a 404 on every detail and action URL."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role, role_allows
from config.permissions import Permission
from payments.models import PaymentLink
from payments.state import PaymentStatus
from tests.factories import MerchantFactory, member, verified_client
from tests.payments.factories import CustomerFactory, PaymentFactory, PaymentLinkFactory

pytestmark = pytest.mark.django_db

ROLES = list(Role.values)


def _client(role: str, merchant) -> Client:
    return verified_client(member(role, merchant).user, merchant=merchant)


@pytest.fixture
def objects(merchant):
    customer = CustomerFactory(merchant=merchant)
    payment = PaymentFactory(merchant=merchant, customer=customer)
    link = PaymentLinkFactory(merchant=merchant)
    return {"customer": customer, "payment": payment, "link": link}


PAGES = [
    ("home", None, Permission.VIEW_DASHBOARD),
    ("payments", None, Permission.VIEW_PAYMENTS),
    ("payments-export", None, Permission.EXPORT_PAYMENTS),
    ("payment-detail", "payment", Permission.VIEW_PAYMENTS),
    ("customers", None, Permission.VIEW_CUSTOMERS),
    ("customer-detail", "customer", Permission.VIEW_CUSTOMERS),
    ("payment-links", None, Permission.VIEW_PAYMENTS),
]


def _url(name: str, target: str | None, objects) -> str:
    if target is None:
        return reverse(name)
    return reverse(name, args=[objects[target].public_id])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES, ids=[page[0] for page in PAGES])
def test_every_page_opens_exactly_for_the_roles_allowed_to_see_it(merchant, objects, role, page):
    name, target, permission = page
    response = _client(role, merchant).get(_url(name, target, objects))
    expected = 200 if role_allows(role, permission) else 403
    assert response.status_code == expected, (role, name)


ACTIONS = [
    ("payment-capture", "payment", Permission.MANAGE_PAYMENTS),
    ("payment-cancel", "payment", Permission.MANAGE_PAYMENTS),
    ("payment-refund", "payment", Permission.REFUND_PAYMENTS),
    ("payment-link-create", None, Permission.MANAGE_PAYMENT_LINKS),
    ("payment-link-deactivate", "link", Permission.MANAGE_PAYMENT_LINKS),
    ("account-onboarding", None, Permission.MANAGE_PAYMENTS),
]


FORBIDDEN_ACTIONS = [
    (role, name, target)
    for role in ROLES
    for name, target, permission in ACTIONS
    if not role_allows(role, permission)
]


@pytest.mark.parametrize(("role", "name", "target"), FORBIDDEN_ACTIONS)
def test_roles_without_the_permission_cannot_post_actions(merchant, objects, role, name, target):
    response = _client(role, merchant).post(_url(name, target, objects), {"amount": "1.00"})
    assert response.status_code == 403
    objects["link"].refresh_from_db()
    assert objects["link"].active


def test_viewer_sees_no_action_buttons_on_a_capturable_payment(merchant):
    payment = PaymentFactory(
        merchant=merchant, status=PaymentStatus.REQUIRES_CAPTURE, amount_capturable=1500
    )
    page = _client(Role.VIEWER, merchant).get(reverse("payment-detail", args=[payment.public_id]))
    assert page.status_code == 200
    assert reverse("payment-capture", args=[payment.public_id]) not in page.content.decode()
    owner_page = _client(Role.OWNER, merchant).get(
        reverse("payment-detail", args=[payment.public_id])
    )
    assert reverse("payment-capture", args=[payment.public_id]) in owner_page.content.decode()


def test_actions_refuse_get(merchant, objects):
    client = _client(Role.OWNER, merchant)
    url = reverse("payment-refund", args=[objects["payment"].public_id])
    assert client.get(url).status_code == 405


TENANT_URLS = [
    ("get", "payment-detail", "payment"),
    ("post", "payment-capture", "payment"),
    ("post", "payment-cancel", "payment"),
    ("post", "payment-refund", "payment"),
    ("get", "customer-detail", "customer"),
    ("post", "payment-link-deactivate", "link"),
]


@pytest.mark.parametrize(("method", "name", "target"), TENANT_URLS)
def test_another_merchants_objects_are_not_found(merchant, objects, method, name, target):
    """Given an owner of another merchant, every detail and action URL of ours is a 404."""
    other = MerchantFactory()
    intruder = _client(Role.OWNER, other)
    response = getattr(intruder, method)(
        reverse(name, args=[objects[target].public_id]), {"amount": "1.00"}
    )
    assert response.status_code == 404
    assert PaymentLink.objects.get(pk=objects["link"].pk).active


def test_lists_show_only_the_current_merchants_objects(merchant, objects):
    other = MerchantFactory()
    theirs = PaymentFactory(merchant=other)
    their_customer = CustomerFactory(merchant=other)
    their_link = PaymentLinkFactory(merchant=other)
    client = _client(Role.OWNER, merchant)
    payments = client.get(reverse("payments")).content.decode()
    customers = client.get(reverse("customers")).content.decode()
    links = client.get(reverse("payment-links")).content.decode()
    export = b"".join(client.get(reverse("payments-export")).streaming_content).decode()
    assert objects["payment"].public_id in payments
    assert theirs.public_id not in payments
    assert theirs.public_id not in export
    assert objects["customer"].public_id in customers
    assert their_customer.public_id not in customers
    assert objects["link"].public_id in links
    assert their_link.public_id not in links


def test_unknown_ids_are_not_found(merchant):
    client = _client(Role.OWNER, merchant)
    assert client.get(reverse("payment-detail", args=["pay_nope"])).status_code == 404
    assert client.get(reverse("customer-detail", args=["cus_nope"])).status_code == 404


def test_nav_marks_the_current_section(merchant):
    client = _client(Role.VIEWER, merchant)
    for name in ("home", "payments", "customers", "payment-links"):
        body = client.get(reverse(name)).content.decode()
        assert f'href="{reverse(name)}" aria-current="page"' in body, name
