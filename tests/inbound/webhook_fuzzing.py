"""Hostile webhook input for the Stripe and Plaid fuzz suites: strategies and the pass mark.

`json_values` is JSON as an encoder writes it, with odd text (NUL, lone surrogates, controls,
astral characters) and numbers of any size; `raw_fragments` is text no encoder writes but a
sender can (NaN, Infinity, numbers past a double, 5,000-digit integers, nesting thousands
deep), spliced verbatim into an otherwise ordinary document by `json_document`.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from django.test import Client
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from inbound.models import InboundEvent, OutboxEntry

# Bounded for `make test`: each suite's tests run in seconds. The database is shared by a
# test's examples (function-scoped fixtures), which `stored_counts` allows for.
fuzz_settings = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every code point, lone surrogates included (JSON can spell them: "\ud800").
odd_text = st.text(st.characters(exclude_categories=()), max_size=24)
# What a WSGI server hands over as a header value: Latin-1 text.
header_text = st.text(st.characters(max_codepoint=0xFF, exclude_categories=()), max_size=200)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=16,
)


def _nested(depth: int, opening: str, closed: bool) -> str:
    """Containers `depth` deep; unclosed too, as the review's 1,500 `[` were."""
    if opening == "{":
        return '{"k":' * depth + ("1" + "}" * depth if closed else "")
    return "[" * depth + ("]" * depth if closed else "")


deep_nesting = st.builds(
    _nested,
    # Around the 64-level limit, and as often past the recursion limit (which Hypothesis
    # raises by 2,000 frames while a test runs, so 1,500 alone would not reach it); 3,000
    # unclosed `[` still fit a 4 KiB header once base64-encoded.
    st.sampled_from([63, 64, 65, 3000, 5000]) | st.integers(min_value=1, max_value=5000),
    st.sampled_from(["[", "{"]),
    st.booleans(),
)
raw_fragments = st.one_of(
    st.sampled_from(
        ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1E+309", "1e-400", "-0", "0e0"]
    ),
    st.integers(min_value=1, max_value=6000).map(lambda digits: "9" * digits),
    deep_nesting,
    json_values.map(json.dumps),
)


@st.composite
def json_document(draw: st.DrawFn, value: Any) -> bytes:
    """`value` as JSON (ASCII-escaped or raw UTF-8, lone surrogates and all); an object
    sometimes with a raw fragment spliced in as one more member."""
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, dict) and draw(st.booleans()):
        text = text[:-1] + (", " if value else "") + '"spliced": ' + draw(raw_fragments) + "}"
    # surrogatepass: a lone surrogate written raw becomes bytes that are not UTF-8.
    return text.encode("utf-8", "surrogatepass")


_unique = itertools.count()


def unique_ids(prefix: str) -> st.SearchStrategy[str]:
    """Ids never drawn before in this process (the database is not reset between examples,
    and an id seen again would only test the duplicate path)."""
    return st.builds(lambda: f"{prefix}{next(_unique)}_{time.monotonic_ns()}")


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually (7 in 8) what a processor sends, sometimes anything at all."""
    return st.sampled_from(range(8)).flatmap(lambda pick: json_values if pick == 0 else strategy)


# --- The pass mark --------------------------------------------------------------------------


def post_delivery(url: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST as a processor does; a server error is answered (as a 500), not raised."""
    return Client(raise_request_exception=False).post(
        url, data=body, content_type="application/json", headers=headers
    )


def stored_counts() -> tuple[int, int]:
    """(events, outbox rows) stored: a refused delivery must leave both as they were."""
    return InboundEvent.objects.count(), OutboxEntry.objects.count()


def assert_refused(
    response: Any, *, before: tuple[int, int], statuses: set[int], reasons: set[str]
) -> None:
    """Refused with one of `statuses` and a known reason code, and nothing stored."""
    assert response.status_code in statuses, response.content
    code = response.json()["error"]["code"]
    event(f"refused {response.status_code} {code}")
    assert code in reasons
    assert stored_counts() == before
