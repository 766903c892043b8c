"""The Braintree gateway: `BraintreeGateway` implements `payments.gateways.base.PaymentGateway`.

A charge is a Braintree `sale` transaction paid with a payment-method nonce from the hosted
fields; capture is submit-for-settlement, cancel is void, a refund is a `credit` transaction of
its own; a dispute is answered with categorized text evidence, document uploads and
`finalize` (it also implements `DisputeGateway`). Every call is made with the merchant's own
keys (`account` is its Braintree merchant id). Statuses, amounts and refusals are mapped here
to the neutral dataclasses of `base` and to `payments.exceptions`.

Braintree has no idempotency keys, so "idempotent in effect" is ours: every object we create
carries our row's public id as its `order_id`, and an attempt that may have reached Braintree
(a timeout, a lost answer, a 5xx) is followed by a search for that order id before anything
is sent again; capture and void look at the transaction first. A timeout after Braintree
charged therefore finds the charge instead of making a second one.
"""

# Over 500 lines because it is one concern: every verb of the PaymentGateway protocol for
# Braintree next to the mapping of Braintree's objects and refusals those verbs share.

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, BinaryIO, TypeVar

import braintree
from django.conf import settings

from config.card_numbers import mask_card_numbers
from config.exceptions import ApplicationError
from payments.dispute_evidence import FILE_FIELDS, TEXT_FIELDS
from payments.exceptions import (
    CardDeclinedError,
    ChargeNotSettledError,
    DisputeStateError,
    PaymentStateError,
    ProcessorAuthenticationError,
    ProcessorRequestError,
    RefundAmountError,
)
from payments.gateways.base import (
    AccountState,
    BankSetup,
    BankSource,
    CardFacts,
    Charge,
    CheckoutConfig,
    CustomerRef,
    DisputeState,
    EvidenceFileRef,
    RefundState,
)
from payments.gateways.braintree.client import Keys, api_origin, sdk_gateway
from payments.gateways.braintree.resilience import call, ensure_available
from payments.money import exponent, to_major
from payments.state import PaymentStatus, RefundStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")

_S = braintree.Transaction.Status
# A sale's status, in ours. Captured (submitted for settlement) is "succeeded", as a captured
# Stripe charge is: the money is committed; settlement is Braintree's own later bookkeeping.
_SALE_STATUS: dict[str, PaymentStatus] = {
    _S.Authorizing: PaymentStatus.PROCESSING,
    _S.Authorized: PaymentStatus.REQUIRES_CAPTURE,
    _S.SubmittedForSettlement: PaymentStatus.SUCCEEDED,
    _S.SettlementPending: PaymentStatus.SUCCEEDED,
    _S.Settling: PaymentStatus.SUCCEEDED,
    _S.Settled: PaymentStatus.SUCCEEDED,
    _S.SettlementConfirmed: PaymentStatus.SUCCEEDED,
    _S.Voided: PaymentStatus.CANCELED,
    _S.AuthorizationExpired: PaymentStatus.CANCELED,
    _S.ProcessorDeclined: PaymentStatus.REQUIRES_PAYMENT_METHOD,
    _S.GatewayRejected: PaymentStatus.REQUIRES_PAYMENT_METHOD,
    _S.Failed: PaymentStatus.REQUIRES_PAYMENT_METHOD,
    # settlement_declined is not a status here but its own fact (`settlement.py`).
}
# A refund (a credit transaction): done once Braintree settles it.
_CREDIT_STATUS: dict[str, RefundStatus] = {
    _S.SubmittedForSettlement: RefundStatus.PENDING,
    _S.SettlementPending: RefundStatus.PENDING,
    _S.Settling: RefundStatus.SUCCEEDED,
    _S.Settled: RefundStatus.SUCCEEDED,
    _S.SettlementConfirmed: RefundStatus.SUCCEEDED,
    _S.Voided: RefundStatus.CANCELED,
    _S.SettlementDeclined: RefundStatus.FAILED,
    _S.Failed: RefundStatus.FAILED,
    _S.ProcessorDeclined: RefundStatus.FAILED,
    _S.GatewayRejected: RefundStatus.FAILED,
}
_DECLINED = frozenset({_S.ProcessorDeclined, _S.GatewayRejected, _S.Failed})
_CAPTURED = frozenset(
    {_S.SubmittedForSettlement, _S.SettlementPending, _S.Settling, _S.Settled}
) | {_S.SettlementConfirmed}

