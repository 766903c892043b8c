"""Stripe operations for the payments services, each returning plain data (see `types`).

Every call for a merchant carries its connected account (`stripe_account`); every mutating
call carries an idempotency key, derived by the caller from its own row where one exists, so
retries and resumed requests are answered from Stripe's idempotency store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import stripe

from config.card_numbers import mask_card_numbers
from payments.gateways.stripe.client import stripe_client
from payments.gateways.stripe.resilience import call
from payments.gateways.stripe.types import (
    AccountData,
    BankSetupData,
    BankSourceData,
    CardData,
    CustomerData,
    EventData,
    EventPage,
    IntentData,
    RefundData,
)


def _options(
    *, stripe_account: str | None = None, idempotency_key: str | None = None
) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {}
    if stripe_account:
        options["stripe_account"] = stripe_account
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options


def _dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(value: Any) -> str:
    """A free text Stripe sends back (a decline message, a name, metadata), stored: a card
    number it echoes is masked. Not for ids or secrets: those must reach us as sent."""
    return mask_card_numbers(_str(value))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _card(raw: Mapping[str, Any]) -> CardData | None:
    if not raw:
        return None
    return CardData(
        brand=_str(raw.get("brand")),
        last4=_str(raw.get("last4"))[-4:],
        exp_month=_opt_int(raw.get("exp_month")),
        exp_year=_opt_int(raw.get("exp_year")),
        fingerprint=_str(raw.get("fingerprint")),
        country=_str(raw.get("country")),
    )


def intent_from_dict(data: Mapping[str, Any]) -> IntentData:
    """Parse a PaymentIntent as Stripe sends it (also used for webhook payloads)."""
    charge = data.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    charge_id = _str(data.get("latest_charge")) or _str(charge.get("id"))
    card_raw = (charge.get("payment_method_details") or {}).get("card") or {}
    if not card_raw:
        method = data.get("payment_method")
        card_raw = method.get("card") or {} if isinstance(method, dict) else {}
    error = data.get("last_payment_error") or {}
    next_action = data.get("next_action") or {}
    redirect = next_action.get("redirect_to_url") or {}
    return IntentData(
        id=_str(data.get("id")),
        status=_str(data.get("status")),
        amount=_int(data.get("amount")),
        amount_capturable=_int(data.get("amount_capturable")),
        amount_received=_int(data.get("amount_received")),
        currency=_str(data.get("currency")).lower(),
        capture_method=_str(data.get("capture_method")) or "automatic",
        amount_refunded=_int(charge.get("amount_refunded")),
        latest_charge_id=charge_id,
        card=_card(card_raw),
        failure_code=_str(error.get("code")),
        decline_code=_str(error.get("decline_code")),
        failure_message=_text(error.get("message"))[:500],
        next_action_url=_str(redirect.get("url")),
        metadata=_metadata(data),
    )


def _metadata(data: Mapping[str, Any]) -> dict[str, str]:
    """An object's metadata as stored: a card number Stripe echoes back in it is masked."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    return {_text(str(k)): _text(str(v)) for k, v in metadata.items()}


def _refund(data: Mapping[str, Any]) -> RefundData:
    return RefundData(
        id=_str(data.get("id")),
        status=_str(data.get("status")),
        amount=_int(data.get("amount")),
        currency=_str(data.get("currency")).lower(),
        payment_intent_id=_str(data.get("payment_intent")),
        failure_reason=_str(data.get("failure_reason")),
        metadata=_metadata(data),
    )


def _account(data: Mapping[str, Any]) -> AccountData:
    return AccountData(
        id=_str(data.get("id")),
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
    )


def _customer(data: Mapping[str, Any]) -> CustomerData:
    return CustomerData(
        id=_str(data.get("id")),
        email=_text(data.get("email")),
        name=_text(data.get("name")),
        deleted=bool(data.get("deleted")),
    )


_INTENT_EXPAND = ["latest_charge", "payment_method"]


# --- Connect accounts -----------------------------------------------------------------------


