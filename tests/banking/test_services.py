"""Bank-linking services: sessions, completing a link, duplicates, sync, disconnect."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from banking import selectors, services
from banking.exceptions import (
    BankLinkSessionUnavailableError,
    DuplicateBankAccountError,
    InvalidBankingRequestError,
)
from banking.models import (
    BankAccount,
    BankLinkSession,
    BankLinkSessionStatus,
    PlaidItem,
    PlaidItemStatus,
    VaultSecret,
    VerificationState,
)
from compliance.actors import Actor
from compliance.models import AuditEntry
from tests.banking.linking import (
    ACCESS_TOKEN,
    ACCOUNT_NUMBER,
    PUBLIC_TOKEN,
    ROUTING_NUMBER,
    account,
    item_answer,
    plaid,
    script_exchange,
    script_item,
)
from tests.banking.plaid_stub import PlaidStub
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaidStub]:
    with plaid(monkeypatch) as running:
        yield running


def _session() -> services.NewBankLinkSession:
    customer = CustomerFactory()
    return services.bank_link_session_create(
        merchant=customer.merchant, customer=customer, actor=ACTOR
    )


def _linked(stub: PlaidStub, **item: object) -> tuple[BankLinkSession, PlaidItem]:
    new = _session()
    script_exchange(stub, item_id=str(item.get("item_id", "item_1")))
    script_item(stub, **item)  # type: ignore[arg-type]
    plaid_item = services.bank_link_complete(
        session=new.session, public_token=PUBLIC_TOKEN, metadata={}
    )
    new.session.refresh_from_db()
    return new.session, plaid_item


def test_a_session_stores_only_the_hash_of_its_token_and_expires() -> None:
    new = _session()
    assert len(new.token) == 43
    assert new.session.token_hash == hashlib.sha256(new.token.encode()).hexdigest()
    assert new.token not in repr(new)
    assert timedelta(days=6) < new.expires_at - timezone.now() <= services.LINK_SESSION_TTL
    assert selectors.bank_link_session_by_token(token=new.token) == new.session
    entry = AuditEntry.objects.get(action="bank_link_session.create")
    assert entry.target_id == new.session.public_id
    assert new.token not in str(entry.payload)


def test_another_merchants_customer_is_refused() -> None:
    customer, other = CustomerFactory(), CustomerFactory()
    with pytest.raises(InvalidBankingRequestError):
        services.bank_link_session_create(merchant=other.merchant, customer=customer, actor=ACTOR)
    assert not BankLinkSession.objects.exists()


def test_malformed_or_unknown_tokens_find_nothing() -> None:
    _session()
    for token in ("", "x", "a" * 43, "../../etc/passwd", "a" * 500):
        assert selectors.bank_link_session_by_token(token=token) is None


def test_fingerprint_is_hmac_keyed_by_a_domain_separated_secret_key() -> None:
    key = hashlib.sha256(b"ledgerline.bank-fingerprint:" + b"k1").digest()
    with override_settings(SECRET_KEY="k1"):
        value = services.numbers_fingerprint("011", "222")
        assert value == hmac.new(key, b"011:222", hashlib.sha256).hexdigest()
    with override_settings(SECRET_KEY="k2"):
        assert services.numbers_fingerprint("011", "222") != value


def test_completing_a_link_keeps_the_token_in_the_vault_and_display_data_only(
    stub: PlaidStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session, item = _linked(stub)
    assert session.status == BankLinkSessionStatus.LINKED
    assert session.item == item
    assert services.plaid_item_access_token(item=item) == ACCESS_TOKEN
    bank_account = item.accounts.get()
    assert (bank_account.name, bank_account.mask, bank_account.subtype) == (
        "Plaid Checking",
        "0000",
        "checking",
    )
    assert bank_account.institution_name == "First Platypus Bank"
    assert bank_account.verification_state == VerificationState.VERIFIED
    assert bank_account.routing_fingerprint == services.numbers_fingerprint(
        ROUTING_NUMBER, ACCOUNT_NUMBER
    )
    with connection.cursor() as cursor:
        for table in ("banking_bankaccount", "banking_plaiditem", "compliance_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
            assert ACCESS_TOKEN not in dump, table
            assert ACCOUNT_NUMBER not in dump, table
    assert ACCESS_TOKEN not in caplog.text
    assert ACCOUNT_NUMBER not in caplog.text
    assert AuditEntry.objects.filter(action="bank_link.complete").count() == 1


def test_a_pending_micro_deposit_account_has_no_fingerprint_yet(stub: PlaidStub) -> None:
    _, item = _linked(stub, accounts=[account(status="pending_manual_verification")], numbers=False)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.PENDING_MANUAL
    assert bank_account.routing_fingerprint == ""
    assert not bank_account.can_move_money


def test_a_session_links_once(stub: PlaidStub) -> None:
    session, _ = _linked(stub)
    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_complete(session=session, public_token=PUBLIC_TOKEN, metadata={})
    assert not stub.calls("/item/public_token/exchange")[1:]


def test_an_expired_session_is_refused_before_plaid_is_called(stub: PlaidStub) -> None:
    new = _session()
    BankLinkSession.objects.filter(pk=new.session.pk).update(expires_at=timezone.now())
    new.session.refresh_from_db()
    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_complete(session=new.session, public_token=PUBLIC_TOKEN, metadata={})
    assert stub.requests == []


def test_duplicate_by_persistent_id_removes_the_newcomer_at_plaid(stub: PlaidStub) -> None:
    first, _ = _linked(stub, accounts=[account(persistent="pers_1")])
    second = services.bank_link_session_create(
        merchant=first.merchant, customer=first.customer, actor=ACTOR
    )
    script_exchange(stub, item_id="item_2")
    script_item(stub, item_id="item_2", accounts=[account("acc_9", persistent="pers_1")])
    stub.answer("/item/remove", {"request_id": "r"})
    with pytest.raises(DuplicateBankAccountError):
        services.bank_link_complete(session=second.session, public_token="p", metadata={})
    assert [call["access_token"] for call in stub.calls("/item/remove")] == [ACCESS_TOKEN]
    assert PlaidItem.objects.count() == 1
    assert BankAccount.objects.count() == 1
    assert AuditEntry.objects.filter(action="bank_link.refuse", outcome="failure").exists()


def test_duplicate_by_fingerprint_mask_and_name_without_persistent_id(stub: PlaidStub) -> None:
    first, _ = _linked(stub)
    second = services.bank_link_session_create(
        merchant=first.merchant, customer=first.customer, actor=ACTOR
    )
    script_exchange(stub, item_id="item_2")
    script_item(stub, item_id="item_2", accounts=[account("acc_9")])
    stub.answer("/item/remove", {"request_id": "r"})
    with pytest.raises(DuplicateBankAccountError):
        services.bank_link_complete(session=second.session, public_token="p", metadata={})
    assert len(stub.calls("/item/remove")) == 1


def test_same_numbers_under_another_name_is_not_a_duplicate(stub: PlaidStub) -> None:
    first, _ = _linked(stub)
    second = services.bank_link_session_create(
        merchant=first.merchant, customer=first.customer, actor=ACTOR
    )
    script_exchange(stub, item_id="item_2")
    script_item(stub, item_id="item_2", accounts=[account("acc_9", name="Savings")])
    services.bank_link_complete(session=second.session, public_token="p", metadata={})
    assert BankAccount.objects.count() == 2
    assert stub.calls("/item/remove") == []


def test_sync_moves_pending_to_verified_and_never_back(stub: PlaidStub) -> None:
    _, item = _linked(
        stub, accounts=[account(status="pending_automatic_verification")], numbers=False
    )
    script_item(stub, accounts=[account(status="automatically_verified")])
    result = services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.VERIFIED
    assert bank_account.routing_fingerprint
    assert result.changed == {bank_account.public_id: VerificationState.VERIFIED}
    script_item(stub, accounts=[account(status="verification_expired")])
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account.refresh_from_db()
    assert bank_account.verification_state == VerificationState.VERIFIED


def test_sync_marks_login_required_then_repaired(stub: PlaidStub) -> None:
    _, item = _linked(stub)
    stub.answer("/item/get", item_answer(error_code="ITEM_LOGIN_REQUIRED"))
    services.plaid_item_sync(item=item, actor=ACTOR, webhook_code="ERROR")
    assert item.status == PlaidItemStatus.LOGIN_REQUIRED
    script_item(stub)
    services.plaid_item_sync(item=item, actor=ACTOR, webhook_code="LOGIN_REPAIRED")
    assert item.status == PlaidItemStatus.ACTIVE


def test_wrong_codes_count_down_attempts_until_plaid_fails_the_account(
    stub: PlaidStub,
) -> None:
    session, item = _linked(
        stub, accounts=[account(status="pending_manual_verification")], numbers=False
    )
    bank_account = item.accounts.get()
    for left in (2, 1):
        script_item(stub, accounts=[account(status="pending_manual_verification")], numbers=False)
        services.bank_link_code_rejected(session=session)
        bank_account.refresh_from_db()
        assert selectors.code_attempts_left(bank_account) == left
    script_item(stub, accounts=[account(status="verification_failed")], numbers=False)
    services.bank_link_code_rejected(session=session)
    bank_account.refresh_from_db()
    assert selectors.code_attempts_left(bank_account) == 0
    assert bank_account.verification_state == VerificationState.FAILED


def test_disconnect_removes_the_item_at_plaid_before_deleting_the_secret(
    stub: PlaidStub,
) -> None:
    _, item = _linked(stub)
    bank_account = item.accounts.get()
    stub.error("/item/remove", "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    stub.error("/item/remove", "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    stub.error("/item/remove", "API_ERROR", "INTERNAL_SERVER_ERROR", status=500)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure must leave all in place
        services.bank_account_disconnect(account=bank_account, actor=ACTOR)
    item.refresh_from_db()
    assert item.access_token is not None
    assert item.status == PlaidItemStatus.ACTIVE
    stub.answer("/item/remove", {"request_id": "r"})
    services.bank_account_disconnect(account=bank_account, actor=ACTOR)
    item.refresh_from_db()
    bank_account.refresh_from_db()
    assert item.status == PlaidItemStatus.REMOVED
    assert item.access_token is None
    assert not VaultSecret.objects.exists()
    assert bank_account.disconnected_at is not None
    assert AuditEntry.objects.filter(action="bank_account.disconnect").count() == 1