# Braintree's processor response codes, in the decline codes Ledgerline reports (Stripe's
# names, which the dashboard and API already explain).
_DECLINE_CODES: dict[str, str] = {
    "2000": "do_not_honor",
    "2001": "insufficient_funds",
    "2002": "card_velocity_exceeded",
    "2003": "card_velocity_exceeded",
    "2004": "expired_card",
    "2005": "incorrect_number",
    "2006": "invalid_expiry_year",
    "2007": "invalid_account",
    "2010": "incorrect_cvc",
    "2012": "lost_card",
    "2013": "stolen_card",
    "2014": "fraudulent",
    "2015": "transaction_not_allowed",
    "2044": "call_issuer",
    "3000": "processing_error",
}
# Braintree's validation error codes that mean something a caller can act on.
_CANNOT_REFUND_UNLESS_SETTLED = "91506"
_STATE_CODES = frozenset({"91504", "91507", "91505"})  # not voidable / submittable / a credit
_REFUND_AMOUNT_CODES = frozenset({"91521", "91512"})  # too large / already refunded
_SETTLEMENT_AMOUNT_CODES = frozenset({"91522"})
_MERCHANT_ACCOUNT_CODES = frozenset({"91513", "93540"})
_CUSTOMER_ID_IN_USE = "91609"
# Dispute refusals that mean "not in this state any more" (evidence, accept, finalize).
_DISPUTE_STATE_CODES = frozenset({"95701", "95704", "95705"})

_D = braintree.Dispute.Status
# Braintree's dispute statuses in Ledgerline's (`payments.models.DisputeStatus` values, which
# are Stripe's names). Accepting, letting it expire and losing all end as lost.
DISPUTE_STATUS: dict[str, str] = {
    _D.Open: "needs_response",
    _D.Disputed: "under_review",
    _D.UnderReview: "under_review",
    _D.Won: "won",
    _D.Lost: "lost",
    _D.Accepted: "lost",
    _D.AutoAccepted: "lost",
    _D.Expired: "lost",
}
# The statuses a dispute only reaches after evidence was finalized.
_SUBMITTED = frozenset({_D.Disputed, _D.UnderReview})
# Ledgerline's text evidence fields Braintree has a text category for (its
# DisputeTextEvidenceCategory); a carrier and its tracking number share a sequence number,
# which pairs them. The other fields go uncategorized, introduced by their label.
_TEXT_CATEGORY: dict[str, tuple[str, int | None]] = {
    "customer_name": ("PURCHASER_NAME", None),
    "customer_email_address": ("PURCHASER_EMAIL_ADDRESS", None),
    "shipping_carrier": ("CARRIER_NAME", 0),
    "shipping_tracking_number": ("TRACKING_NUMBER", 0),
}
# The free-text field is sent as written (it needs no label).
_UNLABELLED_TEXT = "uncategorized_text"
_DOCUMENT_TYPES = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}

UNSUPPORTED = "processor_operation_unsupported"
# How far before our row the processor's clock may put what it created for it.
FIND_CLOCK_MARGIN = timedelta(hours=1)
DROPIN_SCRIPT = "https://js.braintreegateway.com/web/dropin/1.43.0/js/dropin.min.js"


# --- Credentials ------------------------------------------------------------------------------


def _keys(account: str) -> Keys:
    """The merchant's keys, opened from the vault (the gateway is their only reader)."""
    from payments.processor_credentials import CredentialMissingError, braintree_keys

    try:
        public_key, private_key = braintree_keys(merchant_id=account)
    except CredentialMissingError:
        logger.error("No Braintree keys stored for merchant %s", account)
        raise ProcessorAuthenticationError(
            "This merchant's Braintree keys are not stored; connect the account again."
        ) from None
    return Keys(merchant_id=account, public_key=public_key, private_key=private_key)


def _sdk(account: str) -> braintree.BraintreeGateway:
    return sdk_gateway(_keys(account))


# --- Mapping ----------------------------------------------------------------------------------


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def minor_units(amount: Any, currency: str) -> int:
    """Braintree's decimal amount ("10.00") in minor units of `currency` (0 when unreadable)."""
    try:
        value = Decimal(str(amount)).scaleb(exponent(currency or "usd"))
    except (InvalidOperation, ValueError, ArithmeticError):
        return 0
    return int(value) if value == value.to_integral_value() else 0


def major_units(amount: int, currency: str) -> str:
    """Minor units as the decimal string Braintree takes ("10.00")."""
    return str(to_major(amount, currency))