def account_create(*, country: str, email: str = "", idempotency_key: str) -> AccountData:
    params: dict[str, Any] = {
        "type": "express",
        "country": country,
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
    }
    if country.upper() == "US":
        # ACH Direct Debit of customers' bank accounts (banking.ach); US accounts only.
        params["capabilities"]["us_bank_account_ach_payments"] = {"requested": True}
    if email:
        params["email"] = email
    obj = call(
        "account_create",
        lambda: stripe_client().v1.accounts.create(
            params,  # type: ignore[arg-type]
            _options(idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return _account(_dict(obj))


def account_retrieve(*, stripe_account: str) -> AccountData:
    obj = call(
        "account_retrieve",
        lambda: stripe_client().v1.accounts.retrieve(stripe_account),
        mutating=False,
    )
    return _account(_dict(obj))


def account_onboarding_link(*, stripe_account: str, refresh_url: str, return_url: str) -> str:
    obj = call(
        "account_link_create",
        lambda: stripe_client().v1.account_links.create(
            {
                "account": stripe_account,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            },
            _options(idempotency_key=str(uuid.uuid4())),
        ),
        mutating=True,
    )
    return _str(_dict(obj).get("url"))


# --- Payment intents ------------------------------------------------------------------------


def payment_intent_create_and_confirm(
    *,
    stripe_account: str,
    idempotency_key: str,
    amount: int,
    currency: str,
    payment_method: str,
    capture_method: str,
    description: str = "",
    customer: str | None = None,
    return_url: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> IntentData:
    """Create and confirm in one call. The same key and parameters replay, never re-charge."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "capture_method": capture_method,
        "confirm": True,
        "expand": _INTENT_EXPAND,
    }
    if customer:
        params["customer"] = customer
    if return_url:
        params["return_url"] = return_url
    return _intent_create(
        "payment_intent_create",
        params,
        stripe_account=stripe_account,
        idempotency_key=idempotency_key,
        description=description,
        metadata=metadata,
    )


def _intent_create(
    operation: str,
    params: dict[str, Any],
    *,
    stripe_account: str,
    idempotency_key: str,
    description: str,
    metadata: Mapping[str, str] | None,
) -> IntentData:
    if description:
        params["description"] = description
    if metadata:
        params["metadata"] = dict(metadata)
    obj = call(
        operation,
        lambda: stripe_client().v1.payment_intents.create(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return intent_from_dict(_dict(obj))


# ACH Direct Debit: the bank account (a `ba_` source made from Plaid's `btok_`, or a
# `us_bank_account` PaymentMethod) is the payment method; the pinned API version names the
# allowed types `allowed_payment_method_types`. Merchant-initiated debits carry an offline
# mandate acceptance: the merchant holds the customer's ACH authorization (docs/banking.md).
ACH_METHOD = "us_bank_account"
OFFLINE_MANDATE: dict[str, Any] = {"customer_acceptance": {"type": "offline"}}


def customer_bank_account_attach(
    *, stripe_account: str, customer_id: str, token: str, idempotency_key: str
) -> BankSourceData:
    """Make a one-time bank-account token (`btok_`) a lasting source of the customer."""
    obj = call(
        "customer_source_create",
        lambda: stripe_client().v1.customers.payment_sources.create(
            customer_id,
            {"source": token},
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    data = _dict(obj)
    return BankSourceData(
        id=_str(data.get("id")),
        last4=_str(data.get("last4"))[-4:],
        status=_str(data.get("status")),
        fingerprint=_str(data.get("fingerprint")),
    )


def payment_intent_create_bank_debit(
    *,
    stripe_account: str,
    idempotency_key: str,
    amount: int,
    currency: str,
    customer: str,
    payment_method: str,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
) -> IntentData:
    """Create and confirm an ACH debit; it answers `processing` and settles by webhook."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "payment_method": payment_method,
        "allowed_payment_method_types": [ACH_METHOD],
        "confirm": True,
        "mandate_data": OFFLINE_MANDATE,
        "expand": ["latest_charge"],
    }
    return _intent_create(
        "payment_intent_create_bank_debit",
        params,
        stripe_account=stripe_account,
        idempotency_key=idempotency_key,
        description=description,
        metadata=metadata,
    )


def _bank_setup(data: Mapping[str, Any]) -> BankSetupData:
    method = data.get("payment_method")
    method = method if isinstance(method, dict) else {}
    bank = method.get(ACH_METHOD) or {}
    action = (data.get("next_action") or {}).get("verify_with_microdeposits") or {}
    error = data.get("last_setup_error") or {}
    return BankSetupData(
        id=_str(data.get("id")),
        status=_str(data.get("status")),
        client_secret=_str(data.get("client_secret")),
        payment_method_id=_str(method.get("id")) or _str(data.get("payment_method")),
        last4=_str(bank.get("last4"))[-4:],
        microdeposit_type=_str(action.get("microdeposit_type")),
        arrival_date=_opt_int(action.get("arrival_date")),
        error_code=_str(error.get("code")),
    )


def setup_intent_create_bank(
    *,
    stripe_account: str,
    customer_id: str,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
) -> BankSetupData:
    """A SetupIntent to collect a US bank account on Stripe's form and verify it with
    Stripe's micro-deposits (never instant verification: this is the fallback)."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "allowed_payment_method_types": [ACH_METHOD],
        "payment_method_options": {ACH_METHOD: {"verification_method": "microdeposits"}},
        "usage": "off_session",
    }
    if metadata:
        params["metadata"] = dict(metadata)
    obj = call(
        "setup_intent_create",
        lambda: stripe_client().v1.setup_intents.create(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return _bank_setup(_dict(obj))


def setup_intent_retrieve(*, stripe_account: str, intent_id: str) -> BankSetupData:
    obj = call(
        "setup_intent_retrieve",
        lambda: stripe_client().v1.setup_intents.retrieve(
            intent_id, {"expand": ["payment_method"]}, _options(stripe_account=stripe_account)
        ),
        mutating=False,
    )
    return _bank_setup(_dict(obj))


def setup_intent_verify_microdeposits(
    *, stripe_account: str, intent_id: str, descriptor_code: str, idempotency_key: str
) -> BankSetupData:
    """Check the code from the micro-deposit's statement description (`SM` + 4 characters).

    A wrong code is Stripe's 400 (`..._descriptor_code_mismatch`), translated to
    ProcessorRequestError with that code; Stripe fails the SetupIntent after 10 attempts."""
    obj = call(
        "setup_intent_verify_microdeposits",
        lambda: stripe_client().v1.setup_intents.verify_microdeposits(
            intent_id,
            {"descriptor_code": descriptor_code, "expand": ["payment_method"]},
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return _bank_setup(_dict(obj))


def payment_intent_retrieve(*, stripe_account: str, intent_id: str) -> IntentData:
    obj = call(
        "payment_intent_retrieve",
        lambda: stripe_client().v1.payment_intents.retrieve(
            intent_id,
            {"expand": _INTENT_EXPAND},
            _options(stripe_account=stripe_account),
        ),
        mutating=False,
    )
    return intent_from_dict(_dict(obj))


# Reconciliation looks this far back for an object whose create answer never reached us.
FIND_MAX_PAGES = 10


def _find_listed(
    operation: str,
    list_page: Callable[[dict[str, Any]], Any],
    params: dict[str, Any],
    *,
    metadata_key: str,
    value: str,
) -> dict[str, Any] | None:
    """Page through a list (newest first) for the object whose metadata names our row."""
    for _ in range(FIND_MAX_PAGES):
        page = _dict(call(operation, partial(list_page, dict(params)), mutating=False))
        items = [_dict(item) for item in page.get("data") or []]
        for item in items:
            if _metadata(item).get(metadata_key) == value:
                return item
        if not page.get("has_more") or not items:
            return None
        params["starting_after"] = _str(items[-1].get("id"))
    return None


def payment_intent_find(
    *, stripe_account: str, metadata_key: str, value: str, created_gte: int
) -> IntentData | None:
    """The PaymentIntent created since `created_gte` whose metadata names our row, if any.

    For reconciling a create whose answer never reached us (so we hold no intent id): the
    intent carries our row's public id in its metadata. Lists (read-after-write consistent),
    newest first, rather than Stripe's search, which can lag by a minute.
    """
    found = _find_listed(
        "payment_intent_list",
        lambda params: stripe_client().v1.payment_intents.list(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account),
        ),
        {
            "limit": 100,
            "created": {"gte": created_gte},
            "expand": [f"data.{name}" for name in _INTENT_EXPAND],
        },
        metadata_key=metadata_key,
        value=value,
    )
    return intent_from_dict(found) if found is not None else None


def payment_intent_capture(
    *, stripe_account: str, intent_id: str, amount_to_capture: int | None, idempotency_key: str
) -> IntentData:
    params: dict[str, Any] = {"expand": _INTENT_EXPAND}
    if amount_to_capture is not None:
        params["amount_to_capture"] = amount_to_capture
    obj = call(
        "payment_intent_capture",
        lambda: stripe_client().v1.payment_intents.capture(
            intent_id,
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return intent_from_dict(_dict(obj))


def payment_intent_cancel(
    *, stripe_account: str, intent_id: str, idempotency_key: str, reason: str | None = None
) -> IntentData:
    params: dict[str, Any] = {"expand": _INTENT_EXPAND}
    if reason:
        params["cancellation_reason"] = reason
    obj = call(
        "payment_intent_cancel",
        lambda: stripe_client().v1.payment_intents.cancel(
            intent_id,
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return intent_from_dict(_dict(obj))


# --- Refunds --------------------------------------------------------------------------------


def refund_create(
    *,
    stripe_account: str,
    intent_id: str,
    amount: int,
    idempotency_key: str,
    reason: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> RefundData:
    params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount}
    if reason:
        params["reason"] = reason
    if metadata:
        params["metadata"] = dict(metadata)
    obj = call(
        "refund_create",
        lambda: stripe_client().v1.refunds.create(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return _refund(_dict(obj))


def refund_retrieve(*, stripe_account: str, refund_id: str) -> RefundData:
    obj = call(
        "refund_retrieve",
        lambda: stripe_client().v1.refunds.retrieve(
            refund_id, options=_options(stripe_account=stripe_account)
        ),
        mutating=False,
    )
    return _refund(_dict(obj))


def refund_find(
    *, stripe_account: str, intent_id: str, metadata_key: str, value: str
) -> RefundData | None:
    """The refund of the intent whose metadata names our refund row, if the processor made it."""
    found = _find_listed(
        "refund_list",
        lambda params: stripe_client().v1.refunds.list(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account),
        ),
        {"payment_intent": intent_id, "limit": 100},
        metadata_key=metadata_key,
        value=value,
    )
    return _refund(found) if found is not None else None


def refund_from_dict(data: Mapping[str, Any]) -> RefundData:
    return _refund(data)


# --- Customers ------------------------------------------------------------------------------


def customer_create(
    *,
    stripe_account: str,
    idempotency_key: str,
    email: str = "",
    name: str = "",
    description: str = "",
    metadata: Mapping[str, str] | None = None,
) -> CustomerData:
    params: dict[str, Any] = {}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    if description:
        params["description"] = description
    if metadata:
        params["metadata"] = dict(metadata)
    obj = call(
        "customer_create",
        lambda: stripe_client().v1.customers.create(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=idempotency_key),
        ),
        mutating=True,
    )
    return _customer(_dict(obj))


def customer_update(
    *, stripe_account: str, customer_id: str, fields: Mapping[str, Any]
) -> CustomerData:
    obj = call(
        "customer_update",
        lambda: stripe_client().v1.customers.update(
            customer_id,
            dict(fields),  # type: ignore[arg-type]
            _options(stripe_account=stripe_account, idempotency_key=str(uuid.uuid4())),
        ),
        mutating=True,
    )
    return _customer(_dict(obj))


def customer_delete(*, stripe_account: str, customer_id: str) -> CustomerData:
    obj = call(
        "customer_delete",
        lambda: stripe_client().v1.customers.delete(
            customer_id, options=_options(stripe_account=stripe_account)
        ),
        mutating=True,
    )
    return _customer(_dict(obj))


# --- Events (reconciliation) ----------------------------------------------------------------


def events_list(
    *,
    created_gte: int | None = None,
    starting_after: str | None = None,
    limit: int = 100,
    delivery_success: bool | None = None,
    stripe_account: str | None = None,
) -> EventPage:
    params: dict[str, Any] = {"limit": limit}
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    if starting_after:
        params["starting_after"] = starting_after
    if delivery_success is not None:
        params["delivery_success"] = delivery_success
    obj = call(
        "events_list",
        lambda: stripe_client().v1.events.list(
            params,  # type: ignore[arg-type]
            _options(stripe_account=stripe_account),
        ),
        mutating=False,
    )
    raw = _dict(obj)
    events = [
        EventData(
            id=_str(item.get("id")),
            type=_str(item.get("type")),
            created=_int(item.get("created")),
            account=_str(item.get("account")),
            data_object=(item.get("data") or {}).get("object") or {},
        )
        for item in raw.get("data") or []
    ]
    return EventPage(events=events, has_more=bool(raw.get("has_more")))
