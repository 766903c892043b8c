"""Plaid fixtures: a plaid-python client on a fresh sandbox, and the Link stand-in's backend.

`link` drives the same JSON steps the Link modal's page calls, so flows that need a person in
Link (manual entry, the same-day code, update mode) run without a browser here; the browser
test drives the real modal.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import plaid
import pytest
from plaid.api import plaid_api
from plaid.exceptions import ApiException
from plaid.model.country_code import CountryCode
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_auth import LinkTokenCreateRequestAuth
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)

from sandbox.server import SandboxHandle

CLIENT_ID = "ledgerline_sandbox_client"
SECRET = "ledgerline_sandbox_secret"


def make_plaid(url: str, client_id: str = CLIENT_ID, secret: str = SECRET) -> plaid_api.PlaidApi:
    configuration = plaid.Configuration(host=url, api_key={"clientId": client_id, "secret": secret})
    return plaid_api.PlaidApi(plaid.ApiClient(configuration))


@pytest.fixture
def plaid_client(sandbox: SandboxHandle) -> plaid_api.PlaidApi:
    return make_plaid(sandbox.url)


def error_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (loopback test server)
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


LinkStep = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def link(sandbox: SandboxHandle) -> LinkStep:
    def step(step_name: str, /, **body: Any) -> tuple[int, dict[str, Any]]:
        return post(f"{sandbox.url}/plaid/link/api/{step_name}", body)

    return step


def link_token(
    client: plaid_api.PlaidApi,
    *,
    webhook: str | None = None,
    access_token: str | None = None,
    same_day: bool = False,
    account_selection: bool | None = None,
) -> str:
    fields: dict[str, Any] = {
        "client_name": "Ledgerline",
        "language": "en",
        "country_codes": [CountryCode("US")],
        "user": LinkTokenCreateRequestUser(client_user_id="cus_123"),
        "auth": LinkTokenCreateRequestAuth(
            automated_microdeposits_enabled=True, same_day_microdeposits_enabled=same_day
        ),
    }
    if access_token:
        fields["access_token"] = access_token
    else:
        fields["products"] = [Products("auth")]
    if webhook:
        fields["webhook"] = webhook
    if account_selection is not None:
        fields["update"] = LinkTokenCreateRequestUpdate(account_selection_enabled=account_selection)
    return str(client.link_token_create(LinkTokenCreateRequest(**fields)).link_token)


def sandbox_item(
    client: plaid_api.PlaidApi,
    *,
    institution: str = "ins_109508",
    password: str | None = None,
    webhook: str | None = None,
) -> tuple[str, str]:
    """(access_token, item_id) for a Sandbox Item made without Link."""
    options: dict[str, Any] = {}
    if password:
        options["override_username"] = "user_good"
        options["override_password"] = password
    if webhook:
        options["webhook"] = webhook
    request = SandboxPublicTokenCreateRequest(
        institution_id=institution,
        initial_products=[Products("auth")],
        options=SandboxPublicTokenCreateRequestOptions(**options),
    )
    public = client.sandbox_public_token_create(request).public_token
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public)
    )
    return str(exchanged.access_token), str(exchanged.item_id)