def _card(txn: Any) -> CardFacts | None:
    details = getattr(txn, "credit_card_details", None)
    if details is None or not _str(getattr(details, "last_4", None)):
        return None

    def _month_year(name: str) -> int | None:
        text = _str(getattr(details, name, None))
        return int(text) if text.isdigit() else None

    country = _str(getattr(details, "country_of_issuance", None))
    return CardFacts(
        brand=_str(getattr(details, "card_type", None)).lower().replace(" ", "_"),
        last4=_str(getattr(details, "last_4", None))[-4:],
        exp_month=_month_year("expiration_month"),
        exp_year=_month_year("expiration_year"),
        fingerprint=_str(getattr(details, "unique_number_identifier", None))[:64],
        country=country if len(country) == 2 else "",
    )


def _decline(txn: Any) -> tuple[str, str, str]:
    """(failure code, decline code, message) of a declined or rejected sale."""
    status = _str(getattr(txn, "status", None))
    response = _str(getattr(txn, "processor_response_code", None))
    text = mask_card_numbers(_str(getattr(txn, "processor_response_text", None)))[:500]
    if status == _S.GatewayRejected:
        reason = _str(getattr(txn, "gateway_rejection_reason", None))
        if reason == "three_d_secure":
            return (
                "payment_intent_authentication_failure",
                "",
                "The card's 3-D Secure authentication failed.",
            )
        return (
            "card_declined",
            "fraudulent" if reason == "fraud" else "generic_decline",
            ("The payment processor rejected the card."),
        )
    if status == _S.Failed:
        return "processing_error", "processing_error", text or "The card could not be processed."
    return (
        "card_declined",
        _DECLINE_CODES.get(response, "generic_decline"),
        text or ("The card was declined."),
    )


def charge_from_transaction(txn: Any) -> Charge:
    """A sale transaction (an SDK `Transaction`) as Ledgerline mirrors it."""
    status = _str(getattr(txn, "status", None))
    currency = _str(getattr(txn, "currency_iso_code", None)).lower()
    amount = minor_units(getattr(txn, "amount", None), currency)
    failure_code, decline_code, message = _decline(txn) if status in _DECLINED else ("", "", "")
    return Charge(
        id=_str(getattr(txn, "id", None)),
        status=_SALE_STATUS.get(status),
        amount=amount,
        amount_capturable=amount if status == _S.Authorized else 0,
        amount_received=amount if status in _CAPTURED else 0,
        currency=currency,
        charge_id=_str(getattr(txn, "id", None)),
        card=_card(txn),
        failure_code=failure_code,
        decline_code=decline_code,
        failure_message=message,
        reference=_str(getattr(txn, "order_id", None)),
    )


def refund_from_transaction(txn: Any) -> RefundState:
    """A credit transaction as a refund."""
    currency = _str(getattr(txn, "currency_iso_code", None)).lower()
    status = _str(getattr(txn, "status", None))
    return RefundState(
        id=_str(getattr(txn, "id", None)),
        status=_CREDIT_STATUS.get(status),
        amount=minor_units(getattr(txn, "amount", None), currency),
        currency=currency,
        charge_id=_str(getattr(txn, "refunded_transaction_id", None)),
        failure_reason=status if _CREDIT_STATUS.get(status) == RefundStatus.FAILED else "",
        reference=_str(getattr(txn, "order_id", None)),
    )


def charge_from_subject(subject: Mapping[str, Any]) -> Charge:
    """A sale as an event stored it (`webhooks.transaction_subject`)."""
    status = _str(subject.get("status"))
    amount = subject.get("amount")
    amount = amount if isinstance(amount, int) and not isinstance(amount, bool) else 0
    failure_code, decline_code = "", ""
    if status in _DECLINED:
        failure_code = "card_declined"
        decline_code = _DECLINE_CODES.get(_str(subject.get("processor_response_code")), "")
    return Charge(
        id=_str(subject.get("id")),
        status=_SALE_STATUS.get(status),
        amount=amount,
        amount_capturable=amount if status == _S.Authorized else 0,
        amount_received=amount if status in _CAPTURED else 0,
        currency=_str(subject.get("currency")),
        charge_id=_str(subject.get("id")),
        failure_code=failure_code,
        decline_code=decline_code,
        reference=_str(subject.get("order_id")),
    )


def refund_from_subject(subject: Mapping[str, Any]) -> RefundState:
    """A credit as an event stored it."""
    status = _str(subject.get("status"))
    amount = subject.get("amount")
    return RefundState(
        id=_str(subject.get("id")),
        status=_CREDIT_STATUS.get(status),
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else 0,
        currency=_str(subject.get("currency")),
        charge_id=_str(subject.get("refunded_transaction_id")),
        failure_reason=status if _CREDIT_STATUS.get(status) == RefundStatus.FAILED else "",
        reference=_str(subject.get("order_id")),
    )


