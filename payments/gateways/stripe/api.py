"""The Stripe gateway: `StripeGateway` implements `payments.gateways.base.PaymentGateway`.

A charge is a PaymentIntent (created and confirmed in one call), a customer a Customer, the
merchant's account a Connect connected account (every call for a merchant carries it as the
`Stripe-Account` header). Stripe's objects and statuses are mapped here to the neutral
dataclasses of `base`; every mutating call carries the caller's idempotency key, so retries
and resumed requests are answered from Stripe's idempotency store.
"""

# Over 500 lines because it is one concern: every verb of the PaymentGateway protocol for
# Stripe, next to the mapping of Stripe's objects those verbs share (a reader looking up what
# Stripe does for `charge_capture` finds the call and its mapping in one place).

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import stripe
from django.conf import settings

from config.card_numbers import mask_card_numbers
from payments.gateways.base import (
    AccountState,
    Balance,
    BalanceEntry,
    BalanceEntryPage,
    BankSetup,
    BankSource,
    CardFacts,
    Charge,
    CheckoutConfig,
    CustomerRef,
    DisputeState,
    EvidenceFileRef,
    Funds,
    PayoutPage,
    PayoutSchedule,
    PayoutState,
    RefundState,
)
from payments.gateways.stripe.client import stripe_client
from payments.gateways.stripe.resilience import call, ensure_available
from payments.gateways.stripe.types import EventData, EventPage
from payments.state import PaymentStatus, RefundStatus

# Stripe's PaymentIntent statuses, one for one: `PaymentStatus` was named after them.
_CHARGE_STATUS: dict[str, PaymentStatus] = {
    "requires_payment_method": PaymentStatus.REQUIRES_PAYMENT_METHOD,
    "requires_confirmation": PaymentStatus.REQUIRES_CONFIRMATION,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.REQUIRES_CAPTURE,
    "canceled": PaymentStatus.CANCELED,
    "succeeded": PaymentStatus.SUCCEEDED,
}
_REFUND_STATUS: dict[str, RefundStatus] = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.REQUIRES_ACTION,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}
# The metadata keys under which our rows' public ids travel with Stripe's objects.
PAYMENT_REFERENCE = "ledgerline_payment"
REFUND_REFERENCE = "ledgerline_refund"
CUSTOMER_REFERENCE = "ledgerline_customer"
PAYOUT_REFERENCE = "ledgerline_payout_request"


def _options(*, account: str | None = None, key: str | None = None) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {}
    if account:
        options["stripe_account"] = account
    if key:
        options["idempotency_key"] = key
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


def _card(raw: Mapping[str, Any]) -> CardFacts | None:
    if not raw:
        return None
    return CardFacts(
        brand=_str(raw.get("brand")),
        last4=_str(raw.get("last4"))[-4:],
        exp_month=_opt_int(raw.get("exp_month")),
        exp_year=_opt_int(raw.get("exp_year")),
        fingerprint=_str(raw.get("fingerprint")),
        country=_str(raw.get("country")),
    )


