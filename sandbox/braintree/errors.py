"""Braintree's error answers: validation errors in `api-error-response` (422), HTTP statuses.

Codes are Braintree's (`braintree.ErrorCodes` in the SDK), so a gateway written against the
sandbox checks the same numbers as against Braintree.
"""

from __future__ import annotations

from typing import Any

from sandbox.braintree.xmlwire import Many, dump

# Braintree's validation error codes used by the stand-in (names as in the SDK's ErrorCodes).
AMOUNT_CANNOT_BE_NEGATIVE = "81501"
AMOUNT_IS_REQUIRED = "81502"
AMOUNT_IS_INVALID = "81503"
AMOUNT_IS_TOO_LARGE = "81528"
AMOUNT_MUST_BE_GREATER_THAN_ZERO = "81531"
CANNOT_BE_VOIDED = "91504"
CANNOT_REFUND_CREDIT = "91505"
CANNOT_REFUND_UNLESS_SETTLED = "91506"
CANNOT_SUBMIT_FOR_SETTLEMENT = "91507"
SALE_CUSTOMER_ID_IS_INVALID = "91510"
HAS_ALREADY_BEEN_REFUNDED = "91512"
MERCHANT_ACCOUNT_ID_IS_INVALID = "91513"
ORDER_ID_IS_TOO_LONG = "91501"
REFUND_AMOUNT_IS_TOO_LARGE = "91521"
SETTLEMENT_AMOUNT_IS_TOO_LARGE = "91522"
PAYMENT_METHOD_NONCE_CONSUMED = "91564"
PAYMENT_METHOD_NONCE_UNKNOWN = "91565"
PAYMENT_METHOD_TOKEN_IS_INVALID = "91518"  # noqa: S105 (an error code, not a secret)
PAYMENT_METHOD_CONFLICT = "91515"
PAYMENT_METHOD_DOES_NOT_BELONG_TO_CUSTOMER = "91516"
THREE_D_SECURE_AUTHENTICATION_FAILED = "81571"
CREDIT_CARD_IS_REQUIRED = "91508"
TYPE_IS_INVALID = "91523"
PROCESSOR_DOES_NOT_SUPPORT_PARTIAL_SETTLEMENT = "915102"
CANNOT_SIMULATE_SETTLEMENT = "91575"
CARD_NUMBER_IS_INVALID = "81715"
CARD_NUMBER_MUST_BE_TEST_NUMBER = "81717"
CARD_EXPIRATION_DATE_IS_INVALID = "81710"
CUSTOMER_COMPANY_IS_TOO_LONG = "81601"
CUSTOMER_EMAIL_IS_INVALID = "81604"
CUSTOMER_EMAIL_IS_TOO_LONG = "81605"
CUSTOMER_FIRST_NAME_IS_TOO_LONG = "81608"
CUSTOMER_LAST_NAME_IS_TOO_LONG = "81613"
CUSTOMER_PHONE_IS_TOO_LONG = "81614"
CUSTOMER_WEBSITE_IS_TOO_LONG = "81615"
CUSTOMER_ID_IS_IN_USE = "91609"
CUSTOMER_ID_IS_INVALID = "91610"
CUSTOMER_ID_IS_NOT_ALLOWED = "91611"
CUSTOMER_ID_IS_TOO_LONG = "91612"
DISPUTE_CAN_ONLY_ADD_EVIDENCE_TO_OPEN = "95701"
DISPUTE_CAN_ONLY_ACCEPT_OPEN = "95704"
DISPUTE_CAN_ONLY_FINALIZE_OPEN = "95705"
DISPUTE_EVIDENCE_CONTENT_TOO_LONG = "95708"
DISPUTE_CAN_ONLY_ADD_EVIDENCE_DOCUMENT = "95703"
DISPUTE_EVIDENCE_CATEGORY_INVALID = "95706"
DISPUTE_EVIDENCE_CATEGORY_DUPLICATE = "95714"
DISPUTE_EVIDENCE_CATEGORY_TEXT_ONLY = "95711"
DOCUMENT_UPLOAD_KIND_IS_INVALID = "84901"
DOCUMENT_UPLOAD_FILE_IS_TOO_LARGE = "84902"
DOCUMENT_UPLOAD_FILE_TYPE_IS_INVALID = "84903"
DOCUMENT_UPLOAD_FILE_IS_EMPTY = "84906"


class HTTPError(Exception):
    """An answer the SDK turns into an exception by status (401, 403, 404, 429, 500, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return dump("api_error_response", {"message": self.message, "errors": {"errors": []}})


def not_found(kind: str, object_id: str) -> HTTPError:
    return HTTPError(404, f"{kind} with id {object_id!r} not found")


class ValidationError(Exception):
    """A 422 `api-error-response`: errors nested by object path, and maybe a transaction.

    `errors` are `(path, attribute, code, message)`; `path` names the nesting, e.g.
    `("transaction",)` or `("customer", "credit_card")`. A processor decline or gateway
    rejection carries no validation error but the declined `transaction`.
    """

    def __init__(
        self,
        errors: list[tuple[tuple[str, ...], str, str, str]],
        *,
        message: str | None = None,
        transaction: dict[str, Any] | None = None,
    ) -> None:
        self.errors = errors
        self.message = message or "\n".join(error[3] for error in errors)
        super().__init__(self.message)
        self.transaction = transaction

    def document(self) -> dict[str, Any]:
        tree: dict[str, Any] = {"errors": Many("error", [])}
        grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for path, attribute, code, message in self.errors:
            grouped.setdefault(path, []).append(
                {"code": code, "attribute": attribute, "message": message}
            )
        for path, items in grouped.items():
            node = tree
            for part in path:
                node = node.setdefault(part, {"errors": Many("error", [])})
            node["errors"] = Many("error", items)
        answer: dict[str, Any] = {"errors": tree, "message": self.message}
        if self.transaction is not None:
            answer["transaction"] = self.transaction
        return answer


def invalid(path: tuple[str, ...], attribute: str, code: str, message: str) -> ValidationError:
    return ValidationError([(path, attribute, code, message)])
