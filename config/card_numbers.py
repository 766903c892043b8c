"""The one card-number (PAN) detector: input refusal, log masking, stored-echo masking, pan_scan.

A candidate is a run of 13-19 digits, contiguous or in groups separated by spaces or dashes
(as people and forms write card numbers), that passes the Luhn check and starts as a payment
card can. One in ten random digit strings passes Luhn on its own, so two rules keep ordinary
numbers out without letting a card through:

- First digit: cards start with 2-9 (Mastercard 2/5, Amex and JCB 3, Visa 4, Discover and
  UnionPay 6, fleet cards 7, UnionPay / RuPay 8, Troy 9). A run starting with 1 is a card only
  when it has 15 digits (UATP); 13-digit millisecond, 16-digit microsecond and 19-digit
  nanosecond Unix timestamps all start with 1 and are not reported. Nothing starts with 0.
- Hex words: a digit run inside a word of at least 16 characters that are all hex digits (a
  SHA digest, a fingerprint, the 16-character request id on every log line) is part of that
  word. A word with any other letter ("ref4242...", "zz4242...zz") is not a hex word, so a card
  number glued to ordinary text is still found.

Findings carry positions and a digit count, never the digits, so callers can mask or name a
place without repeating the number. Pure Python: config is the lowest layer, and the logging
filter, the validators, the processor gateways and `pan_scan` all call this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MIN_DIGITS = 13
MAX_DIGITS = 19
# What a card number is replaced with wherever it is masked (logs, stored processor echoes).
MASK = "[card-number-redacted]"
# Card-number groups are 4 digits (Amex and Diners use 4-6-5 / 4-6-4); allowing 3-6 per group
# still matches every layout while long space-separated number lists do not chain into PANs.
_MIN_GROUP = 3
_MAX_GROUP = 6
_NETWORK_FIRST_DIGITS = frozenset("23456789")
_UATP_FIRST_DIGIT, _UATP_DIGITS = "1", 15
# Maximal runs of digit groups joined by spaces or dashes (up to three: "4242 - 4242").
_RUN_RE = re.compile(r"\d+(?:[ -]{1,3}\d+)*")
# A stretch of digits, spaces and dashes long enough to hold 13 digits: found in one C-level
# scan, so text without one (nearly all text) costs no Python work per digit run.
_SPAN_RE = re.compile(r"\d[\d -]{11,}\d")
_GROUP_RE = re.compile(r"\d+")
_JSON_ESCAPE_RE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")
_HEX_WORD_MIN = 16
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class CardNumberMatch:
    """Where a possible card number is in a text: `text[start:end]`, and its digit count."""

    start: int
    end: int
    digits: int


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    length = len(digits)
    if not MIN_DIGITS <= length <= MAX_DIGITS:
        return False
    first = digits[0]
    if first not in _NETWORK_FIRST_DIGITS and not (
        first == _UATP_FIRST_DIGIT and length == _UATP_DIGITS
    ):
        return False
    return luhn_valid(digits)


def _int_is_card_number(value: int) -> bool:
    return 10 ** (MIN_DIGITS - 1) <= value < 10**MAX_DIGITS and _is_card_number(str(value))


def _windows(
    groups: list[re.Match[str]], start: int, *, glued_left: bool, glued_right: bool
) -> Iterator[int]:
    """Last group indexes of the 13-19 digit windows of whole consecutive groups from `start`.

    A group touching a letter at the run's edge is a fragment of some token (as in the UUID
    `cd36b690-0211-4727-87d8-...`), so it never chains with other groups.
    """
    last = len(groups) - 1
    total = 0
    for end in range(start, len(groups)):
        size = len(groups[end].group())
        total += size
        if total > MAX_DIGITS:
            return
        if end > start and (
            not (_MIN_GROUP <= len(groups[end - 1].group()) <= _MAX_GROUP and size <= _MAX_GROUP)
            or (glued_left and start == 0)
            or (glued_right and end == last)
        ):
            # Only card-like groups chain; a long contiguous group stands alone.
            return
        if total >= MIN_DIGITS:
            yield end


def _inside_hex_word(text: str, start: int, end: int) -> bool:
    """True when `text[start:end]` lies in a word of 16+ characters that are all hex digits."""
    if not ((start > 0 and text[start - 1] in _HEX) or (end < len(text) and text[end] in _HEX)):
        return False
    left, right = start, end
    while left > 0 and text[left - 1].isalnum():
        left -= 1
    while right < len(text) and text[right].isalnum():
        right += 1
    word = text[left:right]
    return len(word) >= _HEX_WORD_MIN and all(char in _HEX for char in word)


def find_card_numbers(text: str) -> list[CardNumberMatch]:
    """The possible card numbers in `text`, in order (a run may hold several)."""
    found: list[CardNumberMatch] = []
    for span in _SPAN_RE.finditer(text):
        found.extend(_find_in_span(text, span.start(), span.end()))
    return found


def _find_in_span(text: str, span_start: int, span_end: int) -> Iterator[CardNumberMatch]:
    for match in _RUN_RE.finditer(text, span_start, span_end):
        start, end = match.start(), match.end()
        if end - start < MIN_DIGITS or _inside_hex_word(text, start, end):
            continue
        groups = list(_GROUP_RE.finditer(match.group()))
        glued_left = start > 0 and text[start - 1].isalnum()
        glued_right = end < len(text) and text[end].isalnum()
        first = 0
        while first < len(groups):
            windows = _windows(groups, first, glued_left=glued_left, glued_right=glued_right)
            last = next(
                (
                    last
                    for last in windows
                    if _is_card_number("".join(g.group() for g in groups[first : last + 1]))
                ),
                None,
            )
            if last is None:
                first += 1
                continue
            digits = sum(len(group.group()) for group in groups[first : last + 1])
            yield CardNumberMatch(
                start=start + groups[first].start(),
                end=start + groups[last].end(),
                digits=digits,
            )
            first = last + 1


def contains_card_number(text: str) -> bool:
    return bool(find_card_numbers(text))


def mask_card_numbers(text: str) -> str:
    """`text` with every possible card number replaced by `MASK`."""
    matches = find_card_numbers(text)
    if not matches:
        return text
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(MASK)
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


def mask_card_numbers_in(value: Any) -> Any:
    """A JSON-like value (what a processor sent) with card numbers masked in every
    string, dict key and number.

    Most payloads hold no card number: scanning their JSON text once proves that, and the
    value itself is returned (a walk over every string costs ten times more, and billing phone
    numbers make digit stretches common). The walk is iterative, not recursive: a deeply nested
    payload the JSON parser accepted must not fail here.
    """
    try:
        serialized = json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        serialized = None  # too deep for the C encoder: walk it
    # Escapes become spaces, so "\n4242..." is not read as a word glued to the digits; the
    # text then finds a card wherever any single string, key or number holds one.
    if serialized is not None:
        if "\\" in serialized:
            serialized = _JSON_ESCAPE_RE.sub("  ", serialized)
        if not find_card_numbers(serialized):
            return value
    root: list[Any] = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        container, key = pending.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = mask_card_numbers(item)
        elif isinstance(item, dict):
            copy = {
                (mask_card_numbers(name) if isinstance(name, str) else name): child
                for name, child in item.items()
            }
            container[key] = copy
            pending.extend((copy, name) for name in copy)
        elif isinstance(item, list | tuple):
            items = list(item)
            container[key] = items
            pending.extend((items, index) for index in range(len(items)))
        elif isinstance(item, int) and not isinstance(item, bool) and _int_is_card_number(item):
            container[key] = MASK
        elif isinstance(item, float) and item.is_integer() and _int_is_card_number(int(item)):
            # 4.012888888881881e15 is written back (json, PostgreSQL's jsonb) as its digits.
            container[key] = MASK
    return root[0]


def card_number_lengths_in(value: Any) -> list[int]:
    """The digit counts of the possible card numbers in a stored value (text or JSON)."""
    if value is None:
        return []
    if not isinstance(value, str):
        # JSON values: numbers and nested strings are scanned in their serialized form.
        value = json.dumps(value, ensure_ascii=False, default=str)
    return [match.digits for match in find_card_numbers(value)]
