"""The base of every API view, and the pieces of its OpenAPI description every resource shares.

An app's API view derives from `ApiView`: API-key throttling, role checks, query and body
validation, keyset pages and the `Idempotency-Key` layer. Objects are looked up within
`merchant(request)`, so another merchant's id is a 404. Its `@extend_schema` uses `ERRORS`
(the error answers), `IDEMPOTENCY_HEADER` on POSTs and `list_response_serializer` for lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_schema import ApiKeyAuthenticationScheme
from accounts.models import Merchant
from api.exceptions import InvalidRequestError, application_error_body
from api.idempotency import idempotent_execute
from api.models import IdempotencyRecord
from api.pagination import Page
from api.serializers import ErrorSerializer
from api.throttling import ApiKeyRateThrottle
from compliance.actors import Actor
from config.exceptions import ApplicationError
from config.free_text import GuardedSerializer

__all__ = [
    "ERRORS",
    "IDEMPOTENCY_HEADER",
    "ApiKeyAuthenticationScheme",  # registered with drf-spectacular on import
    "ApiView",
    "api_actor",
    "error_response",
    "list_response_serializer",
]

IDEMPOTENCY_HEADER = OpenApiParameter(
    name="Idempotency-Key",
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="1-255 printable ASCII characters. Same key and body replay the first answer "
    "for 24 hours.",
)


def error_response(description: str) -> OpenApiResponse:
    """An error answer of an operation's schema, in the one error shape."""
    return OpenApiResponse(response=ErrorSerializer, description=description)


# The error answers every operation may give: `responses={200: ..., **ERRORS}`.
ERRORS = {
    400: error_response(
        "Invalid request: a parameter is missing, malformed or of another JSON type, the body "
        "is not a JSON object we accept, or an id given as a parameter (`starting_after`, "
        "`customer`) names no object of this merchant (`resource_missing`)"
    ),
    401: error_response("Missing or invalid API key"),
    403: error_response("The key's role does not allow this"),
    404: error_response("No such object for this merchant, or no such URL"),
    409: error_response("Idempotency key in use, or invalid state"),
    414: error_response("The request URL is longer than 4096 characters"),
    415: error_response("The body is not `application/json`"),
    422: error_response("Idempotency key reused with another body"),
    429: error_response("Rate limited (see Retry-After)"),
    503: error_response("Processor unavailable (see Retry-After)"),
}


def list_response_serializer(
    name: str, item: type[serializers.Serializer[Any]]
) -> type[GuardedSerializer]:
    """The schema of a list answer `{"data": [item, ...], "has_more": bool}`, named `name`."""
    return type(
        name,
        (GuardedSerializer,),
        {"data": item(many=True), "has_more": serializers.BooleanField()},
    )


def api_actor(request: Request) -> Actor:
    """Who acts in the audit log: the request's API key."""
    return Actor.for_api_key(request.user.public_id)  # type: ignore[union-attr]


Operation = Callable[[IdempotencyRecord | None], tuple[int, Any]]


# No docstring here or on an app's own base view: drf-spectacular would print it as the
# description of every operation of every subclass.
class ApiView(APIView):
    throttle_classes = (ApiKeyRateThrottle,)

    def require(self, request: Request, permission: str) -> None:
        if not request.user.has_permission(permission):  # type: ignore[union-attr]
            raise PermissionDenied("This API key's role does not allow this request.")

    def merchant(self, request: Request) -> Merchant:
        merchant: Merchant = request.user.merchant  # type: ignore[union-attr]
        return merchant

    def query(self, request: Request, serializer_class: type[serializers.Serializer[Any]]) -> Any:
        # A plain dict, not the QueryDict: DRF reads "?status=" from a QueryDict as "absent",
        # while the schema (minLength 1) says an empty value is refused.
        serializer = serializer_class(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def body(self, request: Request, serializer_class: type[serializers.Serializer[Any]]) -> Any:
        if not isinstance(request.data, dict):
            raise InvalidRequestError("The body must be a JSON object.")
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def render_error(self, exc: ApplicationError) -> dict[str, Any]:
        """The body of a final error an operation raised, stored for its key; a resource whose
        errors carry more fields (a card decline) overrides this."""
        return application_error_body(exc)

    def idempotent(
        self, request: Request, operation: Operation, *, claim_with_object: bool = False
    ) -> Response:
        """Run `operation(record)` through the `Idempotency-Key` layer (api.idempotency)."""
        result = idempotent_execute(
            merchant=self.merchant(request),
            key=request.headers.get("Idempotency-Key"),
            method=request.method or "POST",
            path=request.path,
            body=request.data,
            operation=operation,
            error_renderer=self.render_error,
            claim_with_object=claim_with_object,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else None
        return Response(result.body, status=result.status, headers=headers)

    def page(self, page: Page[Any], serializer_class: Any, request: Request) -> Response:
        data = serializer_class(page.items, many=True, context={"request": request}).data
        return Response({"data": data, "has_more": page.has_more})
