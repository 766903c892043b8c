"""Braintree's documented sandbox test data: card numbers, static nonces, amounts that decline.

A card is kept as brand, BIN, last 4 and expiry, never its number; its test behaviour (decline,
dispute, 3-D Secure challenge) is decided once, from the number, and kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

# (card type as Braintree names it, behaviour) by test number.
TEST_CARDS: dict[str, tuple[str, str]] = {
    "4111111111111111": ("Visa", "approve"),
    "4005519200000004": ("Visa", "approve"),
    "4009348888881881": ("Visa", "approve"),
    "4012000033330026": ("Visa", "approve"),
    "4012000077777777": ("Visa", "approve"),
    "4012888888881881": ("Visa", "approve"),
    "4217651111111119": ("Visa", "approve"),
    "4500600000000061": ("Visa", "approve"),
    "5555555555554444": ("MasterCard", "approve"),
    "2223000048400011": ("MasterCard", "approve"),
    "378282246310005": ("American Express", "approve"),
    "371449635398431": ("American Express", "approve"),
    "6011111111111117": ("Discover", "approve"),
    "3530111333300000": ("JCB", "approve"),
    "4000111111111115": ("Visa", "processor_declined"),
    "5105105105105100": ("MasterCard", "processor_declined"),
    "378734493671000": ("American Express", "processor_declined"),
    "6011000990139424": ("Discover", "processor_declined"),
    "3566002020360505": ("JCB", "failed"),
    "4023898493988028": ("Visa", "dispute"),
    # 3-D Secure 2 test cards: frictionless success, challenge (passed or failed on the page).
    "4000000000001000": ("Visa", "3ds_frictionless"),
    "4000000000001091": ("Visa", "3ds_challenge"),
    "4000000000001109": ("Visa", "3ds_challenge_fail"),
}


@dataclass(frozen=True)
class Card:
    card_type: str
    bin: str
    last_4: str
    expiration_month: str
    expiration_year: str
    behaviour: str
    three_d_secure: str | None = None  # None, "authenticated" or "failed"

    def to_json(self) -> dict[str, str | None]:
        return {
            "card_type": self.card_type,
            "bin": self.bin,
            "last_4": self.last_4,
            "expiration_month": self.expiration_month,
            "expiration_year": self.expiration_year,
            "behaviour": self.behaviour,
            "three_d_secure": self.three_d_secure,
        }

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> Card:
        return cls(
            card_type=str(data["card_type"]),
            bin=str(data["bin"]),
            last_4=str(data["last_4"]),
            expiration_month=str(data["expiration_month"]),
            expiration_year=str(data["expiration_year"]),
            behaviour=str(data["behaviour"]),
            three_d_secure=data.get("three_d_secure"),
        )


def _card(number: str, *, three_d_secure: str | None = None) -> Card:
    card_type, behaviour = TEST_CARDS[number]
    return Card(card_type, number[:6], number[-4:], "12", "2030", behaviour, three_d_secure)


# Braintree's static test nonces (developer docs, "Testing: nonces").
STATIC_NONCES: dict[str, Card] = {
    "fake-valid-nonce": _card("4111111111111111"),
    "fake-valid-visa-nonce": _card("4111111111111111"),
    "fake-valid-mastercard-nonce": _card("5555555555554444"),
    "fake-valid-amex-nonce": _card("378282246310005"),
    "fake-valid-discover-nonce": _card("6011111111111117"),
    "fake-valid-jcb-nonce": _card("3530111333300000"),
    "fake-valid-debit-nonce": _card("4012000033330026"),
    "fake-processor-declined-visa-nonce": _card("4000111111111115"),
    "fake-processor-declined-mastercard-nonce": _card("5105105105105100"),
    "fake-processor-declined-amex-nonce": _card("378734493671000"),
    "fake-processor-declined-discover-nonce": _card("6011000990139424"),
    "fake-processor-failure-jcb-nonce": _card("3566002020360505"),
    "fake-gateway-rejected-fraud-nonce": Card(
        "Visa", "401288", "1881", "12", "2030", "gateway_rejected_fraud"
    ),
    "fake-three-d-secure-visa-full-authentication-nonce": _card(
        "4000000000001091", three_d_secure="authenticated"
    ),
    "fake-three-d-secure-visa-failed-authentication-nonce": _card(
        "4000000000001109", three_d_secure="failed"
    ),
}
CONSUMED_NONCE = "fake-consumed-nonce"
LUHN_INVALID_NONCE = "fake-luhn-invalid-nonce"


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return checksum % 10 == 0


def card_from_number(number: str, month: str, year: str) -> Card | str:
    """The Card for a test number, or why it is refused: "invalid" or "not_test"."""
    if not (number.isdigit() and 12 <= len(number) <= 19) or not luhn_valid(number):
        return "invalid"
    if number not in TEST_CARDS:
        return "not_test"
    card_type, behaviour = TEST_CARDS[number]
    return Card(card_type, number[:6], number[-4:], month, year, behaviour)


# Processor responses by code: (text, response type). Braintree's sandbox declines an amount of
# 2000.00-2999.99 with the code of its whole-dollar part, 3000.00-3000.99 fails with 3000.
RESPONSES: dict[str, tuple[str, str]] = {
    "1000": ("Approved", "approved"),
    "2000": ("Do Not Honor", "soft_declined"),
    "2001": ("Insufficient Funds", "soft_declined"),
    "2002": ("Limit Exceeded", "soft_declined"),
    "2003": ("Cardholder's Activity Limit Exceeded", "soft_declined"),
    "2004": ("Expired Card", "hard_declined"),
    "2005": ("Invalid Credit Card Number", "hard_declined"),
    "2006": ("Invalid Expiration Date", "hard_declined"),
    "2007": ("No Account", "hard_declined"),
    "2010": ("Card Issuer Declined CVV", "soft_declined"),
    "2012": ("Processor Declined - Possible Lost Card", "hard_declined"),
    "2013": ("Processor Declined - Possible Stolen Card", "hard_declined"),
    "2014": ("Processor Declined - Fraud Suspected", "hard_declined"),
    "2015": ("Transaction Not Allowed", "hard_declined"),
    "2038": ("Processor Declined", "soft_declined"),
    "2044": ("Declined - Call Issuer", "soft_declined"),
    "2046": ("Declined", "soft_declined"),
    "3000": ("Processor Network Unavailable - Try Again", "soft_declined"),
}


def response(code: str) -> tuple[str, str]:
    return RESPONSES.get(code, ("Processor Declined", "soft_declined"))


def amount_outcome(cents: int) -> tuple[str, str]:
    """(status, processor response code) Braintree's sandbox gives an authorization amount."""
    if 200_000 <= cents < 300_000:
        return "processor_declined", str(cents // 100)
    if 300_000 <= cents < 300_100:
        return "failed", "3000"
    return "authorized", "1000"


# Amounts that change what settlement does (Braintree's sandbox: 4001.00 is declined at
# settlement, 4002.00 stays settlement_pending).
SETTLEMENT_DECLINED_CENTS = 400_100
SETTLEMENT_PENDING_CENTS = 400_200
