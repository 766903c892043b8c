"""Payments' writes, and the surface payments publishes to other apps.

Other apps (banking, compliance, inbound's handlers, accounts' demo seeding) import only the
names listed in `__all__` from here, never a submodule or a `_private` name. Banking moves money
only through this surface: an ACH debit is a source banking supplies
(`customer_processor_bank_account_attach` / `customer_processor_bank_setup_create`) plus a
payment payments makes (`payment_create_bank_debit`, resumed by `payment_resume`).

One module per concern:
- `accounts`: the merchant's account at its processor (onboarding, capabilities);
- `customers`: customers and their twins at the processor;
- `bank_setup`: bank accounts at the processor, for ACH debits (no money moves);
- `payments`: create (card, bank debit), confirm, capture, cancel, resume, reconcile;
- `settlement`: a sale the processor declined to settle (succeeded becomes failed, once);
- `sync`: mirroring the processor's state onto payments and refunds (also the entry point of
  the inbound event handlers);
- `refunds`: refund, resume, reconcile;
- `links`: payment links;
- `disputes`: answering a dispute (evidence, or accepting the loss);
- `processors`: connecting a merchant's own Braintree account (keys checked, then sealed);
- `platform_fees`: the platform's fee on a merchant's charges (set by staff, audited).
Every processor call goes through `payments.gateways` (the gateway of the processor that holds
the account or charged the payment); none of these modules knows which processor it is.
"""

from payments.gateways.base import BankSetup, BankSource
from payments.services._common import PROCESSOR_KEY_SAFE_AGE
from payments.services.accounts import (
    chargeable_account,
    merchant_account_refresh,
    merchant_connect_account_ensure,
    processor_account_apply,
)
from payments.services.bank_setup import (
    customer_processor_bank_account_attach,
    customer_processor_bank_setup_create,
    merchant_bank_setup_retrieve,
    merchant_bank_setup_verify,
)
from payments.services.capture import payment_cancel, payment_capture
from payments.services.customers import (
    customer_create,
    customer_processor_ensure,
    customer_update,
)
from payments.services.disputes import OPEN_STATUSES as DISPUTE_OPEN_STATUSES
from payments.services.disputes import (
    dispute_accept,
    dispute_evidence_submit,
    dispute_is_open,
)
from payments.services.links import (
    payment_link_check_open,
    payment_link_create,
    payment_link_deactivate,
)
from payments.services.payments import (
    payment_confirm,
    payment_create,
    payment_create_bank_debit,
    payment_reconcile,
    payment_record_failure,
    payment_resume,
)
from payments.services.platform_fees import (
    PlatformFeeInvalidError,
    PlatformFeeTerms,
    platform_fee_amount,
    platform_fee_set,
    platform_fee_terms,
)
from payments.services.processors import (
    braintree_account_connect,
    processor_credentials_rewrap,
)
from payments.services.refunds import (
    REFUND_REASONS,
    refund_create,
    refund_reconcile,
    refund_resume,
    refund_submit,
    refundable_amount,
)
from payments.services.settlement import payment_settlement_decline
from payments.services.sync import (
    payment_apply_processor_state,
    payment_apply_to_locked,
    payments_for_update,
    refund_apply_processor_state,
)

__all__ = [
    "DISPUTE_OPEN_STATUSES",
    "PROCESSOR_KEY_SAFE_AGE",
    "REFUND_REASONS",
    "BankSetup",
    "BankSource",
    "PlatformFeeInvalidError",
    "PlatformFeeTerms",
    "braintree_account_connect",
    "chargeable_account",
    "customer_create",
    "customer_processor_bank_account_attach",
    "customer_processor_bank_setup_create",
    "customer_processor_ensure",
    "customer_update",
    "dispute_accept",
    "dispute_evidence_submit",
    "dispute_is_open",
    "merchant_account_refresh",
    "merchant_bank_setup_retrieve",
    "merchant_bank_setup_verify",
    "merchant_connect_account_ensure",
    "payment_apply_processor_state",
    "payment_apply_to_locked",
    "payment_cancel",
    "payment_capture",
    "payment_confirm",
    "payment_create",
    "payment_create_bank_debit",
    "payment_link_check_open",
    "payment_link_create",
    "payment_link_deactivate",
    "payment_reconcile",
    "payment_record_failure",
    "payment_resume",
    "payment_settlement_decline",
    "payments_for_update",
    "platform_fee_amount",
    "platform_fee_set",
    "platform_fee_terms",
    "processor_account_apply",
    "processor_credentials_rewrap",
    "refund_apply_processor_state",
    "refund_create",
    "refund_reconcile",
    "refund_resume",
    "refund_submit",
    "refundable_amount",
]
