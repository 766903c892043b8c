"""Banking errors with stable codes and HTTP statuses, rendered by config.exceptions.

The Plaid gateway translates every SDK error into one of these at the boundary; services,
views and API classes only ever see these. Messages never quote a token or an account number.
"""

from __future__ import annotations

from config.exceptions import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
)


class BankingError(ApplicationError):
    """Base for bank-linking failures a client can act on."""


class InvalidBankingRequestError(BankingError):
    status_code = 400
    code = "parameter_invalid"


class BankLinkSessionUnavailableError(BankingError):
    """The link session is expired, finished or cancelled."""

    status_code = 410
    code = "bank_link_session_unavailable"
    default_message = "This bank-link session is no longer available."


class BankAccountNotFoundError(NotFoundError):
    default_message = "No such bank account."


class BankAccountNotVerifiedError(ConflictError):
    """Money may only move from an account Plaid reports as verified."""

    code = "bank_account_not_verified"
    default_message = "The bank account is not verified."


class DuplicateBankAccountError(ConflictError):
    code = "bank_account_duplicate"
    default_message = "This bank account is already linked."


class PlaidRequestError(BankingError):
    """Plaid refused the request as invalid (a bad public token, a wrong code, ...)."""

    status_code = 400
    code = "plaid_invalid_request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        plaid_error_type: str = "",
        plaid_error_code: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(message, code=code)
        self.plaid_error_type = plaid_error_type
        self.plaid_error_code = plaid_error_code
        self.request_id = request_id


class PlaidItemLoginRequiredError(PlaidRequestError):
    """The item's login is no longer valid: the customer must reconnect in update mode."""

    status_code = 409
    code = "item_login_required"
    default_message = "The bank connection needs the customer to sign in again."


class PlaidMicrodepositCodeError(PlaidRequestError):
    """A wrong micro-deposit code, or too many attempts."""

    status_code = 422
    code = "microdeposit_code_invalid"
    default_message = "The code did not match."


class PlaidAuthenticationError(BankingError):
    """Our Plaid client id or secret was refused: an operator problem, never the caller's."""

    status_code = 503
    error_type = "api_error"
    code = "plaid_not_configured"
    default_message = "Bank linking is not available right now."


class PlaidUnavailableError(ServiceUnavailableError):
    """Plaid cannot be reached, is failing, or its circuit breaker is open; retry later."""

    code = "plaid_unavailable"
    default_message = "The bank-linking provider is unavailable; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        # Known only when the breaker refused: then it is when the next probe is let through.
        self.retry_after = max(1, int(retry_after)) if retry_after is not None else None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        super().__init__(message, headers=headers)


class VaultError(BankingError):
    """A secret could not be sealed or opened (wrong key, wrong row, tampered data)."""

    status_code = 500
    error_type = "api_error"
    code = "vault_error"
    default_message = "A stored secret could not be read."


class VaultKeyError(VaultError):
    """The key ring or KMS configuration cannot open or seal this secret."""

    code = "vault_key_error"


__all__ = [
    "BankAccountNotFoundError",
    "BankAccountNotVerifiedError",
    "BankLinkSessionUnavailableError",
    "BankingError",
    "DuplicateBankAccountError",
    "InvalidBankingRequestError",
    "PlaidAuthenticationError",
    "PlaidItemLoginRequiredError",
    "PlaidMicrodepositCodeError",
    "PlaidRequestError",
    "PlaidUnavailableError",
    "VaultError",
    "VaultKeyError",
]
