"""Shared set-up for bank-linking tests: a scripted Plaid with one item, and its answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.test import override_settings

from banking.gateways.plaid import client as plaid_client
from tests.banking.plaid_stub import PlaidStub, plaid_stub

ACCESS_TOKEN = "access-sandbox-0f1e2d3c-secret"
PUBLIC_TOKEN = "public-sandbox-1a2b3c4d"
ACCOUNT_NUMBER = "1111222233330000"
ROUTING_NUMBER = "011401533"


def account(
    account_id: str = "acc_1",
    *,
    status: str | None = None,
    persistent: str = "",
    name: str = "Plaid Checking",
    mask: str = "0000",
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "account_id": account_id,
        "name": name,
        "mask": mask,
        "type": "depository",
        "subtype": "checking",
        "persistent_account_id": persistent or None,
    }
    if status is not None:
        raw["verification_status"] = status
    return raw


def script_item(
    stub: PlaidStub,
    *,
    item_id: str = "item_1",
    accounts: list[dict[str, Any]] | None = None,
    numbers: bool = True,
    error_code: str | None = None,
) -> None:
    """Queue one read of the item: /accounts/get, /auth/get and /item/get."""
    accounts = accounts if accounts is not None else [account()]
    stub.answer("/accounts/get", {"accounts": accounts, "request_id": "r"})
    ach = [
        {"account_id": a["account_id"], "routing": ROUTING_NUMBER, "account": ACCOUNT_NUMBER}
        for a in accounts
        if numbers
    ]
    stub.answer("/auth/get", {"accounts": accounts, "numbers": {"ach": ach}, "request_id": "r"})
    stub.answer("/item/get", item_answer(item_id, error_code=error_code))


def item_answer(item_id: str = "item_1", *, error_code: str | None = None) -> dict[str, Any]:
    error = {"error_type": "ITEM_ERROR", "error_code": error_code} if error_code else None
    return {
        "item": {
            "item_id": item_id,
            "institution_id": "ins_109508",
            "institution_name": "First Platypus Bank",
            "error": error,
        },
        "request_id": "r",
    }


def script_exchange(stub: PlaidStub, *, item_id: str = "item_1") -> None:
    stub.answer(
        "/item/public_token/exchange",
        {"access_token": ACCESS_TOKEN, "item_id": item_id, "request_id": "r"},
    )


@contextmanager
def plaid(monkeypatch: Any) -> Iterator[PlaidStub]:
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    with plaid_stub() as running, override_settings(PLAID_API_BASE=running.url):
        yield running
