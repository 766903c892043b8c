"""Standing fuzz suite of `/webhooks/plaid/`: 0 server errors, nothing stored when refused.

Given generated deliveries (unsigned garbage: headers, JWTs whose segments hold anything,
made-up key ids; JWTs validly signed by the key Plaid serves but with hostile claims; and
bodies validly signed, holding odd text, NaN, numbers past a double, nesting thousands
deep), when each is posted, then the answer is 200 (stored once) or a refusal with a known
reason (400; 429 once the minute's key fetches are spent), and nothing refused is stored.
Bounded to run in seconds in `make test`.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from banking.gateways.plaid.webhooks import Reason
from inbound.views import UNVERIFIABLE
from tests.banking.webhook_signing import TEST_KID, SigningKey, b64url
from tests.inbound.webhook_fuzzing import (
    assert_refused,
    deep_nesting,
    fuzz_settings,
    header_text,
    json_document,
    json_values,
    maybe,
    post_delivery,
    raw_fragments,
    stored_counts,
    unique_ids,
)

pytestmark = pytest.mark.django_db
KEY_PATH = "/webhook_verification_key/get"
URL = "/webhooks/plaid/"
REFUSALS = {*Reason, UNVERIFIABLE}

plaid_webhooks = st.fixed_dictionaries(
    {
        "webhook_type": maybe(st.sampled_from(["AUTH", "ITEM", "TRANSACTIONS"])),
        "webhook_code": maybe(st.sampled_from(["AUTOMATICALLY_VERIFIED", "ERROR", "X"])),
        "item_id": maybe(unique_ids("item_fuzz_")),
        "environment": st.just("sandbox"),
        "error": json_values,
    }
)
bodies = st.one_of(maybe(plaid_webhooks).flatmap(json_document), st.binary(max_size=300))
segments = st.one_of(
    raw_fragments.map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=80),
).map(b64url)


def _post(body: bytes, header: str | None) -> Any:
    return post_delivery(URL, body, {} if header is None else {"Plaid-Verification": header})


def _assert_refused(response: Any, before: tuple[int, int]) -> None:
    # 429: this minute's key fetches spent by earlier made-up kids.
    assert_refused(response, before=before, statuses={400, 429}, reasons=REFUSALS)


@fuzz_settings
@given(
    body=bodies,
    header=st.one_of(
        st.none(),
        header_text,
        st.builds(lambda *parts: ".".join(parts), segments, segments, segments),
        # The review's 500: a JOSE header nested past the recursion limit (up to 3,000 `[`
        # still fit the 4 KiB header once base64-encoded).
        st.one_of(deep_nesting, st.integers(min_value=1, max_value=3000).map("[".__mul__)).map(
            lambda jose: f"{b64url(jose.encode())}.e30.AA"
        ),
        st.builds(
            lambda kid, claims, signature: ".".join(
                [b64url(json.dumps({"alg": "ES256", "kid": kid}).encode()), claims, signature]
            ),
            maybe(st.text(max_size=40)),
            segments,
            segments,
        ),
    ),
)
def test_unsigned_garbage_is_refused_and_stores_nothing(
    key: SigningKey, body: bytes, header: str | None
) -> None:
    before = stored_counts()
    _assert_refused(_post(body, header), before)


@fuzz_settings
@given(
    body=bodies,
    jose=st.one_of(
        st.just(json.dumps({"alg": "ES256", "kid": TEST_KID}).encode()),
        raw_fragments.map(
            lambda fragment: f'{{"alg": "ES256", "kid": "{TEST_KID}", "x": {fragment}}}'.encode()
        ),
    ),
    claims=st.fixed_dictionaries(
        {"iat": maybe(st.just(0)), "request_body_sha256": maybe(st.just(""))}
    ).flatmap(json_document),
)
def test_hostile_claims_signed_with_the_real_key_are_refused(
    key: SigningKey, body: bytes, jose: bytes, claims: bytes
) -> None:
    """Claims no Plaid JWT carries (an iat that is NaN, a string or 2**80; a body hash that
    is a number or odd text; nesting): refused, nothing stored."""
    before = stored_counts()
    _assert_refused(_post(body, key.sign_segments(jose, claims)), before)


@fuzz_settings
@given(body=bodies)
def test_validly_signed_bodies_are_stored_once_or_refused_never_a_server_error(
    key: SigningKey, body: bytes
) -> None:
    before = stored_counts()
    claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
    header = key.sign_segments(
        json.dumps({"alg": "ES256", "kid": key.kid}).encode(), json.dumps(claims).encode()
    )
    response = _post(body, header)
    if response.status_code != 200:
        _assert_refused(response, before)
        return
    event("duplicate" if response.json()["duplicate"] else "stored")
    expected = before if response.json()["duplicate"] else (before[0] + 1, before[1] + 1)
    assert stored_counts() == expected
