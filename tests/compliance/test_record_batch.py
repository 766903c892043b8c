"""audit_batch: entries recorded in a loop are inserted together, and only what commits stays.

Given a transaction that records many entries, when they are recorded inside `audit_batch()`
they reach the table in one INSERT as the block ends; nothing is inserted when the block
raises; an entry recorded inside a savepoint is written at once, so it leaves with the
savepoint if that rolls back.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from compliance.actors import Actor
from compliance.models import AuditEntry
from compliance.services import audit_batch, audit_record

pytestmark = pytest.mark.django_db


def _record(target: str) -> AuditEntry:
    return audit_record(
        action="payment.status_change",
        actor=Actor.webhook("stripe"),
        merchant_id="mer_batch",
        target_type="payment",
        target_id=target,
        payload={"from": "processing", "to": "succeeded"},
    )


def _stored_targets() -> list[str]:
    return list(
        AuditEntry.objects.filter(merchant_public_id="mer_batch")
        .order_by("pk")
        .values_list("target_id", flat=True)
    )


def test_entries_of_a_batch_are_inserted_together_when_it_ends():
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries, audit_batch():
            for index in range(20):
                _record(f"pay_{index:02d}")
            held_back = _stored_targets()
        inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert held_back == []
    assert len(inserts) == 1
    assert _stored_targets() == [f"pay_{index:02d}" for index in range(20)]


def _record_then_fail() -> None:
    with transaction.atomic(), audit_batch():
        _record("pay_lost")
        raise RuntimeError("handler failed")


def test_a_batch_that_raises_inserts_nothing():
    with pytest.raises(RuntimeError, match="handler failed"):
        _record_then_fail()
    assert _stored_targets() == []


def test_an_entry_inside_a_rolled_back_savepoint_leaves_with_it():
    with transaction.atomic(), audit_batch():
        _record("pay_kept_1")
        try:
            with transaction.atomic():
                _record("pay_rolled_back")
                raise ValueError("the savepoint is rolled back")
        except ValueError:
            pass
        with transaction.atomic():
            _record("pay_in_committed_savepoint")
        _record("pay_kept_2")
    assert sorted(_stored_targets()) == [
        "pay_in_committed_savepoint",
        "pay_kept_1",
        "pay_kept_2",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"), audit_batch():
        _record("pay_never")
    assert _stored_targets() == []