def _reply_by(value: Any) -> datetime | None:
    """Braintree's reply-by date as the start of that day in UTC, as notifications give it."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is None or not hasattr(value, "year"):
        return None
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def dispute_from_sdk(dispute: Any) -> DisputeState:
    """An SDK `Dispute` in the product's words; finalized evidence counts as one submission
    (Braintree takes one), seen in the status or in the status history."""
    status = _str(getattr(dispute, "status", None))
    history = {
        _str(getattr(entry, "status", None)) for entry in _listed_attr(dispute, "status_history")
    }
    currency = _str(getattr(dispute, "currency_iso_code", None)).lower()
    return DisputeState(
        id=_str(getattr(dispute, "id", None)),
        status=DISPUTE_STATUS.get(status, ""),
        amount=minor_units(getattr(dispute, "amount_disputed", None), currency),
        currency=currency,
        reason=_str(getattr(dispute, "reason", None))[:64],
        charge_id=_str(getattr(getattr(dispute, "transaction", None), "id", None)),
        evidence_due_by=_reply_by(getattr(dispute, "reply_by_date", None)),
        submission_count=1 if _SUBMITTED.intersection({status, *history}) else 0,
    )


def _listed_attr(obj: Any, name: str) -> list[Any]:
    value = getattr(obj, name, None)
    return list(value) if isinstance(value, list) else []


def text_evidence(text: Mapping[str, str]) -> list[dict[str, Any]]:
    """Ledgerline's text fields as Braintree text evidence requests, in the form's order:
    `content` with a `category` (and `sequence_number`) where Braintree has one."""
    requests: list[dict[str, Any]] = []
    order = [name for name in TEXT_FIELDS if name in text]
    for field in order + sorted(name for name in text if name not in TEXT_FIELDS):
        value = text[field]
        category, sequence = _TEXT_CATEGORY.get(field, (None, None))
        if category is not None:
            request: dict[str, Any] = {"content": value, "category": category}
            if sequence is not None:
                request["sequence_number"] = sequence
        elif field == _UNLABELLED_TEXT:
            request = {"content": value}
        else:
            label = TEXT_FIELDS[field][0] if field in TEXT_FIELDS else field
            request = {"content": f"{label}: {value}"}
        requests.append(request)
    return requests


def _refusal(result: Any) -> ApplicationError:
    """The project's error for an unsuccessful SDK result (a decline or a validation error)."""
    txn = getattr(result, "transaction", None)
    if txn is not None and _str(getattr(txn, "status", None)) in _DECLINED:
        failure_code, decline_code, message = _decline(txn)
        return CardDeclinedError(
            message,
            code=failure_code,
            decline_code=decline_code,
            processor_object_id=_str(getattr(txn, "id", None)) or None,
        )
    errors = getattr(result, "errors", None)
    codes = [_str(error.code) for error in getattr(errors, "deep_errors", None) or []]
    message = mask_card_numbers(_str(getattr(result, "message", None)))[:300]
    if _CANNOT_REFUND_UNLESS_SETTLED in codes:
        return ChargeNotSettledError()
    if _DISPUTE_STATE_CODES.intersection(codes):
        return DisputeStateError(message or "The dispute no longer takes this answer.")
    if _STATE_CODES.intersection(codes):
        return PaymentStateError(message or "Not possible in the payment's state.")
    if _REFUND_AMOUNT_CODES.intersection(codes):
        return RefundAmountError(message or "The refund is larger than what is left.")
    if _SETTLEMENT_AMOUNT_CODES.intersection(codes):
        return ProcessorRequestError(
            "The capture is larger than the authorised amount.",
            code="amount_too_large",
            param="amount",
        )
    if _MERCHANT_ACCOUNT_CODES.intersection(codes):
        return ProcessorRequestError(
            "The merchant's Braintree account takes no payments in this currency.",
            code="currency_not_supported",
            param="currency",
        )
    return ProcessorRequestError(
        message or "The payment processor rejected the request.",
        code="processor_invalid_request",
    )


def _transaction_of(result: Any) -> Any:
    """The transaction of a successful result, else the mapped refusal raised."""
    if getattr(result, "is_success", False):
        return result.transaction
    raise _refusal(result)


