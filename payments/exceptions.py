"""Payment errors with stable codes and HTTP statuses, rendered by config.exceptions.

The gateway translates every processor SDK error into one of these at the boundary; services,
views and API classes only ever see these.
"""

from __future__ import annotations

from config.exceptions import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
)


class PaymentError(ApplicationError):
    """Base for payment failures a client can act on."""


class InvalidPaymentRequestError(PaymentError):
    status_code = 400
    code = "parameter_invalid"


class CardDeclinedError(PaymentError):
    """The issuer or the processor declined the card: a business outcome, not an outage."""

    status_code = 402
    error_type = "card_error"
    code = "card_declined"
    default_message = "The card was declined."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        payment_public_id: str | None = None,
        processor_object_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.decline_code = decline_code or ""
        self.payment_public_id = payment_public_id
        # The processor's intent id from the error body, so the row still mirrors its intent.
        self.processor_object_id = processor_object_id


class ProcessorRequestError(PaymentError):
    """The processor refused the request as invalid (not a card decline)."""

    status_code = 400
    code = "processor_invalid_request"


class ProcessorAuthenticationError(PaymentError):
    """Our platform key was refused: an operator problem, never the caller's."""

    status_code = 503
    error_type = "api_error"
    code = "processor_authentication_failed"
    default_message = "The payment processor refused our credentials; the team has been told."


class ProcessorUnavailableError(ServiceUnavailableError):
    """The processor cannot be reached or the circuit breaker is open; safe to retry later."""

    code = "processor_unavailable"
    default_message = "The payment processor is unavailable; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class ProcessorOutcomeUnknownError(ServiceUnavailableError):
    """A call may have taken effect but we never saw the answer: reconcile, never repeat blindly."""

    code = "processor_outcome_unknown"
    default_message = (
        "The payment processor did not answer in time. Retry with the same Idempotency-Key; "
        "the payment is being reconciled and will not be charged twice."
    )

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class ProcessorConflictError(ConflictError):
    """The processor is still handling the same idempotent request (409 from the processor)."""

    code = "processor_request_in_progress"
    default_message = "The same request is still being processed; retry shortly."


class PaymentStateError(PaymentError):
    """The operation is not possible in the payment's current state."""

    status_code = 409
    code = "payment_state_invalid"


class RefundAmountError(PaymentError):
    status_code = 400
    code = "refund_amount_too_large"


class MerchantNotReadyError(PaymentError):
    status_code = 409
    code = "account_not_ready"
    default_message = "This merchant's processor account cannot accept charges yet."


class PaymentLinkUnavailableError(PaymentError):
    status_code = 409
    code = "payment_link_unavailable"
    default_message = "This payment link is no longer available."


class PaymentNotFoundError(NotFoundError):
    pass


class ChargeNotSettledError(PaymentError):
    """The processor refunds a charge only once it has settled (Braintree): until then the
    charge can be canceled (voided) instead."""

    status_code = 409
    code = "charge_not_settled"
    default_message = (
        "The payment has not settled at the processor yet, so it cannot be refunded; cancel it "
        "instead, or refund it once it has settled."
    )


class ProcessorKeysInvalidError(PaymentError):
    """The processor refused the API keys a merchant entered (checked before they are stored)."""

    status_code = 400
    code = "processor_keys_invalid"
    default_message = (
        "The payment processor refused these keys: check the merchant id, public key and "
        "private key."
    )


class ProcessorAccountTakenError(ConflictError):
    """Another Ledgerline merchant has already connected this processor account."""

    code = "processor_account_taken"
    default_message = "This processor account is already connected to another merchant."
