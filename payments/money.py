"""Money as integer minor units + a lower-case ISO 4217 code: exponents, minimums, parsing, display.

Amounts never pass through floats: parsing goes through `Decimal` and refuses anything that is
not an exact number of minor units of the currency.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Stripe's zero-decimal currencies: the amount is already in major units (JPY 500 = 500).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
# Stripe's three-decimal currencies; Stripe requires the last digit to be 0 for these.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# Stripe's documented minimum charge amounts (minor units) for the settlement currencies it
# lists; other currencies fall back to one minor unit and the processor has the final word.
MINIMUM_AMOUNTS: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
# Stripe's upper bound for a single charge: eight digits of minor units.
MAXIMUM_AMOUNT = 99_999_999

CURRENCY_RE = re.compile(r"^[a-z]{3}$")
_MAJOR_RE = re.compile(r"^\d{1,12}(\.\d{1,3})?$")
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "krw": "₩", "inr": "₹"}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented; the message is safe to show."""


def normalize_currency(currency: str) -> str:
    code = currency.strip().lower()
    if not CURRENCY_RE.match(code):
        raise MoneyError("Currency must be a three-letter ISO 4217 code.")
    return code


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit as Stripe counts it."""
    code = normalize_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def minimum_amount(currency: str) -> int:
    return MINIMUM_AMOUNTS.get(normalize_currency(currency), 1)


def validate_amount(amount: int, currency: str) -> None:
    """Raise MoneyError unless `amount` minor units is a chargeable amount in `currency`."""
    code = normalize_currency(currency)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MoneyError("Amount must be an integer number of minor units.")
    if amount <= 0:
        raise MoneyError("Amount must be positive.")
    if amount > MAXIMUM_AMOUNT:
        raise MoneyError(f"Amount must be at most {MAXIMUM_AMOUNT} minor units.")
    minimum = minimum_amount(code)
    if amount < minimum:
        raise MoneyError(f"Amount must be at least {format_amount(minimum, code)}.")
    if code in THREE_DECIMAL_CURRENCIES and amount % 10:
        raise MoneyError(f"Amounts in {code.upper()} must be a multiple of 10 minor units.")


def parse_major(value: str, currency: str) -> int:
    """'12.34' USD -> 1234; '500' JPY -> 500. Exact only: '12.345' USD is refused, not rounded."""
    text = value.strip().replace(",", "")
    if not _MAJOR_RE.match(text):
        raise MoneyError("Enter an amount such as 12.50.")
    try:
        major = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits and a dot
        raise MoneyError("Enter an amount such as 12.50.") from exc
    minor = major.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        places = exponent(currency)
        raise MoneyError(
            f"{currency.upper()} amounts have at most {places} decimal place"
            f"{'' if places == 1 else 's'}."
        )
    return int(minor)


def to_major(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-exponent(currency))


def format_amount(amount: int, currency: str) -> str:
    """Human display: '$12.34', '¥500', '12.340 KWD'. Negative amounts keep their sign."""
    code = normalize_currency(currency)
    places = exponent(code)
    major = to_major(abs(amount), code)
    number = f"{major:,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {code.upper()}"
