"""The one card-number detector: what it finds, what it leaves alone, and how it masks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.card_numbers import (
    MASK,
    card_number_lengths_in,
    contains_card_number,
    find_card_numbers,
    luhn_valid,
    mask_card_numbers,
    mask_card_numbers_in,
)

VISA = "4242424242424242"
# Luhn-valid, 13 and 17 digits, but starting with 1 like every current Unix ms / 10 ns stamp.
TIMESTAMP_MS = "1732183456786"
TIMESTAMP_LONG = "17321834567890007"


def _lengths(text: str) -> list[int]:
    return [match.digits for match in find_card_numbers(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VISA, [16]),
        ("4242 4242 4242 4242", [16]),
        ("4242-4242-4242-4242", [16]),
        ("x4242424242424242y", [16]),
        ("4242 4242 4242 4242 12/34", [16]),
        ("card 4000 0566 5566 5556, exp 12/34", [16]),
        ("3782 822463 10005", [15]),
        ("6011111111111117", [16]),
        ("5555 5555 5555 4444", [16]),
        ("4917610000000000003", [19]),
        ("4242424242424241", []),
        (VISA + "1234", []),
        (TIMESTAMP_MS, []),
        (TIMESTAMP_LONG, []),
        ("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6", []),
        ("4242  4242  4242  4242", [16]),
        ("4242 - 4242 - 4242 - 4242", [16]),
        ("4242    4242    4242    4242", []),
        ("", []),
        # A SHA-256 hex digest that happens to hold a Luhn-valid run is a hash, not a card.
        ("9f86d0" + VISA + "a" * 42, []),
        ("sha256=ab" + VISA + "cd", []),
        ("card:zz" + VISA + "zz", [16]),
        ("req_fd" + "4242424242424242"[:14] + "e8", []),
        ("cd36b690-0211-4727-87d8-eb5eefbcee93", []),
        ("card x-4242-4242-4242-4242-y", [16]),
        # Real cards the earlier first-digit rule (2-6 only) let through: UATP (1, 15 digits),
        # UnionPay / RuPay (8), Troy (9).
        ("UATP 122000000000003", [15]),
        ("8171999927660000", [16]),
        ("9792131111111114", [16]),
        # Glued to an ordinary word, not a hex digest: still a card.
        ("ref4012888888881881", [16]),
        # Two cards in one run of digit groups are two findings.
        (f"{VISA} {VISA}", [16, 16]),
    ],
)
def test_candidates(text: str, expected: list[int]) -> None:
    assert _lengths(text) == expected


def test_masking_replaces_only_the_card_number() -> None:
    assert mask_card_numbers("paid 5555 5555 5555 4444 on 12/34") == f"paid {MASK} on 12/34"
    assert mask_card_numbers(f"{VISA} and {VISA}") == f"{MASK} and {MASK}"
    assert mask_card_numbers("order 1732183456786") == "order 1732183456786"


def test_json_values_are_masked_in_strings_keys_and_numbers() -> None:
    """What a processor echoes back: nested strings, keys and JSON numbers are masked; other
    values keep their type."""
    payload = {
        "data": {"object": {"description": f"card {VISA}", VISA: [int(VISA), True, 1.5, None]}},
        "amount": 1200,
        "created": 1732183456,
    }
    masked = mask_card_numbers_in(payload)
    assert card_number_lengths_in(masked) == []
    assert masked["data"]["object"]["description"] == f"card {MASK}"
    assert masked["data"]["object"][MASK] == [MASK, True, 1.5, None]
    assert (masked["amount"], masked["created"]) == (1200, 1732183456)
    assert card_number_lengths_in(payload) == [16, 16, 16]


@pytest.mark.parametrize("number", [float(VISA), float("4.012888888881881e15")])
def test_a_json_float_that_writes_as_a_card_number_is_masked(number: float) -> None:
    """A JSON number with a fraction or an exponent that is a card number's value is stored
    (and read back by pan_scan) as the card's digits: it is masked like an integer."""
    masked = mask_card_numbers_in({"amount": number, "rate": 1.5})
    assert masked == {"amount": MASK, "rate": 1.5}
    assert card_number_lengths_in(masked) == []


def test_a_payload_without_card_numbers_is_returned_as_it_is() -> None:
    """The common case costs one scan of the JSON text: phone numbers, timestamps and ids are
    not cards, and nothing is copied."""
    payload = {"phone": "+44 20 7946 0958", "created_ms": 1732183456786, "id": "pi_3Qabc0123"}
    assert mask_card_numbers_in(payload) is payload


@pytest.mark.parametrize("before", ["\n", "\b", '"', "\\", "\x01", "\t"])
def test_a_card_after_a_json_escaped_character_is_masked(before: str) -> None:
    """In JSON text these characters become escapes ending in a letter (\\b, \\t, \\u0001);
    the card after one is still found, as it is in the string itself."""
    masked = mask_card_numbers_in({"k": [f"{before}4242 4242 4242 4242", f"{before}{VISA}"]})
    assert masked == {"k": [f"{before}{MASK}", f"{before}{MASK}"]}


def test_deeply_nested_json_is_masked_without_recursion() -> None:
    deep: object = VISA
    for _ in range(5000):
        deep = [deep]
    masked = mask_card_numbers_in(deep)
    for _ in range(5000):
        masked = masked[0]
    assert masked == MASK


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


_pans = st.builds(
    lambda first, rest: _luhn_complete(first + rest),
    st.sampled_from("23456789"),
    st.integers(min_value=11, max_value=17).flatmap(
        lambda size: st.text("0123456789", min_size=size, max_size=size)
    ),
)
_words = st.text(st.characters(blacklist_categories=["Nd", "Cs"]), max_size=20)


@given(pan=_pans, before=_words, after=_words, separator=st.sampled_from(["", " ", "-"]))
def test_every_luhn_valid_card_number_in_text_is_found_and_masked(
    pan: str, before: str, after: str, separator: str
) -> None:
    """Any Luhn-valid 13-19 digit card number, written plain or in groups of four, between
    any text without digits, is found, and masking leaves none of its digits in order."""
    grouped = separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    text = f"{before} {grouped} {after}"
    assert contains_card_number(text)
    masked = mask_card_numbers(text)
    assert pan not in "".join(char for char in masked if char.isdigit())
    assert json.dumps(mask_card_numbers_in({"v": text})).count(MASK) == 1
