"""Idempotency-Key: replay, reuse with another body, in flight, recovery, and concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Merchant
from api.exceptions import IdempotencyKeyInUseError
from api.idempotency import (
    LOCK_LEASE,
    RETENTION,
    idempotency_mark_object_created,
    idempotency_records_purge,
    idempotent_execute,
    request_fingerprint,
)
from api.models import IdempotencyRecord, RecoveryPoint
from payments.exceptions import InvalidPaymentRequestError, ProcessorUnavailableError
from payments.models import Payment, ProcessorAccount
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for

BODY = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}


def _post(api, key, body=BODY):
    return api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_fingerprint_ignores_key_order_but_not_values():
    a = request_fingerprint(method="POST", path="/p", body={"a": 1, "b": 2})
    assert a == request_fingerprint(method="POST", path="/p", body={"b": 2, "a": 1})
    assert a != request_fingerprint(method="POST", path="/p", body={"a": 1, "b": 3})
    assert a != request_fingerprint(method="POST", path="/q", body={"a": 1, "b": 2})


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_answer(api, merchant, sandbox_control):
    first = _post(api, "order-1")
    second = _post(api, "order-1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert first.json() == second.json()
    assert Payment.objects.filter(merchant=merchant).count() == 1
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    assert len(sandbox_control.charges(account=account)) == 1


@pytest.mark.django_db
def test_a_decline_is_replayed_too(api):
    body = {**BODY, "payment_method": "pm_card_chargeDeclined"}
    first = _post(api, "declined-1", body)
    again = _post(api, "declined-1", body)
    assert first.status_code == again.status_code == 402
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_other_body_is_422(api):
    assert _post(api, "order-2").status_code == 201
    response = _post(api, "order-2", {**BODY, "amount": 2100})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_keys_are_per_merchant(api, sandbox_control):
    from tests.factories import MerchantFactory

    other = api_client_for(MerchantFactory())
    assert _post(api, "shared-key").status_code == 201
    response = _post(other, "shared-key")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@pytest.mark.django_db
def test_a_key_held_by_a_live_request_is_409(api, merchant):
    IdempotencyRecord.objects.create(
        merchant=merchant,
        key="busy",
        request_method="POST",
        request_path="/api/v1/payments",
        request_fingerprint=request_fingerprint(method="POST", path="/api/v1/payments", body=BODY),
        locked_at=timezone.now(),
        created_at=timezone.now(),
    )
    response = _post(api, "busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["x" * 256, "", "caf\u00e9", "two words"])
def test_invalid_key_is_400_and_nothing_is_created(api, key):
    """An empty header is a key the client meant to send, not an absent one (found by
    schemathesis: the empty key used to create a payment as if no key had been sent)."""
    response = _post(api, key)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_crashed_request_resumes_from_its_recovery_point_without_a_second_charge(
    api, merchant, sandbox_control, monkeypatch
):
    """Given a request that committed its payment row and died before the processor answered
    was recorded, when the client retries with the same key after the lock lease, then the
    request resumes with the same payment and the processor's key, and one charge exists."""
    from payments import services

    real_apply = services.payment_apply_processor_state

    def crash(**kwargs):
        raise SystemExit("worker killed after the processor call")

    monkeypatch.setattr(services, "payment_apply_processor_state", crash)
    with pytest.raises(SystemExit):
        _post(api, "crash-1")
    monkeypatch.setattr(services, "payment_apply_processor_state", real_apply)
    record = IdempotencyRecord.objects.get(merchant=merchant, key="crash-1")
    assert record.recovery_point == RecoveryPoint.OBJECT_CREATED
    payment = Payment.objects.get(public_id=record.target_public_id)
    assert payment.status == "requires_confirmation"

    resumed = _post(api, "crash-1")
    assert resumed.status_code == 201, resumed.json()
    assert resumed.json()["id"] == payment.public_id
    assert resumed.json()["status"] == "succeeded"
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    assert len(sandbox_control.charges(account=account)) == 1
    assert Payment.objects.filter(merchant=merchant).count() == 1


@pytest.mark.django_db
def test_an_abandoned_lock_is_taken_over_after_the_lease(api, merchant):
    IdempotencyRecord.objects.create(
        merchant=merchant,
        key="stale",
        request_method="POST",
        request_path="/api/v1/payments",
        request_fingerprint=request_fingerprint(method="POST", path="/api/v1/payments", body=BODY),
        locked_at=timezone.now() - LOCK_LEASE - timedelta(seconds=1),
        created_at=timezone.now(),
    )
    assert _post(api, "stale").status_code == 201