def _merchant_account(account: str, currency: str) -> str | None:
    """The Braintree merchant account that settles `currency`.

    A Braintree merchant has one merchant account per currency. The default one (used when
    none is named) is taken for US dollars; another currency is named
    `<merchant id>_<currency>`, the convention Ledgerline asks merchants to follow when they
    add currencies (docs/payments.md); Braintree refuses an unknown one (91513), mapped to
    `currency_not_supported`.
    """
    return None if currency.lower() == "usd" else f"{account}_{currency.lower()}"


def _unsupported(what: str) -> ProcessorRequestError:
    return ProcessorRequestError(
        f"Braintree does not offer {what} through Ledgerline.", code=UNSUPPORTED
    )


def _ensure_success(result: Any) -> None:
    """A dispute call's result (no object in it): the mapped refusal raised unless it
    succeeded."""
    if not getattr(result, "is_success", False):
        raise _refusal(result)


class _NamedDocument(io.BytesIO):
    """The bytes of an evidence document with the name the SDK sends (and reads its type
    from): the evidence field's, never the merchant's file name."""

    def __init__(self, content: bytes, name: str) -> None:
        super().__init__(content)
        self.name = name


class _Attempts:
    """Counts the attempts of one logical call: the second and later ones first look for what
    an earlier attempt may have done (Braintree has no idempotency keys)."""

    def __init__(self) -> None:
        self.count = 0

    def next_is_retry(self) -> bool:
        self.count += 1
        return self.count > 1


def _search_one(
    gateway: braintree.BraintreeGateway, *criteria: Any, accept: Callable[[Any], bool]
) -> Any | None:
    """The newest transaction matching `criteria` that `accept` takes, or None."""
    found = [txn for txn in gateway.transaction.search(*criteria).items if accept(txn)]
    if not found:
        return None
    return max(found, key=lambda txn: str(getattr(txn, "created_at", None) or ""))


