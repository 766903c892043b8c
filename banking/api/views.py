"""Banking API views: authenticate by key, check the key's role, call a selector or a service.

Built on `api.views.ApiView` (throttling, role checks, the idempotency layer, the error
shape), as the payments API is. Every object is looked up within the key's merchant, so
another merchant's id is a 404.

The link URL carries the session's only credential, so it exists in the first create answer
alone: the answer stored for an `Idempotency-Key` (and so every replay) has `"url": null`.
A client that lost the first answer creates a new session with a new key; the unused one
expires on its own.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Permission
from api.idempotency import idempotency_finish
from api.models import IdempotencyRecord
from api.serializers import ListQuerySerializer
from api.views import ERRORS, IDEMPOTENCY_HEADER, ApiView, api_actor, list_response_serializer
from banking import selectors, services
from banking.api import serializers as s
from banking.exceptions import InvalidBankingRequestError
from banking.models import BankLinkSession
from config.exceptions import ApplicationError
from payments.selectors import customer_get

BankAccountList = list_response_serializer("BankAccountList", s.BankAccountOutputSerializer)


def _session_body(session: BankLinkSession, *, url: str | None) -> Any:
    return s.BankLinkSessionOutputSerializer(session, context={"url": url}).data


class BankLinkSessionsApi(ApiView):
    @extend_schema(
        operation_id="bank_link_sessions_create",
        request=s.BankLinkSessionCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.BankLinkSessionOutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        self.require(request, Permission.MANAGE_BANK_ACCOUNTS)
        data = self.body(request, s.BankLinkSessionCreateInputSerializer)
        merchant = self.merchant(request)
        try:
            customer = customer_get(merchant=merchant, public_id=data["customer"])
        except ApplicationError as exc:
            raise InvalidBankingRequestError("No such customer.", param="customer") from exc

        def operation(record: IdempotencyRecord | None) -> tuple[int, Any]:
            def created(session: BankLinkSession) -> None:
                # In the transaction that creates the session: the stored answer (without
                # the URL) commits with it, so a retry never makes a second session.
                idempotency_finish(record, status=201, body=_session_body(session, url=None))

            new = services.bank_link_session_create(
                merchant=merchant,
                customer=customer,
                actor=api_actor(request),
                request=request,
                on_created=created,
            )
            return 201, _session_body(new.session, url=request.build_absolute_uri(new.path))

        response = self.idempotent(request, operation)
        response["Cache-Control"] = "no-store"
        return response


class BankAccountsApi(ApiView):
    @extend_schema(
        operation_id="bank_accounts_list",
        parameters=[ListQuerySerializer],
        responses={200: BankAccountList, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.require(request, Permission.VIEW_CUSTOMERS)
        q = self.query(request, ListQuerySerializer)
        page = selectors.bank_account_list(
            merchant=self.merchant(request),
            limit=q["limit"],
            starting_after=q.get("starting_after"),
        )
        return self.page(page, s.BankAccountOutputSerializer, request)


class BankAccountDetailApi(ApiView):
    @extend_schema(
        operation_id="bank_accounts_retrieve",
        responses={200: s.BankAccountOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        self.require(request, Permission.VIEW_CUSTOMERS)
        account = selectors.bank_account_get(merchant=self.merchant(request), public_id=public_id)
        return Response(s.BankAccountOutputSerializer(account).data)
