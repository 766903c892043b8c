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
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from banking.gateways.plaid import client as plaid_client
from banking.gateways.plaid.webhooks import Reason, key_cache_clear
from payments.models import InboundEvent, OutboxEntry
from payments.webhook_views import UNVERIFIABLE
from tests.banking.plaid_stub import plaid_stub
from tests.banking.webhook_signing import SigningKey, b64url
from tests.payments.webhook_strategies import (
    deep_nesting,
    header_text,
    json_document,
    json_values,
    maybe,
    raw_fragments,
    unique_ids,
)

pytestmark = pytest.mark.django_db
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
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


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[SigningKey]:
    """The key Plaid serves for `kid-fuzz`; every other kid is unknown to the stub."""
    monkeypatch.setattr(plaid_client, "BACKOFF_INITIAL_SECONDS", 0.001)
    key_cache_clear()
    signing = SigningKey("kid-fuzz")
    with plaid_stub() as stub, override_settings(PLAID_API_BASE=stub.url):
        stub.answer(KEY_PATH, {"key": signing.jwk()})
        yield signing
    key_cache_clear()


def _post(body: bytes, header: str | None) -> Any:
    headers = {} if header is None else {"Plaid-Verification": header}
    return Client(raise_request_exception=False).post(
        URL, data=body, content_type="application/json", headers=headers
    )


def _stored() -> tuple[int, int]:
    return InboundEvent.objects.count(), OutboxEntry.objects.count()


def _assert_refused(response: Any, before: tuple[int, int]) -> None:
    event(f"refused {response.status_code} {response.json()['error']['code']}")
    assert response.status_code in (400, 429), response.content
    assert response.json()["error"]["code"] in REFUSALS
    assert _stored() == before


@FUZZ
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
    before = _stored()
    _assert_refused(_post(body, header), before)


@FUZZ
@given(
    body=bodies,
    jose=st.one_of(
        st.just(json.dumps({"alg": "ES256", "kid": "kid-fuzz"}).encode()),
        raw_fragments.map(
            lambda fragment: f'{{"alg": "ES256", "kid": "kid-fuzz", "x": {fragment}}}'.encode()
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
    before = _stored()
    _assert_refused(_post(body, key.sign_segments(jose, claims)), before)


@FUZZ
@given(body=bodies)
def test_validly_signed_bodies_are_stored_once_or_refused_never_a_server_error(
    key: SigningKey, body: bytes
) -> None:
    before = _stored()
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
    assert _stored() == expected
