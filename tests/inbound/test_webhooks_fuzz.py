"""Standing fuzz suite of `/webhooks/stripe/`: 0 server errors, nothing stored when refused.

Given generated deliveries (unsigned garbage: bodies, headers, near-miss signatures; and
bodies validly signed with our secret: generated events with odd text, numbers of any size,
NaN and Infinity, nesting thousands deep, bytes that are not UTF-8), when each is posted,
then the answer is 200 (stored once) or 400 with a known reason (nothing stored), and a
stored event can be processed without raising. Bounded to run in seconds in `make test`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from inbound.models import InboundEvent, InboundEventStatus
from inbound.registry import handlers
from inbound.services import inbound_event_process
from inbound.views import UNVERIFIABLE
from payments.gateways.stripe.webhooks import Reason, signature_header
from tests.inbound.webhook_fuzzing import (
    assert_refused,
    fuzz_settings,
    header_text,
    json_document,
    json_values,
    maybe,
    post_delivery,
    stored_counts,
    unique_ids,
)
from tests.inbound.webhook_support import CURRENT_SECRET, URL

pytestmark = pytest.mark.django_db
KNOWN_REASONS = {*Reason.ALL, UNVERIFIABLE}

event_types = st.sampled_from(sorted({t for provider, t in handlers if provider == "stripe"}))
stripe_events = st.fixed_dictionaries(
    {
        "id": maybe(unique_ids("evt_fuzz_")),
        "object": st.just("event"),
        "type": maybe(event_types),
        "created": st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70), st.floats(), maybe(st.none())
        ),
        "account": maybe(st.sampled_from([None, "acct_fuzz"])),
        "data": st.fixed_dictionaries({"object": json_values}),
    }
)
signed_bodies = maybe(stripe_events).flatmap(json_document)


def _post(body: bytes, header: str | None) -> Any:
    return post_delivery(URL, body, {} if header is None else {"Stripe-Signature": header})


def _assert_refused(response: Any, before: tuple[int, int]) -> None:
    assert_refused(response, before=before, statuses={400}, reasons=KNOWN_REASONS)


@fuzz_settings
@given(
    body=st.one_of(st.binary(max_size=600), signed_bodies),
    header=st.one_of(
        st.none(),
        header_text,
        st.builds(
            lambda t, v: f"t={t},v1={v}",
            st.one_of(
                st.builds(lambda: str(int(time.time()))),
                st.integers(min_value=-(2**70), max_value=2**70).map(str),
                header_text,
            ),
            st.one_of(header_text, st.text("0123456789abcdef", min_size=64, max_size=64)),
        ),
    ),
)
def test_unsigned_garbage_is_refused_and_stores_nothing(body: bytes, header: str | None) -> None:
    before = stored_counts()
    _assert_refused(_post(body, header), before)


@fuzz_settings
@given(body=signed_bodies, wrong_secret=st.booleans(), skew=st.sampled_from([0, -400, 400]))
def test_near_miss_signatures_are_refused(body: bytes, wrong_secret: bool, skew: int) -> None:
    """Signed by another secret, or outside the 300 s window: refused whatever the body."""
    secret = "whsec_attacker" if wrong_secret or skew == 0 else CURRENT_SECRET
    header = signature_header(body=body, secrets=[secret], timestamp=int(time.time()) + skew)
    before = stored_counts()
    _assert_refused(_post(body, header), before)


@fuzz_settings
@given(body=signed_bodies)
def test_validly_signed_bodies_are_stored_once_or_refused_never_a_server_error(
    body: bytes,
) -> None:
    before = stored_counts()
    response = _post(body, signature_header(body=body, secrets=[CURRENT_SECRET]))
    if response.status_code == 400:
        _assert_refused(response, before)
        return
    assert response.status_code == 200, response.content
    event("stored" if not response.json()["duplicate"] else "duplicate")
    if response.json()["duplicate"]:
        assert stored_counts() == before
        return
    assert stored_counts() == (before[0] + 1, before[1] + 1)
    # What was stored can be read back and processed: the worker records, never raises.
    stored = InboundEvent.objects.latest("pk")
    assert inbound_event_process(event_id=stored.pk) in set(InboundEventStatus)
