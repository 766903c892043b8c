"""Public ids: prefixed, 24 characters of [A-Za-z0-9], every character equally likely."""

from __future__ import annotations

import re
from collections import Counter

from config.ids import new_public_id


def test_an_id_is_its_prefix_and_24_alphanumerics() -> None:
    assert re.fullmatch(r"evt_[A-Za-z0-9]{24}", new_public_id("evt"))
    assert re.fullmatch(r"pay_[A-Za-z0-9]{8}", new_public_id("pay", length=8))


def test_ids_do_not_repeat() -> None:
    ids = {new_public_id("x") for _ in range(10_000)}
    assert len(ids) == 10_000


def test_every_character_is_equally_likely() -> None:
    counts = Counter("".join(new_public_id("x")[2:] for _ in range(5_000)))
    assert len(counts) == 62
    expected = 5_000 * 24 / 62
    # Chi-square over 61 degrees of freedom; 120 is beyond its 99.999th percentile, while a
    # `byte % 62` mapping (the first 8 characters twice as likely) scores in the thousands.
    chi_square = sum((count - expected) ** 2 / expected for count in counts.values())
    assert chi_square < 120, chi_square
