"""`ApiView`, the base of every app's API view: role check, body validation, the idempotency
layer and the `render_error` hook an app uses to add fields to its error answers."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from accounts.roles import Permission, Role
from api.models import IdempotencyRecord
from api.serializers import JsonInputSerializer, MetadataField
from api.views import ApiView
from config.exceptions import ApplicationError
from tests.factories import MerchantFactory
from tests.payments.factories import api_key_for

pytestmark = pytest.mark.django_db


class OutOfStockError(ApplicationError):
    # Final (4xx, not 409/429): stored and replayed like a success.
    status_code = 410
    code = "out_of_stock"

    def __init__(self, *, sku: str) -> None:
        super().__init__("That item is out of stock.")
        self.sku = sku


class WidgetInputSerializer(JsonInputSerializer):
    metadata = MetadataField(required=False)


class WidgetsApi(ApiView):
    calls: list[dict[str, Any]]

    def render_error(self, exc: ApplicationError) -> dict[str, Any]:
        body = super().render_error(exc)
        if isinstance(exc, OutOfStockError):
            body["error"]["sku"] = exc.sku
        return body

    def post(self, request: Request) -> Response:
        self.require(request, Permission.MANAGE_CUSTOMERS)
        data = self.body(request, WidgetInputSerializer)

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            WidgetsApi.calls.append(data)
            if data.get("metadata", {}).get("sku") == "gone":
                raise OutOfStockError(sku="gone")
            return 201, {"object": "widget", "metadata": data.get("metadata", {})}

        return self.idempotent(request, operation)


@pytest.fixture
def merchant():
    return MerchantFactory()


@pytest.fixture(autouse=True)
def _calls():
    WidgetsApi.calls = []


def _post(merchant, body: Any, *, role: str = Role.OWNER, key: str | None = None) -> Response:
    _, secret = api_key_for(merchant, role)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    request = APIRequestFactory().post("/api/v1/widgets", body, format="json", **headers)
    return WidgetsApi.as_view()(request)


def test_a_created_object_is_answered_and_replayed_for_its_key(merchant):
    first = _post(merchant, {"metadata": {"colour": "blue"}}, key="w-1")
    again = _post(merchant, {"metadata": {"colour": "blue"}}, key="w-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.data == first.data == {"object": "widget", "metadata": {"colour": "blue"}}
    assert again["Idempotent-Replayed"] == "true"
    assert len(WidgetsApi.calls) == 1


@pytest.mark.parametrize("body", [[1, 2], "text", 5])
def test_a_body_that_is_not_an_object_is_400_and_runs_nothing(merchant, body):
    response = _post(merchant, body)
    assert response.status_code == 400
    assert response.data["error"]["code"] == "parameter_invalid"
    assert WidgetsApi.calls == []


def test_a_role_without_the_permission_is_403_and_runs_nothing(merchant):
    response = _post(merchant, {}, role=Role.VIEWER)
    assert response.status_code == 403
    assert response.data["error"]["type"] == "permission_error"
    assert WidgetsApi.calls == []


def test_an_apps_error_fields_are_answered_stored_and_replayed(merchant):
    first = _post(merchant, {"metadata": {"sku": "gone"}}, key="w-2")
    again = _post(merchant, {"metadata": {"sku": "gone"}}, key="w-2")
    expected = {
        "type": "invalid_request_error",
        "code": "out_of_stock",
        "message": "That item is out of stock.",
        "param": None,
        "sku": "gone",
    }
    assert (first.status_code, first.data["error"]) == (410, expected)
    assert (again.status_code, again.data["error"]) == (410, expected)
    assert again["Idempotent-Replayed"] == "true"
    stored = IdempotencyRecord.objects.get(merchant=merchant, key="w-2")
    assert stored.response_body == {"error": expected}
    assert len(WidgetsApi.calls) == 1
