"""Payments API against the sandbox: every path, its errors, pagination, roles and tenancy."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from compliance.models import AuditEntry
from payments.models import Payment, ProcessorAccount
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def _pay(api, **extra):
    body = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa", **extra}
    headers = {}
    if "key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("key")
    return api.post("/api/v1/payments", body, format="json", **headers)


def _account(merchant) -> str:
    return ProcessorAccount.objects.get(merchant=merchant).stripe_account_id


def test_declined_card_answers_402_with_decline_code_and_records_the_failure(api, merchant):
    response = _pay(api, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_error"
    assert error["decline_code"] == "insufficient_funds"
    payment = Payment.objects.get(public_id=error["payment"])
    assert payment.status == "requires_payment_method"
    assert payment.decline_code == "insufficient_funds"


def test_3ds_card_requires_action_with_a_redirect(api):
    response = _pay(
        api, payment_method="pm_card_authenticationRequired", return_url="https://shop.test/r"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "requires_action"
    assert body["next_action"]["redirect_url"].startswith("http")


def test_manual_capture_then_partial_capture_and_refunds_never_above_captured(api, merchant):
    created = _pay(api, capture_method="manual").json()
    assert created["status"] == "requires_capture"
    assert created["amount_capturable"] == 2000
    pid = created["id"]
    captured = api.post(
        f"/api/v1/payments/{pid}/capture", {"amount_to_capture": 1500}, format="json"
    )
    assert captured.status_code == 200, captured.json()
    assert captured.json()["status"] == "succeeded"
    assert captured.json()["amount_captured"] == 1500

    first = api.post(f"/api/v1/payments/{pid}/refunds", {"amount": 1000}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["status"] == "succeeded"
    too_much = api.post(f"/api/v1/payments/{pid}/refunds", {"amount": 501}, format="json")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "refund_amount_too_large"
    assert "£5.00" in too_much.json()["error"]["message"]
    rest = api.post(f"/api/v1/payments/{pid}/refunds", {}, format="json")
    assert rest.json()["amount"] == 500
    payment = api.get(f"/api/v1/payments/{pid}").json()
    assert payment["amount_refunded"] == 1500
    listed = api.get(f"/api/v1/payments/{pid}/refunds").json()
    assert [r["amount"] for r in listed["data"]] == [500, 1000]
    actions = set(
        AuditEntry.objects.filter(merchant_public_id=merchant.public_id).values_list(
            "action", flat=True
        )
    )
    assert {"payment.create", "payment.capture", "refund.create"} <= actions


def test_cancel_an_uncaptured_payment_and_refuse_to_cancel_twice(api):
    pid = _pay(api, capture_method="manual").json()["id"]
    canceled = api.post(f"/api/v1/payments/{pid}/cancel", {}, format="json")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = api.post(f"/api/v1/payments/{pid}/cancel", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "payment_state_invalid"


def test_capture_of_a_succeeded_payment_is_a_state_error(api):
    pid = _pay(api).json()["id"]
    response = api.post(f"/api/v1/payments/{pid}/capture", {}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"amount": 0, "currency": "gbp", "payment_method": "pm_card_visa"}, "amount"),
        ({"amount": 10, "currency": "gbp", "payment_method": "pm_card_visa"}, "amount"),
        ({"amount": 100, "currency": "GBP", "payment_method": "pm_card_visa"}, "currency"),
        (
            {"amount": 100, "currency": "gbp", "payment_method": "4242424242424242"},
            "payment_method",
        ),
        ({"amount": "1e3", "currency": "gbp", "payment_method": "pm_card_visa"}, "amount"),
        (
            {
                "amount": 100,
                "currency": "gbp",
                "payment_method": "pm_card_visa",
                "customer": "cus_nope",
            },
            "customer",
        ),
    ],
)
def test_invalid_payment_input_is_a_400_naming_the_parameter(api, body, param):
    response = api.post("/api/v1/payments", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == param


def test_non_object_json_body_is_a_400_not_a_500(api):
    response = api.post("/api/v1/payments", [1, 2], format="json")
    assert response.status_code == 400


def test_missing_or_bad_key_is_401(db):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/payments").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ll_sk_wrong")
    assert client.get("/api/v1/payments").json()["error"]["type"] == "authentication_error"


def test_roles_decide_what_a_key_may_do(merchant, sandbox_control):
    viewer = api_client_for(merchant, Role.VIEWER)
    assert viewer.get("/api/v1/payments").status_code == 200
    response = _pay(viewer)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    developer = api_client_for(merchant, Role.DEVELOPER)
    pid = _pay(developer).json()["id"]
    assert developer.post(f"/api/v1/payments/{pid}/refunds", {}, format="json").status_code == 403


def test_another_merchants_objects_are_404(api, merchant):
    other = MerchantFactory()
    foreign_payment = PaymentFactory(merchant=other)
    foreign_customer = CustomerFactory(merchant=other)
    assert api.get(f"/api/v1/payments/{foreign_payment.public_id}").status_code == 404
    assert (
        api.post(
            f"/api/v1/payments/{foreign_payment.public_id}/refunds", {}, format="json"
        ).status_code
        == 404
    )
    assert api.get(f"/api/v1/customers/{foreign_customer.public_id}").status_code == 404
    assert foreign_payment.public_id not in str(api.get("/api/v1/payments").json())


def test_keyset_pagination_walks_every_payment_once_newest_first(api, merchant):
    made = [PaymentFactory(merchant=merchant) for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/v1/payments?limit=3" + (f"&starting_after={cursor}" if cursor else "")
        page = api.get(url).json()
        seen += [p["id"] for p in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == [p.public_id for p in reversed(made)]
    assert api.get("/api/v1/payments?limit=0").status_code == 400
    assert api.get("/api/v1/payments?limit=101").status_code == 400
    bad_cursor = api.get("/api/v1/payments?starting_after=pay_unknown")
    assert bad_cursor.status_code == 400


def test_status_filter(api, merchant):
    PaymentFactory(merchant=merchant, status="canceled", amount_captured=0)
    PaymentFactory(merchant=merchant)
    page = api.get("/api/v1/payments?status=canceled").json()
    assert [p["status"] for p in page["data"]] == ["canceled"]
    assert api.get("/api/v1/payments?status=bogus").status_code == 400


def test_customers_create_update_list_and_pay_with_customer(api, merchant):
    created = api.post(
        "/api/v1/customers", {"email": "Ann@Example.test", "name": "Ann"}, format="json"
    )
    assert created.status_code == 201
    cid = created.json()["id"]
    assert created.json()["email"] == "ann@example.test"
    updated = api.post(f"/api/v1/customers/{cid}", {"name": "Ann B"}, format="json")
    assert updated.json()["name"] == "Ann B"
    assert api.get("/api/v1/customers?email=ann@example.test").json()["data"][0]["id"] == cid
    paid = _pay(api, customer=cid)
    assert paid.status_code == 201
    assert paid.json()["customer"] == cid


def test_payment_links_create_list_retrieve_deactivate(api):
    created = api.post(
        "/api/v1/payment-links",
        {"amount": 4500, "currency": "gbp", "description": "Workshop seat"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    link = created.json()
    assert link["url"].startswith("http://testserver/pay/")
    assert len(link["url"].rstrip("/").rsplit("/", 1)[1]) >= 40
    assert api.get(f"/api/v1/payment-links/{link['id']}").json()["active"] is True
    assert api.get("/api/v1/payment-links").json()["data"][0]["id"] == link["id"]
    off = api.post(f"/api/v1/payment-links/{link['id']}/deactivate", {}, format="json")
    assert off.json()["active"] is False
    bad = api.post("/api/v1/payment-links", {"amount": 4500, "currency": "gbp"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "description"


def test_rate_limit_per_key_answers_429_with_retry_after(api, merchant, monkeypatch):
    from api.throttling import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "2/min")
    other_key = api_client_for(merchant)
    assert api.get("/api/v1/payments").status_code == 200
    assert api.get("/api/v1/payments").status_code == 200
    limited = api.get("/api/v1/payments")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert other_key.get("/api/v1/payments").status_code == 200


def test_openapi_schema_lists_the_payments_api(db):
    from django.test import Client

    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/payments/{public_id}/refunds" in response.content
