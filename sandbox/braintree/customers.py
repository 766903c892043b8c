"""Customers in the vault: create (optionally with a card from a nonce), find, update, delete,
search. A deleted customer's cards go with it, as at Braintree."""

from __future__ import annotations

import re
from typing import Any

from sandbox.braintree import errors, render, vault
from sandbox.braintree.call import Call, section, text
from sandbox.braintree.errors import invalid, not_found
from sandbox.braintree.search import MAX_RESULTS, PAGE_SIZE, Fields, criteria_of, matches
from sandbox.braintree.store import JSON
from sandbox.braintree.xmlwire import Collection

PATH = ("customer",)
_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# field -> (max length, code when too long)
_FIELDS = {
    "first_name": (255, errors.CUSTOMER_FIRST_NAME_IS_TOO_LONG),
    "last_name": (255, errors.CUSTOMER_LAST_NAME_IS_TOO_LONG),
    "company": (255, errors.CUSTOMER_COMPANY_IS_TOO_LONG),
    "email": (255, errors.CUSTOMER_EMAIL_IS_TOO_LONG),
    "phone": (255, errors.CUSTOMER_PHONE_IS_TOO_LONG),
    "website": (255, errors.CUSTOMER_WEBSITE_IS_TOO_LONG),
}


def _details(params: JSON) -> JSON:
    values = {
        name: text(params, name, PATH, max_length=limit, code=code)
        for name, (limit, code) in _FIELDS.items()
        if name in params
    }
    email = values.get("email")
    if email is not None and not _EMAIL.match(email):
        raise invalid(
            PATH, "email", errors.CUSTOMER_EMAIL_IS_INVALID, "Email is an invalid format."
        )
    return values


def _new_id(call: Call, params: JSON) -> str:
    wanted = text(params, "id", PATH, max_length=10_000)
    if wanted is None:
        return call.store.new_id("customers", 9)
    if len(wanted) > 36:
        raise invalid(PATH, "id", errors.CUSTOMER_ID_IS_TOO_LONG, "Customer ID is too long.")
    if not _ID.match(wanted):
        raise invalid(PATH, "id", errors.CUSTOMER_ID_IS_INVALID, "Customer ID is invalid.")
    if wanted in ("all", "new"):
        raise invalid(PATH, "id", errors.CUSTOMER_ID_IS_NOT_ALLOWED, "Customer ID is not allowed.")
    if wanted in call.store.customers:
        raise invalid(
            PATH, "id", errors.CUSTOMER_ID_IS_IN_USE, "Customer ID has already been taken."
        )
    return wanted


def _card_of(call: Call, params: JSON) -> JSON | None:
    """The card a customer call adds, if it names one (nonce or card numbers)."""
    if not (params.get("payment_method_nonce") or section(params, "credit_card", PATH)):
        return None
    card, _ = vault.resolve(call, params, PATH)
    return card


def _render(call: Call, record: JSON) -> tuple[str, Any]:
    return "customer", render.customer(call.store, record, now=call.now)


def get(call: Call) -> JSON:
    record = call.store.customers.get(call.args[0])
    if record is None:
        raise not_found("customer", call.args[0])
    return record


def create(call: Call) -> tuple[str, Any]:
    params = call.section("customer")
    customer_id = _new_id(call, params)
    details = _details(params)
    card = _card_of(call, params)  # validated before anything is stored
    record = {
        "id": customer_id,
        **details,
        "created_at": call.now,
        "updated_at": call.now,
        "payment_method_tokens": [],
    }
    call.store.customers[customer_id] = record
    if card is not None:
        vault.vault(call, customer_id, card)
    return _render(call, record)


def find(call: Call) -> tuple[str, Any]:
    return _render(call, get(call))


def update(call: Call) -> tuple[str, Any]:
    record = get(call)
    params = call.section("customer")
    details = _details(params)
    card = _card_of(call, params)
    default = text(params, "default_payment_method_token", PATH)
    if default is not None and default not in record["payment_method_tokens"]:
        raise invalid(
            PATH,
            "default_payment_method_token",
            errors.PAYMENT_METHOD_TOKEN_IS_INVALID,
            "Payment method token is invalid.",
        )
    record.update(details)
    record["updated_at"] = call.now
    if card is not None:
        vault.vault(call, record["id"], card)
    if default is not None:
        for token in record["payment_method_tokens"]:
            call.store.payment_methods[token]["default"] = token == default
    return _render(call, record)


def delete(call: Call) -> None:
    record = get(call)
    for token in record["payment_method_tokens"]:
        call.store.payment_methods.pop(token, None)
    del call.store.customers[record["id"]]


def _fields(record: JSON) -> Fields:
    return {
        "id": ("text", record["id"]),
        "ids": ("multi", record["id"]),
        "email": ("text", record.get("email")),
        "first_name": ("text", record.get("first_name")),
        "last_name": ("text", record.get("last_name")),
        "company": ("text", record.get("company")),
        "phone": ("text", record.get("phone")),
        "payment_method_token": ("multi", list(record["payment_method_tokens"])),
        "created_at": ("range", record["created_at"]),
    }


def _matching(call: Call) -> list[JSON]:
    criteria = criteria_of(call.body)
    found = [
        record
        for record in sorted(call.store.customers.values(), key=lambda r: r["created_at"])
        if matches(criteria, _fields(record))
    ]
    return found[:MAX_RESULTS]


def search_ids(call: Call) -> tuple[str, Any]:
    return "search_results", {
        "page_size": PAGE_SIZE,
        "ids": [record["id"] for record in _matching(call)],
    }


def search(call: Call) -> tuple[str, Any]:
    found = _matching(call)[:PAGE_SIZE]
    return "customers", Collection(
        "customer",
        render.page_fields(len(found), PAGE_SIZE),
        [render.customer(call.store, record, now=call.now) for record in found],
    )