def _metadata(data: Mapping[str, Any]) -> dict[str, str]:
    """An object's metadata as stored: a card number Stripe echoes back in it is masked."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    return {_text(str(k)): _text(str(v)) for k, v in metadata.items()}


def charge_from_dict(data: Mapping[str, Any]) -> Charge:
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
    return Charge(
        id=_str(data.get("id")),
        status=_CHARGE_STATUS.get(_str(data.get("status"))),
        amount=_int(data.get("amount")),
        amount_capturable=_int(data.get("amount_capturable")),
        amount_received=_int(data.get("amount_received")),
        currency=_str(data.get("currency")).lower(),
        amount_refunded=_int(charge.get("amount_refunded")),
        charge_id=charge_id,
        card=_card(card_raw),
        failure_code=_str(error.get("code")),
        decline_code=_str(error.get("decline_code")),
        failure_message=_text(error.get("message"))[:500],
        next_action_url=_str(redirect.get("url")),
        reference=_metadata(data).get(PAYMENT_REFERENCE, ""),
    )


def refund_from_dict(data: Mapping[str, Any]) -> RefundState:
    """Parse a Refund as Stripe sends it (also used for webhook payloads)."""
    return RefundState(
        id=_str(data.get("id")),
        status=_REFUND_STATUS.get(_str(data.get("status"))),
        amount=_int(data.get("amount")),
        currency=_str(data.get("currency")).lower(),
        charge_id=_str(data.get("payment_intent")),
        failure_reason=_str(data.get("failure_reason")),
        reference=_metadata(data).get(REFUND_REFERENCE, ""),
    )


# Stripe's dispute statuses are `DisputeStatus`'s values, one for one.
_DISPUTE_STATUSES = frozenset(
    {
        "warning_needs_response",
        "warning_under_review",
        "warning_closed",
        "needs_response",
        "under_review",
        "won",
        "lost",
    }
)


def dispute_from_dict(data: Mapping[str, Any]) -> DisputeState:
    """Parse a Dispute as Stripe sends it (also used for webhook payloads)."""
    status = _str(data.get("status"))
    details = data.get("evidence_details")
    details = details if isinstance(details, dict) else {}
    due = _opt_int(details.get("due_by"))
    return DisputeState(
        id=_str(data.get("id")),
        status=status if status in _DISPUTE_STATUSES else "",
        amount=_int(data.get("amount")),
        currency=_str(data.get("currency")).lower(),
        reason=_text(data.get("reason"))[:64],
        charge_id=_str(data.get("payment_intent")),
        evidence_due_by=datetime.fromtimestamp(due, tz=UTC) if due is not None else None,
        submission_count=_int(details.get("submission_count")),
    )


def account_from_dict(data: Mapping[str, Any]) -> AccountState:
    return AccountState(
        id=_str(data.get("id")),
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
    )


def _customer(data: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(id=_str(data.get("id")), deleted=bool(data.get("deleted")))


# ACH Direct Debit: the bank account (a `ba_` source made from Plaid's `btok_`, or a
# `us_bank_account` PaymentMethod) is the payment method; the pinned API version names the
# allowed types `allowed_payment_method_types`. Merchant-initiated debits carry an offline
# mandate acceptance: the merchant holds the customer's ACH authorization (docs/banking.md).
ACH_METHOD = "us_bank_account"
OFFLINE_MANDATE: dict[str, Any] = {"customer_acceptance": {"type": "offline"}}


def _bank_setup(data: Mapping[str, Any]) -> BankSetup:
    method = data.get("payment_method")
    method = method if isinstance(method, dict) else {}
    bank = method.get(ACH_METHOD) or {}
    action = (data.get("next_action") or {}).get("verify_with_microdeposits") or {}
    error = data.get("last_setup_error") or {}
    return BankSetup(
        id=_str(data.get("id")),
        status=_str(data.get("status")),
        client_secret=_str(data.get("client_secret")),
        payment_method_id=_str(method.get("id")) or _str(data.get("payment_method")),
        last4=_str(bank.get("last4"))[-4:],
        microdeposit_type=_str(action.get("microdeposit_type")),
        arrival_date=_opt_int(action.get("arrival_date")),
        error_code=_str(error.get("code")),
    )


_INTENT_EXPAND = ["latest_charge", "payment_method"]
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


# --- Money out: balance, balance transactions, payouts -------------------------------------

# Stripe's payout statuses are ours one for one (`payments.models.PayoutStatus`).
_PAYOUT_STATUSES = ("pending", "in_transit", "paid", "failed", "canceled")
# Stripe's balance transaction types (and, for `adjustment`, its reporting category) mapped
# to `payments.models.BalanceTransactionType` values; ACH debits are `payment`s.
_ENTRY_TYPES = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "payment_failure_refund": "refund",
    "payout": "payout",
    "payout_failure": "payout_failure",
    "payout_cancel": "payout_cancel",
    "stripe_fee": "fee",
    "application_fee": "fee",
}
_ENTRY_CATEGORIES = {"dispute": "dispute", "dispute_reversal": "dispute_reversal"}
_SCHEDULE_INTERVALS = ("daily", "weekly", "monthly", "manual")


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(_int(value), UTC)


def _funds(items: Any) -> tuple[Funds, ...]:
    return tuple(
        Funds(amount=_int(item.get("amount")), currency=_str(item.get("currency")).lower())
        for item in (_dict(raw) for raw in items or [])
    )


def balance_from_dict(data: Mapping[str, Any]) -> Balance:
    return Balance(available=_funds(data.get("available")), pending=_funds(data.get("pending")))


def payout_from_dict(data: Mapping[str, Any]) -> PayoutState:
    """Parse a Payout as Stripe sends it (also used for webhook payloads)."""
    status = _str(data.get("status"))
    return PayoutState(
        id=_str(data.get("id")),
        status=status if status in _PAYOUT_STATUSES else None,
        amount=_int(data.get("amount")),
        currency=_str(data.get("currency")).lower(),
        arrival_date=_time(data.get("arrival_date")),
        created=_time(data.get("created")),
        automatic=bool(data.get("automatic", True)),
        failure_code=_str(data.get("failure_code"))[:64],
        failure_message=_text(data.get("failure_message"))[:500],
        reference=_str(_metadata(data).get(PAYOUT_REFERENCE))[:100],
    )


def balance_entry_from_dict(data: Mapping[str, Any], *, payout: str = "") -> BalanceEntry:
    kind = _str(data.get("type"))
    category = _str(data.get("reporting_category"))
    source = data.get("source")
    source_id = _str(source) or _str(_dict(source).get("id"))
    platform_fee = sum(
        _int(detail.get("amount"))
        for detail in (_dict(raw) for raw in data.get("fee_details") or [])
        if detail.get("type") == "application_fee"
    )
    amount, fee = _int(data.get("amount")), _int(data.get("fee"))
    return BalanceEntry(
        id=_str(data.get("id")),
        type=_ENTRY_CATEGORIES.get(category) or _ENTRY_TYPES.get(kind, "other")
        if kind == "adjustment"
        else _ENTRY_TYPES.get(kind, "other"),
        amount=amount,
        fee=fee,
        # Stripe's net is amount - fee by definition; computed so a row always balances.
        net=amount - fee,
        currency=_str(data.get("currency")).lower(),
        available_on=_time(data.get("available_on")),
        created=_time(data.get("created")),
        source=source_id,
        platform_fee=platform_fee,
        description=_text(data.get("description"))[:500],
        payout=payout,
    )


def _schedule(data: Mapping[str, Any]) -> PayoutSchedule:
    raw = _dict(_dict(_dict(data.get("settings")).get("payouts")).get("schedule"))
    interval = _str(raw.get("interval")) or "daily"
    return PayoutSchedule(
        interval=interval,
        delay_days=_int(raw.get("delay_days")),
        weekly_anchor=_str(raw.get("weekly_anchor")),
        monthly_anchor=_opt_int(raw.get("monthly_anchor")),
    )


class _MoneyOut:
    """StripeGateway's balance, balance-transaction, payout and payout-schedule verbs."""

    def balance_retrieve(self, *, account: str) -> Balance:
        obj = call(
            "balance_retrieve",
            lambda: stripe_client().v1.balance.retrieve(options=_options(account=account)),
            mutating=False,
        )
        return balance_from_dict(_dict(obj))

    def payout_retrieve(self, *, account: str, payout: str) -> PayoutState:
        obj = call(
            "payout_retrieve",
            lambda: stripe_client().v1.payouts.retrieve(payout, options=_options(account=account)),
            mutating=False,
        )
        return payout_from_dict(_dict(obj))

    def payout_create(
        self, *, account: str, amount: int, currency: str, key: str, reference: str
    ) -> PayoutState:
        obj = call(
            "payout_create",
            lambda: stripe_client().v1.payouts.create(
                {"amount": amount, "currency": currency, "metadata": {PAYOUT_REFERENCE: reference}},
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return payout_from_dict(_dict(obj))

    def payout_find(
        self, *, account: str, reference: str, created_gte: datetime
    ) -> PayoutState | None:
        found = _find_listed(
            "payout_list",
            lambda params: stripe_client().v1.payouts.list(
                params,  # type: ignore[arg-type]
                _options(account=account),
            ),
            {"created": {"gte": int(created_gte.timestamp())}, "limit": 100},
            metadata_key=PAYOUT_REFERENCE,
            value=reference,
        )
        return payout_from_dict(found) if found is not None else None

    def payout_list(
        self, *, account: str, starting_after: str | None = None, limit: int = 100
    ) -> PayoutPage:
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        obj = _dict(
            call(
                "payout_list",
                lambda: stripe_client().v1.payouts.list(
                    params,  # type: ignore[arg-type]
                    _options(account=account),
                ),
                mutating=False,
            )
        )
        return PayoutPage(
            payouts=tuple(payout_from_dict(_dict(item)) for item in obj.get("data") or []),
            has_more=bool(obj.get("has_more")),
        )

    def balance_entry_list(
        self,
        *,
        account: str,
        payout: str | None = None,
        created_gte: datetime | None = None,
        starting_after: str | None = None,
        limit: int = 100,
    ) -> BalanceEntryPage:
        params: dict[str, Any] = {"limit": limit}
        if payout:
            params["payout"] = payout
        if created_gte is not None:
            params["created"] = {"gte": int(created_gte.timestamp())}
        if starting_after:
            params["starting_after"] = starting_after
        obj = _dict(
            call(
                "balance_transaction_list",
                lambda: stripe_client().v1.balance_transactions.list(
                    params,  # type: ignore[arg-type]
                    _options(account=account),
                ),
                mutating=False,
            )
        )
        return BalanceEntryPage(
            entries=tuple(
                balance_entry_from_dict(_dict(item), payout=payout or "")
                for item in obj.get("data") or []
            ),
            has_more=bool(obj.get("has_more")),
        )

    def balance_entry_retrieve(self, *, account: str, entry: str) -> BalanceEntry:
        obj = call(
            "balance_transaction_retrieve",
            lambda: stripe_client().v1.balance_transactions.retrieve(
                entry, options=_options(account=account)
            ),
            mutating=False,
        )
        return balance_entry_from_dict(_dict(obj))

    def payout_schedule_retrieve(self, *, account: str) -> PayoutSchedule:
        obj = call(
            "account_retrieve",
            lambda: stripe_client().v1.accounts.retrieve(account),
            mutating=False,
        )
        return _schedule(_dict(obj))

    def payout_schedule_update(
        self, *, account: str, schedule: PayoutSchedule, key: str
    ) -> PayoutSchedule:
        if schedule.interval not in _SCHEDULE_INTERVALS:
            raise ValueError(f"unknown payout interval {schedule.interval!r}")
        sent: dict[str, Any] = {"interval": schedule.interval}
        if schedule.interval != "manual":
            sent["delay_days"] = schedule.delay_days
        if schedule.interval == "weekly":
            sent["weekly_anchor"] = schedule.weekly_anchor
        if schedule.interval == "monthly":
            sent["monthly_anchor"] = schedule.monthly_anchor
        obj = call(
            "account_update_payout_schedule",
            lambda: stripe_client().v1.accounts.update(
                account,
                {"settings": {"payouts": {"schedule": sent}}},  # type: ignore[arg-type]
                _options(key=key),
            ),
            mutating=True,
        )
        return _schedule(_dict(obj))


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: a CSP source and a script origin, never a path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("STRIPE_API_BASE must be an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


class StripeGateway(_MoneyOut):
    """Stripe Connect behind `PaymentGateway` (settings are read per call, never at import)."""

    name = "stripe"
    # A direct charge on the connected account carries `application_fee_amount`: Stripe moves
    # it to the platform and books it in the charge's balance transaction `fee`.
    takes_platform_fee = True

    def ensure_available(self) -> None:
        ensure_available()

    def checkout_config(self, *, account: str) -> CheckoutConfig:
        """The sandbox's Stripe.js stand-in when the API base points there, else Stripe.js."""
        base = settings.STRIPE_API_BASE.rstrip("/")
        origins: tuple[str, ...]
        if base:
            origin = url_origin(base)
            script, origins = f"{origin}/v3/", (origin,)
        else:
            script, origins = "https://js.stripe.com/v3/", tuple(settings.STRIPE_JS_ORIGINS)
        return CheckoutConfig(
            processor=self.name,
            script_url=script,
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            account=account,
            origins=origins,
        )

    # --- Connect accounts -----------------------------------------------------------------

    def account_create(self, *, country: str, email: str, key: str) -> AccountState:
        params: dict[str, Any] = {
            "type": "express",
            "country": country,
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
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
                _options(key=key),
            ),
            mutating=True,
        )
        return account_from_dict(_dict(obj))

    def account_retrieve(self, *, account: str) -> AccountState:
        obj = call(
            "account_retrieve",
            lambda: stripe_client().v1.accounts.retrieve(account),
            mutating=False,
        )
        return account_from_dict(_dict(obj))

    def account_onboarding_link(self, *, account: str, refresh_url: str, return_url: str) -> str:
        obj = call(
            "account_link_create",
            lambda: stripe_client().v1.account_links.create(
                {
                    "account": account,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                # A link is single-use and creates nothing lasting: a fresh key each time.
                _options(key=str(uuid.uuid4())),
            ),
            mutating=True,
        )
        return _str(_dict(obj).get("url"))

    # --- Customers ------------------------------------------------------------------------

    def customer_ensure(
        self, *, account: str, key: str, reference: str, email: str, name: str, description: str
    ) -> CustomerRef:
        params: dict[str, Any] = {"metadata": {CUSTOMER_REFERENCE: reference}}
        for field, value in (("email", email), ("name", name), ("description", description)):
            if value:
                params[field] = value
        obj = call(
            "customer_create",
            lambda: stripe_client().v1.customers.create(
                params,  # type: ignore[arg-type]
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return _customer(_dict(obj))

    def customer_update(
        self,
        *,
        account: str,
        customer: str,
        email: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> CustomerRef:
        changes = {"email": email, "name": name, "description": description}
        params = {field: value for field, value in changes.items() if value is not None}
        obj = call(
            "customer_update",
            lambda: stripe_client().v1.customers.update(
                customer,
                params,  # type: ignore[arg-type]
                # An update sets values: repeating it is harmless, so no key from a row.
                _options(account=account, key=str(uuid.uuid4())),
            ),
            mutating=True,
        )
        return _customer(_dict(obj))

    def customer_delete(self, *, account: str, customer: str) -> CustomerRef:
        obj = call(
            "customer_delete",
            lambda: stripe_client().v1.customers.delete(
                customer, options=_options(account=account)
            ),
            mutating=True,
        )
        return _customer(_dict(obj))

    # --- Charges (PaymentIntents) ---------------------------------------------------------

    def charge_create(
        self,
        *,
        account: str,
        key: str,
        reference: str,
        amount: int,
        currency: str,
        method_type: str,
        payment_method: str,
        capture_manually: bool,
        description: str = "",
        customer: str | None = None,
        return_url: str | None = None,
        platform_fee: int = 0,
    ) -> Charge:
        """Create and confirm in one call. The same key and parameters replay, never re-charge.

        A bank debit (ACH) answers `processing` and settles by webhook."""
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {PAYMENT_REFERENCE: reference},
        }
        if platform_fee:
            params["application_fee_amount"] = platform_fee
        if method_type == ACH_METHOD:
            operation = "payment_intent_create_bank_debit"
            params["allowed_payment_method_types"] = [ACH_METHOD]
            params["mandate_data"] = OFFLINE_MANDATE
            params["expand"] = ["latest_charge"]
        else:
            operation = "payment_intent_create"
            params["payment_method_types"] = ["card"]
            params["capture_method"] = "manual" if capture_manually else "automatic"
            params["expand"] = _INTENT_EXPAND
            if return_url:
                params["return_url"] = return_url
        if customer:
            params["customer"] = customer
        if description:
            params["description"] = description
        obj = call(
            operation,
            lambda: stripe_client().v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return charge_from_dict(_dict(obj))

    def charge_retrieve(self, *, account: str, charge: str) -> Charge:
        obj = call(
            "payment_intent_retrieve",
            lambda: stripe_client().v1.payment_intents.retrieve(
                charge, {"expand": _INTENT_EXPAND}, _options(account=account)
            ),
            mutating=False,
        )
        return charge_from_dict(_dict(obj))

    def charge_find(
        self, *, account: str, reference: str, created_since: datetime
    ) -> Charge | None:
        """The PaymentIntent created since `created_since` whose metadata names our row.

        Lists (read-after-write consistent), newest first, rather than Stripe's search, which
        can lag by a minute.
        """
        found = _find_listed(
            "payment_intent_list",
            lambda params: stripe_client().v1.payment_intents.list(
                params,  # type: ignore[arg-type]
                _options(account=account),
            ),
            {
                "limit": 100,
                "created": {"gte": int(created_since.timestamp())},
                "expand": [f"data.{name}" for name in _INTENT_EXPAND],
            },
            metadata_key=PAYMENT_REFERENCE,
            value=reference,
        )
        return charge_from_dict(found) if found is not None else None

    def charge_capture(
        self,
        *,
        account: str,
        charge: str,
        amount: int | None,
        key: str,
        platform_fee: int | None = None,
    ) -> Charge:
        params: dict[str, Any] = {"expand": _INTENT_EXPAND}
        if amount is not None:
            params["amount_to_capture"] = amount
        if platform_fee is not None:
            params["application_fee_amount"] = platform_fee
        return self._intent_act("capture", account=account, charge=charge, params=params, key=key)

    def charge_cancel(
        self, *, account: str, charge: str, key: str, reason: str | None = None
    ) -> Charge:
        params: dict[str, Any] = {"expand": _INTENT_EXPAND}
        if reason:
            params["cancellation_reason"] = reason
        return self._intent_act("cancel", account=account, charge=charge, params=params, key=key)

    def _intent_act(
        self, action: str, *, account: str, charge: str, params: dict[str, Any], key: str
    ) -> Charge:
        """Capture or cancel a PaymentIntent: one keyed, mutating call, mapped to a Charge."""

        def act() -> Any:
            method = getattr(stripe_client().v1.payment_intents, action)
            return method(charge, params, _options(account=account, key=key))

        return charge_from_dict(_dict(call(f"payment_intent_{action}", act, mutating=True)))

    # --- Refunds --------------------------------------------------------------------------

    def refund_create(
        self,
        *,
        account: str,
        charge: str,
        amount: int,
        key: str,
        reference: str,
        reason: str | None = None,
    ) -> RefundState:
        params: dict[str, Any] = {
            "payment_intent": charge,
            "amount": amount,
            "metadata": {REFUND_REFERENCE: reference},
        }
        if reason:
            params["reason"] = reason
        obj = call(
            "refund_create",
            lambda: stripe_client().v1.refunds.create(
                params,  # type: ignore[arg-type]
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return refund_from_dict(_dict(obj))

    def refund_retrieve(self, *, account: str, refund: str) -> RefundState:
        obj = call(
            "refund_retrieve",
            lambda: stripe_client().v1.refunds.retrieve(refund, options=_options(account=account)),
            mutating=False,
        )
        return refund_from_dict(_dict(obj))

    def refund_find(self, *, account: str, charge: str, reference: str) -> RefundState | None:
        """The refund of the intent whose metadata names our refund row, if Stripe made it."""
        found = _find_listed(
            "refund_list",
            lambda params: stripe_client().v1.refunds.list(
                params,  # type: ignore[arg-type]
                _options(account=account),
            ),
            {"payment_intent": charge, "limit": 100},
            metadata_key=REFUND_REFERENCE,
            value=reference,
        )
        return refund_from_dict(found) if found is not None else None

    # --- Bank accounts at Stripe ----------------------------------------------------------

    def bank_source_attach(
        self, *, account: str, customer: str, token: str, key: str
    ) -> BankSource:
        """Make a one-time bank-account token (`btok_`) a lasting source of the customer."""
        obj = call(
            "customer_source_create",
            lambda: stripe_client().v1.customers.payment_sources.create(
                customer, {"source": token}, _options(account=account, key=key)
            ),
            mutating=True,
        )
        data = _dict(obj)
        return BankSource(
            id=_str(data.get("id")),
            last4=_str(data.get("last4"))[-4:],
            status=_str(data.get("status")),
            fingerprint=_str(data.get("fingerprint")),
        )

    def bank_setup_create(
        self,
        *,
        account: str,
        customer: str,
        key: str,
        metadata: Mapping[str, str],
    ) -> BankSetup:
        """A SetupIntent to collect a US bank account on Stripe's form and verify it with
        Stripe's micro-deposits (never instant verification: this is the fallback)."""
        params: dict[str, Any] = {
            "customer": customer,
            "allowed_payment_method_types": [ACH_METHOD],
            "payment_method_options": {ACH_METHOD: {"verification_method": "microdeposits"}},
            "usage": "off_session",
            "metadata": dict(metadata),
        }
        obj = call(
            "setup_intent_create",
            lambda: stripe_client().v1.setup_intents.create(
                params,  # type: ignore[arg-type]
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return _bank_setup(_dict(obj))

    def bank_setup_retrieve(self, *, account: str, setup: str) -> BankSetup:
        obj = call(
            "setup_intent_retrieve",
            lambda: stripe_client().v1.setup_intents.retrieve(
                setup, {"expand": ["payment_method"]}, _options(account=account)
            ),
            mutating=False,
        )
        return _bank_setup(_dict(obj))

    def bank_setup_verify(self, *, account: str, setup: str, code: str, key: str) -> BankSetup:
        """Check the code from the micro-deposit's statement description (`SM` + 4 characters).

        A wrong code is Stripe's 400 (`..._descriptor_code_mismatch`), translated to
        ProcessorRequestError with that code; Stripe fails the SetupIntent after 10 attempts."""
        obj = call(
            "setup_intent_verify_microdeposits",
            lambda: stripe_client().v1.setup_intents.verify_microdeposits(
                setup,
                {"descriptor_code": code, "expand": ["payment_method"]},
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return _bank_setup(_dict(obj))

    # --- Disputes -------------------------------------------------------------------------
    # Ledgerline's evidence fields are named as Stripe's evidence hash names them.

    def dispute_retrieve(self, *, account: str, dispute: str) -> DisputeState:
        obj = call(
            "dispute_retrieve",
            lambda: stripe_client().v1.disputes.retrieve(
                dispute, options=_options(account=account)
            ),
            mutating=False,
        )
        return dispute_from_dict(_dict(obj))

    def dispute_evidence_file_upload(
        self, *, account: str, filename: str, content: BinaryIO, key: str
    ) -> EvidenceFileRef:
        def upload() -> Any:
            # A retry re-reads the document from its start.
            content.seek(0)
            return stripe_client().v1.files.create(
                {"purpose": "dispute_evidence", "file": _NamedUpload(content, filename)},
                _options(account=account, key=key),
            )

        data = _dict(call("file_create", upload, mutating=True))
        return EvidenceFileRef(
            id=_str(data.get("id")), size=_int(data.get("size")), type=_str(data.get("type"))
        )

    def dispute_evidence_submit(
        self,
        *,
        account: str,
        dispute: str,
        text: Mapping[str, str],
        files: Mapping[str, str],
        key: str,
    ) -> DisputeState:
        params: dict[str, Any] = {"evidence": {**text, **files}, "submit": True}
        obj = call(
            "dispute_update_submit",
            lambda: stripe_client().v1.disputes.update(
                dispute,
                params,  # type: ignore[arg-type]
                _options(account=account, key=key),
            ),
            mutating=True,
        )
        return dispute_from_dict(_dict(obj))

    def dispute_accept(self, *, account: str, dispute: str, key: str) -> DisputeState:
        obj = call(
            "dispute_close",
            lambda: stripe_client().v1.disputes.close(
                dispute, options=_options(account=account, key=key)
            ),
            mutating=True,
        )
        return dispute_from_dict(_dict(obj))


class _NamedUpload:
    """A file object whose `name` is the merchant's file name, without touching the stream
    (the SDK names the multipart part after `name`; an in-memory upload has none)."""

    def __init__(self, stream: BinaryIO, filename: str) -> None:
        self._stream = stream
        self.name = filename

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


# --- Events (reconciliation) ----------------------------------------------------------------


def events_list(
    *,
    created_gte: int | None = None,
    starting_after: str | None = None,
    limit: int = 100,
    delivery_success: bool | None = None,
    account: str | None = None,
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
            _options(account=account),
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
