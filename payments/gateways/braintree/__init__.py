"""The Braintree gateway: the only package that imports `braintree`.

Services reach `BraintreeGateway` through the registry (`payments.gateways.gateway_named`);
what Braintree alone has (per-merchant keys checked before they are stored, signed
notifications, searches for changed transactions and for settlement declines, disbursements
as payouts) is published here for the Braintree parts of payments: the credentials service,
the webhook view, the event handlers and reconciler.
"""

from payments.gateways.braintree.api import (
    BraintreeGateway,
    charge_from_subject,
    credentials_check,
    refund_from_subject,
    transactions_changed_since,
)
from payments.gateways.braintree.client import Keys, clear_client_cache
from payments.gateways.braintree.money_out import (
    DISBURSEMENT_KINDS,
    Disbursement,
    DisbursementInvalidError,
    disbursed_since,
    disbursement_entries,
    disbursement_from_subject,
)
from payments.gateways.braintree.resilience import breaker_reset, ensure_available
from payments.gateways.braintree.settlement import (
    sale_settlement_declined,
    settlement_declines_since,
)
from payments.gateways.braintree.webhooks import (
    MAX_BODY_BYTES,
    Reason,
    SignatureError,
    VerifiedNotification,
    public_keys_of,
    verify_notification,
)

__all__ = [
    "DISBURSEMENT_KINDS",
    "MAX_BODY_BYTES",
    "BraintreeGateway",
    "Disbursement",
    "DisbursementInvalidError",
    "Keys",
    "Reason",
    "SignatureError",
    "VerifiedNotification",
    "breaker_reset",
    "charge_from_subject",
    "clear_client_cache",
    "credentials_check",
    "disbursed_since",
    "disbursement_entries",
    "disbursement_from_subject",
    "ensure_available",
    "public_keys_of",
    "refund_from_subject",
    "sale_settlement_declined",
    "settlement_declines_since",
    "transactions_changed_since",
    "verify_notification",
]