@pytest.mark.django_db
def test_records_are_purged_after_24_hours(merchant):
    old = IdempotencyRecord.objects.create(
        merchant=merchant,
        key="old",
        request_method="POST",
        request_path="/p",
        request_fingerprint="f",
        created_at=timezone.now() - RETENTION - timedelta(minutes=1),
    )
    fresh = IdempotencyRecord.objects.create(
        merchant=merchant,
        key="new",
        request_method="POST",
        request_path="/p",
        request_fingerprint="f",
        created_at=timezone.now(),
    )
    assert idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=fresh.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_posts_make_exactly_one_charge(merchant, sandbox_control):
    """20 threads POST the same body with one key at once: one charge at the sandbox; every
    answer is the payment (201, possibly replayed) or 409 in flight, never a second payment."""
    from payments.services import merchant_connect_account_ensure

    merchant_connect_account_ensure(merchant=merchant)
    clients = [api_client_for(merchant) for _ in range(20)]
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    ids: set[str] = set()
    lock = threading.Lock()

    def worker(client):
        try:
            barrier.wait()
            response = _post(client, "concurrent-1")
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 201:
                    ids.add(response.json()["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(statuses) == 20
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert len(ids) == 1
    assert Payment.objects.filter(merchant=merchant).count() == 1
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    assert len(sandbox_control.charges(account=account)) == 1


# --- Claiming the key with the object (creates) ----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_commits_twice_and_stores_its_answer_with_the_outcome(api, merchant):
    """Given a merchant with its processor account, when a create runs with a key, then it
    commits twice (key with payment, answer with the processor's outcome) and the stored
    answer is the response."""
    assert _post(api, "warm-up").status_code == 201  # makes the connected account
    with CaptureQueriesContext(connection) as captured:
        response = _post(api, "two-commits")
    assert response.status_code == 201
    commits = [q for q in captured.captured_queries if q["sql"] == "COMMIT"]
    assert len(commits) == 2
    record = IdempotencyRecord.objects.get(merchant=merchant, key="two-commits")
    assert record.recovery_point == RecoveryPoint.FINISHED
    assert record.locked_at is None
    assert record.response_status == 201
    assert record.response_body == response.json()


def _execute(merchant: Merchant, operation, key: str = "deferred-1"):
    return idempotent_execute(
        merchant=merchant,
        key=key,
        method="POST",
        path="/api/v1/payments",
        body=BODY,
        operation=operation,
        claim_with_object=True,
    )


def _rival(merchant: Merchant, key: str, **fields) -> IdempotencyRecord:
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        merchant=merchant,
        key=key,
        request_method="POST",
        request_path="/api/v1/payments",
        request_fingerprint=request_fingerprint(method="POST", path="/api/v1/payments", body=BODY),
        created_at=now,
        **fields,
    )


@pytest.mark.django_db
def test_a_deferred_claim_that_loses_the_race_rolls_back_its_object_and_answers_409(merchant):
    """Given a request that found the key free, when another request claims the key before
    this one creates its object, then this one's object is rolled back and it answers 409."""

    def operation(record):
        _rival(merchant, "deferred-1", locked_at=timezone.now())  # the winner commits first
        with transaction.atomic():
            created = MerchantFactory(slug="must-roll-back")
            idempotency_mark_object_created(
                record, target_type="merchant", public_id=created.public_id
            )
        return 201, {}

    with pytest.raises(IdempotencyKeyInUseError):
        _execute(merchant, operation)
    assert not Merchant.objects.filter(slug="must-roll-back").exists()
    assert IdempotencyRecord.objects.get(merchant=merchant, key="deferred-1").locked_at


@pytest.mark.django_db
def test_a_deferred_claim_that_loses_to_a_finished_request_replays_its_answer(merchant):
    def operation(record):
        _rival(
            merchant,
            "deferred-1",
            recovery_point=RecoveryPoint.FINISHED,
            response_status=201,
            response_body={"id": "pay_winner"},
        )
        with transaction.atomic():
            idempotency_mark_object_created(record, target_type="payment", public_id="pay_loser")
        return 201, {"id": "pay_loser"}

    result = _execute(merchant, operation)
    assert (result.status, result.body, result.replayed) == (201, {"id": "pay_winner"}, True)


@pytest.mark.django_db
def test_a_final_error_before_the_object_is_stored_and_replayed(merchant):
    """Given a deferred claim, when the operation fails finally before creating anything,
    then the answer is stored under the key and the next request replays it without running."""
    calls: list[int] = []

    def operation(record):
        calls.append(1)
        raise InvalidPaymentRequestError("Unknown capture method.", param="capture_method")

    first = _execute(merchant, operation)
    second = _execute(merchant, operation)
    assert first.status == second.status == 400
    assert (first.replayed, second.replayed) == (False, True)
    assert len(calls) == 1
    record = IdempotencyRecord.objects.get(merchant=merchant, key="deferred-1")
    assert record.recovery_point == RecoveryPoint.FINISHED
    assert record.locked_at is None


@pytest.mark.django_db
def test_a_retryable_error_before_the_object_leaves_the_key_free(merchant):
    """A deferred claim that ends retryably before creating anything stores nothing, so the
    retry runs at once instead of waiting out a lease."""

    def unavailable(record):
        raise ProcessorUnavailableError()

    with pytest.raises(ProcessorUnavailableError):
        _execute(merchant, unavailable)
    assert not IdempotencyRecord.objects.filter(merchant=merchant, key="deferred-1").exists()
    result = _execute(merchant, lambda record: (201, {"id": "pay_retried"}))
    assert (result.status, result.body) == (201, {"id": "pay_retried"})
