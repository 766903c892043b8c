"""Braintree's settlement declines: a sale it declined to settle after it was submitted.

A `settlement_declined` sale is not a status of Ledgerline's machine (`api._SALE_STATUS`
leaves it out on purpose): it is a fact of its own that turns a succeeded payment into a
failed one (`payments.services.payment_settlement_decline`). This module recognises it in an
event's subject and finds the ones the reconciler was never told about.

Braintree's transaction search has no time for the decline itself, so the search asks for
sales in that status submitted for settlement within `SETTLEMENT_DECLINE_WINDOW` of the
reconciler's mark; Braintree settles (or declines) within days of submission. Every run sees
the same declines again; the reconciler's one event per (transaction, status) ingests each
once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import braintree

from payments.gateways.braintree.api import _sdk
from payments.gateways.braintree.resilience import call

SETTLEMENT_DECLINED = braintree.Transaction.Status.SettlementDeclined
SETTLEMENT_DECLINE_WINDOW = timedelta(days=30)


def sale_settlement_declined(subject: Mapping[str, Any]) -> bool:
    """Whether an event's transaction subject is a sale Braintree declined to settle."""
    is_sale = subject.get("type") == braintree.Transaction.Type.Sale
    return bool(is_sale and subject.get("status") == SETTLEMENT_DECLINED)


def settlement_declines_since(*, account: str, since: datetime) -> list[dict[str, Any]]:
    """Sales of `account` declined at settlement, submitted at most `SETTLEMENT_DECLINE_WINDOW`
    before `since`, as event subjects (the shape a notification's transaction is stored in)."""
    from payments.gateways.braintree.webhooks import transaction_subject

    gateway = _sdk(account)
    search = braintree.TransactionSearch

    def declined() -> list[Any]:
        criteria = [
            search.type == braintree.Transaction.Type.Sale,
            search.status.in_list([SETTLEMENT_DECLINED]),
            search.submitted_for_settlement_at >= since - SETTLEMENT_DECLINE_WINDOW,
        ]
        return list(gateway.transaction.search(*criteria).items)

    found: list[Any] = call("transaction_search_settlement_declined", declined, mutating=False)
    return [transaction_subject(txn) for txn in found]
