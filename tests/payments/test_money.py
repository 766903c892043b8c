"""Money helpers: exponents, minimums, exact parsing, display."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.money import (
    MAXIMUM_AMOUNT,
    MoneyError,
    exponent,
    format_amount,
    parse_major,
    to_major,
    validate_amount,
)


@pytest.mark.parametrize(
    ("currency", "places"), [("usd", 2), ("GBP", 2), ("jpy", 0), ("krw", 0), ("kwd", 3)]
)
def test_exponent_follows_stripe_currency_classes(currency, places):
    assert exponent(currency) == places


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "usd", 1234),
        ("12", "usd", 1200),
        ("0.5", "eur", 50),
        ("500", "jpy", 500),
        ("1,234.50", "gbp", 123450),
        ("1.234", "kwd", 1234),
    ],
)
def test_parse_major_converts_exactly(text, currency, minor):
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.345", "usd"),
        ("5.5", "jpy"),
        ("-1", "usd"),
        ("1e3", "usd"),
        ("NaN", "usd"),
        ("", "usd"),
        ("abc", "usd"),
        ("12.34", "us"),
    ],
)
def test_parse_major_refuses_inexact_or_malformed_input(text, currency):
    with pytest.raises(MoneyError):
        parse_major(text, currency)


def test_validate_amount_applies_minimum_maximum_and_three_decimal_rule():
    validate_amount(50, "usd")
    with pytest.raises(MoneyError, match="at least"):
        validate_amount(49, "usd")
    with pytest.raises(MoneyError):
        validate_amount(0, "jpy")
    with pytest.raises(MoneyError):
        validate_amount(MAXIMUM_AMOUNT + 1, "usd")
    with pytest.raises(MoneyError, match="multiple of 10"):
        validate_amount(1005, "kwd")
    with pytest.raises(MoneyError):
        validate_amount(True, "usd")  # type: ignore[arg-type]


def test_format_amount_uses_the_currency_exponent():
    assert format_amount(123456, "usd") == "$1,234.56"
    assert format_amount(500, "jpy") == "¥500"
    assert format_amount(1234, "kwd") == "1.234 KWD"
    assert format_amount(-250, "eur") == "-€2.50"


@given(
    amount=st.integers(min_value=0, max_value=10**11),
    currency=st.sampled_from(["usd", "jpy", "kwd", "eur", "krw", "bhd"]),
)
def test_parse_of_display_round_trips(amount, currency):
    """Formatting a minor amount as major units and parsing it back is the identity."""
    major = to_major(amount, currency)
    assert isinstance(major, Decimal)
    assert parse_major(f"{major:f}", currency) == amount