class BraintreeGateway:
    """Braintree behind `PaymentGateway` (settings are read per call, never at import)."""

    name = "braintree"
    # Each merchant's Braintree account is its own (a master merchant account under its own
    # keys), not a sub-merchant of the platform: Braintree takes no fee for a third party out
    # of such an account's sales. Its one such feature, Marketplace's `service_fee_amount`,
    # was for sub-merchants only (error 91557 on a master account), is closed to new
    # platforms, and the SDK (4.x) no longer accepts it. docs/payments.md, "Platform fee".
    takes_platform_fee = False

    def ensure_available(self) -> None:
        ensure_available()

    def checkout_config(self, *, account: str) -> CheckoutConfig:
        """The hosted-fields script from the processor's origin (the sandbox's stand-in, or
        Braintree's Drop-in) and a client token, which the browser needs instead of a
        publishable key; CSP origins for both."""
        gateway = _sdk(account)
        token = call("client_token_generate", gateway.client_token.generate, mutating=False)
        origin = api_origin()
        origins: tuple[str, ...]
        if origin:
            script, origins = f"{origin}/braintree/web/braintree.js", (origin,)
        else:
            script = DROPIN_SCRIPT
            origins = (*settings.BRAINTREE_JS_ORIGINS, "https://api.braintreegateway.com")
            if settings.BRAINTREE_ENVIRONMENT == "sandbox":
                origins = (*origins, "https://api.sandbox.braintreegateway.com")
        return CheckoutConfig(
            processor=self.name,
            script_url=script,
            publishable_key=_str(token),
            account=account,
            origins=tuple(origins),
        )

    # --- Accounts -------------------------------------------------------------------------

    def account_create(self, *, country: str, email: str, key: str) -> AccountState:
        raise _unsupported("opening accounts (a merchant connects its own with API keys)")

    def account_retrieve(self, *, account: str) -> AccountState:
        """A connected Braintree merchant can charge once its keys work: checked by a call."""
        return credentials_check(_keys(account))

    def account_onboarding_link(self, *, account: str, refresh_url: str, return_url: str) -> str:
        raise _unsupported("hosted onboarding (a merchant connects its own with API keys)")

    # --- Customers ------------------------------------------------------------------------

    def customer_ensure(
        self, *, account: str, key: str, reference: str, email: str, name: str, description: str
    ) -> CustomerRef:
        """Create the customer under our own id (`reference`): a repeat finds it instead."""
        gateway = _sdk(account)
        first, _, last = name.partition(" ")
        params: dict[str, Any] = {"id": reference}
        for field, value in (("email", email), ("first_name", first), ("last_name", last)):
            if value:
                params[field] = value

        def create() -> Any:
            return gateway.customer.create(params)

        result = call("customer_create", create, mutating=True)
        if result.is_success:
            return CustomerRef(id=_str(result.customer.id))
        codes = [_str(error.code) for error in result.errors.deep_errors]
        if _CUSTOMER_ID_IN_USE in codes:
            return CustomerRef(id=reference)
        raise _refusal(result)

    def customer_update(
        self,
        *,
        account: str,
        customer: str,
        email: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> CustomerRef:
        gateway = _sdk(account)
        params: dict[str, Any] = {}
        if email is not None:
            params["email"] = email
        if name is not None:
            first, _, last = name.partition(" ")
            params["first_name"], params["last_name"] = first, last
        if not params:
            return CustomerRef(id=customer)
        result = call(
            "customer_update", lambda: gateway.customer.update(customer, params), mutating=True
        )
        if not result.is_success:
            raise _refusal(result)
        return CustomerRef(id=customer)

    def customer_delete(self, *, account: str, customer: str) -> CustomerRef:
        """Delete the customer (already gone counts as deleted: erasure must be repeatable)."""
        gateway = _sdk(account)

        def delete() -> bool:
            try:
                gateway.customer.delete(customer)
            except braintree.exceptions.NotFoundError:
                return True
            return True

        call("customer_delete", delete, mutating=True)
        return CustomerRef(id=customer, deleted=True)

    # --- Charges (sale transactions) --------------------------------------------------------

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
        """A sale with the nonce; authorised only (`capture_manually`) or submitted at once.

        3-D Secure happens in the browser before this call (the hosted fields' verifyCard);
        with `BRAINTREE_THREE_D_SECURE_REQUIRED` a nonce without a passed authentication is
        rejected by Braintree. `key` is unused: Braintree has no idempotency keys, so a retry
        first searches for a sale under our `reference` (the order id)."""
        if method_type != "card":
            raise _unsupported("bank debits")
        if platform_fee:
            raise _unsupported("a platform fee")
        gateway = _sdk(account)
        params: dict[str, Any] = {
            "amount": major_units(amount, currency),
            "order_id": reference,
            "payment_method_nonce": payment_method,
            "options": {"submit_for_settlement": not capture_manually},
        }
        if settings.BRAINTREE_THREE_D_SECURE_REQUIRED:
            params["options"]["three_d_secure"] = {"required": True}
        merchant_account = _merchant_account(account, currency)
        if merchant_account:
            params["merchant_account_id"] = merchant_account
        if customer:
            params["customer_id"] = customer
        since = datetime.now(tz=UTC) - FIND_CLOCK_MARGIN
        attempts = _Attempts()

        def sale() -> Any:
            if attempts.next_is_retry():
                earlier = self._sale_by_order(gateway, reference, since)
                if earlier is not None:
                    logger.info("Braintree sale for %s found before a retry", reference)
                    return earlier
            return _transaction_of(gateway.transaction.sale(params))

        return charge_from_transaction(call("transaction_sale", sale, mutating=True))

    @staticmethod
    def _sale_by_order(gateway: braintree.BraintreeGateway, reference: str, since: datetime) -> Any:
        search = braintree.TransactionSearch
        return _search_one(
            gateway,
            search.order_id == reference,
            search.created_at >= since,
            accept=lambda txn: (
                _str(getattr(txn, "type", None)) == "sale"
                and _str(getattr(txn, "order_id", None)) == reference
            ),
        )

    def charge_retrieve(self, *, account: str, charge: str) -> Charge:
        gateway = _sdk(account)
        txn = call("transaction_find", lambda: gateway.transaction.find(charge), mutating=False)
        return charge_from_transaction(txn)

    def charge_find(
        self, *, account: str, reference: str, created_since: datetime
    ) -> Charge | None:
        """The sale our row `reference` made (its order id), for an answer that never came."""
        gateway = _sdk(account)
        since = created_since - FIND_CLOCK_MARGIN
        txn = call(
            "transaction_search",
            lambda: self._sale_by_order(gateway, reference, since),
            mutating=False,
        )
        return charge_from_transaction(txn) if txn is not None else None

    def charge_capture(
        self,
        *,
        account: str,
        charge: str,
        amount: int | None,
        key: str,
        platform_fee: int | None = None,
    ) -> Charge:
        """Submit for settlement (all of it, or `amount`: the rest of the hold is released)."""
        if platform_fee:
            raise _unsupported("a platform fee")
        gateway = _sdk(account)
        attempts = _Attempts()

        def capture() -> Any:
            if attempts.next_is_retry():
                txn = gateway.transaction.find(charge)
                if _str(txn.status) in _CAPTURED:
                    return txn
            currency = self._currency(gateway, charge) if amount is not None else "usd"
            value = major_units(amount, currency) if amount is not None else None
            return _transaction_of(gateway.transaction.submit_for_settlement(charge, value))

        return charge_from_transaction(call("transaction_capture", capture, mutating=True))

    @staticmethod
    def _currency(gateway: braintree.BraintreeGateway, charge: str) -> str:
        return _str(gateway.transaction.find(charge).currency_iso_code).lower() or "usd"

    def charge_cancel(
        self, *, account: str, charge: str, key: str, reason: str | None = None
    ) -> Charge:
        """Void the authorisation (or a capture not yet settling)."""
        gateway = _sdk(account)
        attempts = _Attempts()

        def void() -> Any:
            if attempts.next_is_retry():
                txn = gateway.transaction.find(charge)
                if _str(txn.status) == _S.Voided:
                    return txn
            return _transaction_of(gateway.transaction.void(charge))

        return charge_from_transaction(call("transaction_void", void, mutating=True))

    # --- Refunds (credit transactions) -----------------------------------------------------

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
        """Refund `amount` of a settled (or settling) sale; before that Braintree refuses and
        `ChargeNotSettledError` says to cancel instead. A retry first looks for the credit
        under our refund's `reference`."""
        gateway = _sdk(account)
        attempts = _Attempts()

        def refund() -> Any:
            if attempts.next_is_retry():
                earlier = self._credit_by_order(gateway, charge, reference)
                if earlier is not None:
                    return earlier
            currency = self._currency(gateway, charge)
            options = {"amount": major_units(amount, currency), "order_id": reference}
            return _transaction_of(gateway.transaction.refund(charge, options))

        return refund_from_transaction(call("transaction_refund", refund, mutating=True))

    @staticmethod
    def _credit_by_order(gateway: braintree.BraintreeGateway, charge: str, reference: str) -> Any:
        search = braintree.TransactionSearch
        return _search_one(
            gateway,
            search.order_id == reference,
            search.type == braintree.Transaction.Type.Credit,
            accept=lambda txn: (
                _str(getattr(txn, "refunded_transaction_id", None)) == charge
                and _str(getattr(txn, "order_id", None)) == reference
            ),
        )

    def refund_retrieve(self, *, account: str, refund: str) -> RefundState:
        gateway = _sdk(account)
        txn = call("transaction_find", lambda: gateway.transaction.find(refund), mutating=False)
        return refund_from_transaction(txn)

    def refund_find(self, *, account: str, charge: str, reference: str) -> RefundState | None:
        gateway = _sdk(account)
        txn = call(
            "transaction_search",
            lambda: self._credit_by_order(gateway, charge, reference),
            mutating=False,
        )
        return refund_from_transaction(txn) if txn is not None else None

    # --- Disputes (DisputeGateway) ----------------------------------------------------------
    # Braintree has no idempotency keys here either: every answer reads the dispute first and
    # sends only what it does not hold yet, so a retry after a lost answer adds nothing twice
    # and never finalizes twice.

    def dispute_retrieve(self, *, account: str, dispute: str) -> DisputeState:
        gateway = _sdk(account)
        found = call("dispute_find", lambda: gateway.dispute.find(dispute), mutating=False)
        return dispute_from_sdk(found)

    def dispute_evidence_file_upload(
        self, *, account: str, filename: str, content: BinaryIO, key: str
    ) -> EvidenceFileRef:
        """A document upload of kind evidence_document. A retry after a lost answer uploads
        again: the first upload, attached to nothing, is never part of the dispute."""
        gateway = _sdk(account)

        def upload() -> Any:
            content.seek(0)  # a retry re-reads the document from its start
            document = _NamedDocument(content.read(), filename)
            result = gateway.document_upload.create(
                {"kind": braintree.DocumentUpload.Kind.EvidenceDocument, "file": document}
            )
            if not getattr(result, "is_success", False):
                raise _refusal(result)
            return result.document_upload

        uploaded = call("document_upload_create", upload, mutating=True)
        size = getattr(uploaded, "size", None)
        return EvidenceFileRef(
            id=_str(getattr(uploaded, "id", None)),
            size=size if isinstance(size, int) else 0,
            type=_DOCUMENT_TYPES.get(_str(getattr(uploaded, "content_type", None)), ""),
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
        """Add the text evidence (categorized where Braintree has a category) and the uploaded
        documents, then finalize. An attempt that finds the dispute already finalized returns
        it when an earlier attempt of this call got that far, and refuses otherwise (Braintree
        takes one submission)."""
        gateway = _sdk(account)
        attempts = _Attempts()
        pieces = text_evidence(text)
        documents = [files[field] for field in FILE_FIELDS if field in files]
        documents += [files[field] for field in sorted(files) if field not in FILE_FIELDS]

        def submit() -> Any:
            retry = attempts.next_is_retry()
            current = gateway.dispute.find(dispute)
            if _str(current.status) != _D.Open:
                if retry and dispute_from_sdk(current).submission_count:
                    return current
                raise DisputeStateError(
                    "The dispute no longer takes evidence: it was answered already."
                )
            held = _listed_attr(current, "evidence")
            held_text = {(_str(e.category), _str(e.comment)) for e in held if _str(e.comment)}
            for piece in pieces:
                if (piece.get("category") or "", piece["content"]) not in held_text:
                    _ensure_success(gateway.dispute.add_text_evidence(dispute, dict(piece)))
            # Documents are attached in a fixed order: those the dispute holds are the first.
            held_documents = sum(1 for e in held if not _str(e.comment))
            for document_id in documents[held_documents:]:
                _ensure_success(gateway.dispute.add_file_evidence(dispute, document_id))
            _ensure_success(gateway.dispute.finalize(dispute))
            return gateway.dispute.find(dispute)

        return dispute_from_sdk(call("dispute_evidence_submit", submit, mutating=True))

    def dispute_accept(self, *, account: str, dispute: str, key: str) -> DisputeState:
        """Accept the dispute while it is open; one no longer open is returned as it is (an
        earlier attempt's acceptance, or an answer from elsewhere the services report)."""
        gateway = _sdk(account)

        def accept() -> Any:
            current = gateway.dispute.find(dispute)
            if _str(current.status) != _D.Open:
                return current
            _ensure_success(gateway.dispute.accept(dispute))
            return gateway.dispute.find(dispute)

        return dispute_from_sdk(call("dispute_accept", accept, mutating=True))

    # --- Bank accounts: not through Braintree ----------------------------------------------

    def bank_source_attach(
        self, *, account: str, customer: str, token: str, key: str
    ) -> BankSource:
        raise _unsupported("bank debits")

    def bank_setup_create(
        self, *, account: str, customer: str, key: str, metadata: Mapping[str, str]
    ) -> BankSetup:
        raise _unsupported("bank debits")

    def bank_setup_retrieve(self, *, account: str, setup: str) -> BankSetup:
        raise _unsupported("bank debits")

    def bank_setup_verify(self, *, account: str, setup: str, code: str, key: str) -> BankSetup:
        raise _unsupported("bank debits")


# --- Outside the protocol: credentials and reconciliation --------------------------------------


def credentials_check(keys: Keys) -> AccountState:
    """Prove `keys` work with one call that changes nothing (a client token).

    Raises `ProcessorAuthenticationError` for keys Braintree refuses (or that belong to
    another merchant), `ProcessorUnavailableError` when Braintree cannot be reached.
    """
    gateway = sdk_gateway(keys)
    call("client_token_generate", gateway.client_token.generate, mutating=False)
    return AccountState(
        id=keys.merchant_id, charges_enabled=True, payouts_enabled=True, details_submitted=True
    )


# Each status Braintree records a time for; a transaction changed since `t` has one of these
# at or after `t` (the SDK has no "updated at" search).
STATUS_TIME_FIELDS = (
    "authorized_at",
    "submitted_for_settlement_at",
    "settled_at",
    "voided_at",
    "authorization_expired_at",
    "processor_declined_at",
    "gateway_rejected_at",
    "failed_at",
)


def _listed(gateway: braintree.BraintreeGateway, criterion: Any) -> list[Any]:
    return list(gateway.transaction.search(criterion).items)


def transactions_changed_since(*, account: str, since: datetime) -> list[dict[str, Any]]:
    """Every transaction of `account` whose status changed at or after `since`, as event
    subjects (the shape `webhooks.transaction_subject` gives a notification's transaction)."""
    from payments.gateways.braintree.webhooks import transaction_subject

    gateway = _sdk(account)
    search = braintree.TransactionSearch
    found: dict[str, Any] = {}
    for field in STATUS_TIME_FIELDS:
        criterion = getattr(search, field) >= since
        items: list[Any] = call(
            f"transaction_search_{field}",
            partial(_listed, gateway, criterion),
            mutating=False,
        )
        for txn in items:
            found[_str(txn.id)] = txn
    return [transaction_subject(txn) for txn in found.values()]
