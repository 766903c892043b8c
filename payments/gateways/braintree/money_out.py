"""Braintree's disbursements in Ledgerline's money-out words: a payout and its balance entries.

Braintree has no payout or balance API. A disbursement is announced by a `disbursement`
notification (or `disbursement_exception` when the deposit failed) that names its transactions;
the only way to look back is a transaction search by `disbursement_date`, which says a
transaction was disbursed and when, but not in which disbursement. So this module maps:

- a stored notification subject (`webhooks._disbursement_subject`) to a `PayoutState` and the
  transaction ids it carries (`disbursement_from_subject`), refusing malformed ones;
- those transactions, read from Braintree by id, to `BalanceEntry`s (`disbursement_entries`):
  a sale is a charge (+), a credit a refund (-), in the settlement amount Braintree paid out;
- the transactions disbursed since a time (`disbursed_since`), for the reconciler.

Braintree's fees are not itemized in a disbursement (they are netted or invoiced, depending on
the merchant's contract), so entries carry no fee: the payments layer records any difference
between the disbursement and its transactions as an adjustment of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import braintree

from payments.gateways.base import BalanceEntry, PayoutState
from payments.gateways.braintree.api import _sdk, minor_units
from payments.gateways.braintree.resilience import call

DISBURSEMENT_KINDS = ("disbursement", "disbursement_exception")
# A notification names at most this many transactions (webhooks.py keeps the first 1,000).
MAX_TRANSACTIONS = 1000
# Ids per search: the SDK then fetches them 50 at a time; a smaller list keeps each call short.
SEARCH_CHUNK = 200
# No real disbursement comes near this (10 billion in major units); a larger one is corrupt.
MAX_AMOUNT = 10**12
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# Shorter than a transaction id may be: the payout's own entries are `<id>:<suffix>` (64 max).
_DISBURSEMENT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,48}$")
_CURRENCY = re.compile(r"^[a-z]{3}$")
# Disbursement dates a real notification can carry (2001-09-09 .. 2096-10-02, epoch seconds).
_EARLIEST, _LATEST = 1_000_000_000, 4_000_000_000

# Braintree's exception messages in the payout failure codes Ledgerline explains
# (payments.payout_reports.FAILURE_ADVICE); its follow-up actions as what the merchant does.
_FAILURE_CODES = {
    "bank_rejected": "could_not_process",
    "insufficient_funds": "insufficient_funds",
    "account_not_authorized": "debit_not_authorized",
}
_FOLLOW_UP = {
    "contact_us": "Braintree asks you to contact its support about this disbursement.",
    "update_funding_information": "Braintree asks you to update your bank account (funding "
    "details) in its Control Panel; it retries the disbursement afterwards.",
    "none": "Braintree retries the disbursement itself; nothing is needed.",
}


class DisbursementInvalidError(ValueError):
    """A stored disbursement subject that cannot be a real disbursement (says why)."""


@dataclass(frozen=True)
class Disbursement:
    """A disbursement as a payout, and the Braintree transaction ids it carried (in order)."""

    payout: PayoutState
    transaction_ids: tuple[str, ...]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def disbursement_from_subject(subject: Any, *, kind: str) -> Disbursement:
    """The payout a stored `disbursement` / `disbursement_exception` subject describes.

    Raises `DisbursementInvalidError` for anything a signed Braintree notification cannot hold
    (the signature proves who sent it, not that every field is sane)."""
    if not isinstance(subject, Mapping):
        raise DisbursementInvalidError("no disbursement in the notification")
    disbursement_id = _str(subject.get("id"))
    if not _DISBURSEMENT_ID.match(disbursement_id):
        raise DisbursementInvalidError("the disbursement has no valid id")
    amount = _int(subject.get("amount"))
    if amount is None or not 0 <= amount < MAX_AMOUNT:
        raise DisbursementInvalidError("the disbursement amount is missing or out of range")
    currency = _str(subject.get("currency"))
    if not _CURRENCY.match(currency):
        raise DisbursementInvalidError("the disbursement has no valid currency")
    when = _int(subject.get("disbursement_date"))
    if when is None or not _EARLIEST <= when <= _LATEST:
        raise DisbursementInvalidError("the disbursement date is missing or out of range")
    ids = subject.get("transaction_ids")
    if not isinstance(ids, list) or len(ids) > MAX_TRANSACTIONS:
        raise DisbursementInvalidError("the disbursement's transaction list is not readable")
    if not all(isinstance(item, str) and _ID.match(item) for item in ids):
        raise DisbursementInvalidError("the disbursement names an invalid transaction id")
    direction = _str(subject.get("disbursement_type")) or braintree.Disbursement.Type.Credit
    if direction not in (braintree.Disbursement.Type.Credit, braintree.Disbursement.Type.Debit):
        raise DisbursementInvalidError("the disbursement type is neither credit nor debit")
    failed = kind == "disbursement_exception" or subject.get("success") is False
    exception = _str(subject.get("exception_message"))
    follow_up = _str(subject.get("follow_up_action"))
    arrival = datetime.fromtimestamp(when, tz=UTC)
    payout = PayoutState(
        id=disbursement_id,
        status="failed" if failed else "paid",
        # A debit disbursement takes money from the merchant's bank (refunds exceeded sales).
        amount=-amount if direction == braintree.Disbursement.Type.Debit else amount,
        currency=currency,
        arrival_date=arrival,
        created=arrival,
        automatic=True,
        failure_code=_FAILURE_CODES.get(exception, "could_not_process") if failed else "",
        failure_message=_failure_message(exception, follow_up) if failed else "",
    )
    return Disbursement(payout=payout, transaction_ids=tuple(dict.fromkeys(ids)))


def _failure_message(exception: str, follow_up: str) -> str:
    reason = exception.replace("_", " ") if re.fullmatch(r"[a-z_]{1,40}", exception) else ""
    said = f"Braintree reported: {reason}." if reason else "Braintree reported the deposit failed."
    return f"{said} {_FOLLOW_UP.get(follow_up, _FOLLOW_UP['contact_us'])}"[:500]


def _aware(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return fallback


def _entry(txn: Any, *, payout: str, available_on: datetime | None) -> BalanceEntry | None:
    """A sale or credit as a balance entry in what Braintree paid out (None: neither)."""
    kind = _str(getattr(txn, "type", None))
    if kind not in (braintree.Transaction.Type.Sale, braintree.Transaction.Type.Credit):
        return None
    details = getattr(txn, "disbursement_details", None)
    currency = _str(getattr(details, "settlement_currency_iso_code", None)).lower()
    amount = getattr(details, "settlement_amount", None)
    if not currency or amount is None:
        # Not disbursed yet as far as this answer says: what it was charged in.
        currency = _str(getattr(txn, "currency_iso_code", None)).lower()
        amount = getattr(txn, "amount", None)
    minor = minor_units(amount, currency)
    signed = minor if kind == braintree.Transaction.Type.Sale else -minor
    created = _aware(getattr(txn, "created_at", None), datetime.now(tz=UTC))
    disbursed = _aware(getattr(details, "disbursement_date", None), created)
    txn_id = _str(getattr(txn, "id", None))
    return BalanceEntry(
        id=txn_id,
        type="charge" if kind == braintree.Transaction.Type.Sale else "refund",
        amount=signed,
        fee=0,
        net=signed,
        currency=currency,
        available_on=available_on or disbursed,
        created=created,
        source=txn_id,
        payout=payout,
    )


def _search(gateway: braintree.BraintreeGateway, criteria: list[Any]) -> list[Any]:
    return list(gateway.transaction.search(criteria).items)


def disbursement_entries(*, account: str, disbursement: Disbursement) -> list[BalanceEntry]:
    """The disbursement's transactions as Braintree holds them, as balance entries of its
    payout (ids Braintree does not return are simply absent: the caller accounts for them)."""
    gateway = _sdk(account)
    ids = list(disbursement.transaction_ids)
    found: list[BalanceEntry] = []
    for start in range(0, len(ids), SEARCH_CHUNK):
        chunk = ids[start : start + SEARCH_CHUNK]
        criteria = [braintree.TransactionSearch.ids.in_list(chunk)]
        items = call(
            "transaction_search_disbursed", partial(_search, gateway, criteria), mutating=False
        )
        for txn in items:
            entry = _entry(
                txn,
                payout=disbursement.payout.id,
                available_on=disbursement.payout.arrival_date,
            )
            if entry is not None and entry.id in chunk:
                found.append(entry)
    return found


def disbursed_since(*, account: str, since: datetime) -> list[BalanceEntry]:
    """Every sale and credit Braintree disbursed on or after `since`'s day, as balance entries
    (`payout` empty: a transaction search does not say which disbursement carried it)."""
    gateway = _sdk(account)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    criteria = [braintree.TransactionSearch.disbursement_date >= start]
    items = call(
        "transaction_search_disbursement_date", partial(_search, gateway, criteria), mutating=False
    )
    entries = (_entry(txn, payout="", available_on=None) for txn in items)
    return [entry for entry in entries if entry is not None]
