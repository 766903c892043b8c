"""The fast canonical encoding is byte-for-byte RFC 8785, and signing keys parse strictly."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from compliance.canonical import canonical_json, entry_hash_from_row
from compliance.payloads import MAX_SAFE_INTEGER, AuditPayloadError, clean_payload
from compliance.signing import public_key_text, sign, signature_valid, signing_key

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
keys = st.from_regex(r"[A-Za-z0-9_.:-]{1,20}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | text
payloads = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _cleaned(payload):
    try:
        return clean_payload(payload)
    except AuditPayloadError:
        reject()


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, payloads, max_size=6))
def test_payload_encoding_matches_rfc8785(payload):
    cleaned = _cleaned(payload)
    assert canonical_json(cleaned) == rfc8785.dumps(cleaned)


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    st.tuples(
        text,
        text,
        text,
        st.integers(1, MAX_SAFE_INTEGER),
        st.none() | st.integers(1, MAX_SAFE_INTEGER),
    ),
    st.dictionaries(keys, payloads, max_size=4),
)
def test_entry_hash_is_sha256_of_the_rfc8785_document(fields, payload):
    action, actor_id, agent, entry_id, stamp = fields
    cleaned = _cleaned(payload)
    created_at = "2024-05-01T12:00:00.000001Z"
    row = (
        entry_id,
        stamp,
        created_at,
        "user",
        actor_id,
        "mer_1",
        action,
        "payment",
        "pay_1",
        "success",
        "203.0.113.1",
        agent,
        "req_1",
        cleaned,
    )
    document = {
        "v": 1,
        "id": entry_id,
        "stamp": stamp,
        "created_at": created_at,
        "actor": {"kind": "user", "id": actor_id},
        "merchant": "mer_1",
        "action": action,
        "target": {"type": "payment", "id": "pay_1"},
        "outcome": "success",
        "origin": {"ip": "203.0.113.1", "user_agent": agent, "request_id": "req_1"},
        "payload": cleaned,
    }
    assert entry_hash_from_row(row) == hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def test_signing_key_accepts_padded_and_unpadded_base64url(settings):
    unpadded = settings.AUDIT_SIGNING_KEY.rstrip("=")
    public = public_key_text()
    settings.AUDIT_SIGNING_KEY = unpadded + "=" * (-len(unpadded) % 4)
    assert public_key_text() == public
    document = {"v": 1, "size": 3}
    signature = sign(document)
    assert signature_valid(document, signature, public)
    assert not signature_valid({**document, "size": 4}, signature, public)
    assert json.dumps(document)


@pytest.mark.parametrize("value", ["", "not base64!", "c2hvcnQ"])
def test_bad_signing_keys_are_refused_with_a_reason(settings, value):
    settings.AUDIT_SIGNING_KEY = value
    with pytest.raises(ImproperlyConfigured, match="AUDIT_SIGNING_KEY"):
        signing_key()
