"""Stripe's documented test cards, tokens and PaymentMethod ids, and how each one behaves.

The sandbox never keeps a card number: a PaymentMethod remembers only brand, last 4, expiry, a
fingerprint and the behaviour its test number stands for.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str  # error code (card_declined, expired_card, ...)
    decline_code: str
    message: str


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    # succeed | decline | three_d_secure | dispute | processing
    behaviour: str = "succeed"
    decline: Decline | None = None
    # Stripe's 4000000000000077: the charge's funds skip the pending balance
    bypass_pending: bool = False


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.")
INCORRECT_CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
PROCESSING = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again.",
)
LOST = Decline("card_declined", "lost_card", "Your card was declined.")
STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.")
AUTH_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)

_CARDS = [
    TestCard("4242424242424242", "visa"),
    TestCard("4000056655665556", "visa", funding="debit"),
    TestCard("5555555555554444", "mastercard"),
    TestCard("2223003122003222", "mastercard"),
    TestCard("5200828282828210", "mastercard", funding="debit"),
    TestCard("378282246310005", "amex"),
    TestCard("6011111111111117", "discover"),
    TestCard("4000000000000077", "visa", bypass_pending=True),
    TestCard("4000000000000002", "visa", behaviour="decline", decline=GENERIC),
    TestCard("4000000000009995", "visa", behaviour="decline", decline=INSUFFICIENT),
    TestCard("4000000000000069", "visa", behaviour="decline", decline=EXPIRED),
    TestCard("4000000000000127", "visa", behaviour="decline", decline=INCORRECT_CVC),
    TestCard("4000000000000119", "visa", behaviour="decline", decline=PROCESSING),
    TestCard("4000000000009987", "visa", behaviour="decline", decline=LOST),
    TestCard("4000000000009979", "visa", behaviour="decline", decline=STOLEN),
    TestCard("4000002500003155", "visa", behaviour="three_d_secure"),
    TestCard("4000002760003184", "visa", behaviour="three_d_secure"),
    TestCard("4000000000003220", "visa", behaviour="three_d_secure"),
    TestCard("4000000000000259", "visa", behaviour="dispute"),
]
CARDS_BY_NUMBER = {card.number: card for card in _CARDS}


def _card(number: str) -> TestCard:
    return CARDS_BY_NUMBER[number]


# Test PaymentMethod ids and card tokens (https://docs.stripe.com/testing).
_ALIASES = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "bypassPending": "4000000000000077",
    "chargeDeclined": "4000000000000002",
    "visa_chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "authenticationRequired": "4000002760003184",
    "authenticationRequiredOnSetup": "4000002500003155",
    "threeDSecure2Required": "4000000000003220",
    "threeDSecureRequired": "4000000000003220",
    "createDispute": "4000000000000259",
}
# The one behaviour Stripe has no card number for: a card payment stuck in `processing` until
# a test settles it through the control API. Its number is not a real test card on purpose.
PROCESSING_CARD = TestCard("0000000000000000", "visa", behaviour="processing")
TEST_PAYMENT_METHODS = {f"pm_card_{name}": _card(number) for name, number in _ALIASES.items()}
TEST_PAYMENT_METHODS["pm_card_sandbox_processing"] = PROCESSING_CARD
TEST_TOKENS = {f"tok_{name}": _card(number) for name, number in _ALIASES.items()}
# "Default" exp for cards created from ids and tokens, like Stripe's fixtures.
TEST_EXP_MONTH = 12


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def fingerprint(number: str) -> str:
    """Stable per number like Stripe's, so duplicates can be spotted without keeping the number."""
    return hmac.new(b"ledgerline-sandbox", number.encode(), hashlib.sha256).hexdigest()[:16]


# PaymentMethods remember their test card by fingerprint, so no number sits in the state file.
CARDS_BY_FINGERPRINT = {fingerprint(card.number): card for card in [*_CARDS, PROCESSING_CARD]}
