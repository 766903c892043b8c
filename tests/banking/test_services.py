"""Bank-linking services against the sandbox Plaid: sessions, completing a link in each flow,
duplicates, syncing what Plaid says now, code attempts and disconnecting."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from banking import selectors, services
from banking.exceptions import (
    BankLinkSessionUnavailableError,
    DuplicateBankAccountError,
    InvalidBankingRequestError,
    PlaidUnavailableError,
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
    AUTOMATED_ACCOUNT,
    LinkError,
    PlaidSandbox,
    database_text,
    new_customer,
    new_session,
)
from tests.banking.plaid_stub import plaid_stub

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def _items_at_plaid(plaid: PlaidSandbox) -> int:
    return int(plaid.control.plaid("GET", "state")["objects"]["items"])


def test_a_session_stores_only_the_hash_of_its_token_and_expires() -> None:
    new = new_session()
    assert len(new.token) == 43
    assert new.session.token_hash == hashlib.sha256(new.token.encode()).hexdigest()
    assert new.token not in repr(new)
    assert timedelta(days=6) < new.expires_at - timezone.now() <= services.LINK_SESSION_TTL
    assert selectors.bank_link_session_by_token(token=new.token) == new.session
    entry = AuditEntry.objects.get(action="bank_link_session.create")
    assert entry.target_id == new.session.public_id
    assert new.token not in str(entry.payload)


def test_another_merchants_customer_is_refused() -> None:
    customer = new_customer()
    other = new_customer()
    with pytest.raises(InvalidBankingRequestError):
        services.bank_link_session_create(merchant=other.merchant, customer=customer, actor=ACTOR)
    assert not BankLinkSession.objects.exists()


def test_malformed_or_unknown_tokens_find_nothing() -> None:
    new_session()
    for token in ("", "x", "a" * 43, "../../etc/passwd", "a" * 500):
        assert selectors.bank_link_session_by_token(token=token) is None


def test_fingerprint_is_hmac_keyed_by_a_domain_separated_secret_key() -> None:
    key = hashlib.sha256(b"ledgerline.bank-fingerprint:" + b"k1").digest()
    with override_settings(SECRET_KEY="k1"):
        value = services.numbers_fingerprint("011", "222")
        assert value == hmac.new(key, b"011:222", hashlib.sha256).hexdigest()
    with override_settings(SECRET_KEY="k2"):
        assert services.numbers_fingerprint("011", "222") != value


def test_instant_auth_keeps_the_token_in_the_vault_and_display_data_only(
    plaid: PlaidSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new = new_session()
    item = plaid.link(new.session, "instant")
    new.session.refresh_from_db()
    assert new.session.status == BankLinkSessionStatus.LINKED
    assert new.session.item == item
    access_token = services.plaid_item_access_token(item=item)
    # The vault gives back the token Plaid issued for this very item.
    assert plaid.sandbox_call("/item/get", access_token=access_token)["item"]["item_id"] == (
        item.item_id
    )
    bank_account = item.accounts.get()
    assert (bank_account.name, bank_account.mask, bank_account.subtype) == (
        "Plaid Checking",
        "0000",
        "checking",
    )
    assert bank_account.institution_name == "First Platypus Bank"
    assert bank_account.verification_state == VerificationState.VERIFIED
    assert bank_account.persistent_account_id
    at_plaid = plaid.item(item)["accounts"][0]
    number = at_plaid["account_number"]
    assert bank_account.routing_fingerprint == services.numbers_fingerprint(
        at_plaid["routing"], number
    )
    dump = database_text("banking_bankaccount", "banking_plaiditem", "compliance_auditentry")
    assert access_token not in dump
    assert "access-sandbox" not in dump
    assert number not in dump
    assert access_token not in caplog.text
    assert number not in caplog.text
    assert AuditEntry.objects.filter(action="bank_link.complete").count() == 1


def test_same_day_micro_deposits_link_one_account_awaiting_its_code(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "same_day")
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.PENDING_MANUAL
    assert bank_account.verification_status == "pending_manual_verification"
    assert item.institution_id == ""
    assert not bank_account.can_move_money
    assert selectors.code_attempts_left(bank_account) == services.MICRODEPOSIT_CODE_ATTEMPTS
    new.session.refresh_from_db()
    assert services.bank_link_needs_update_mode(session=new.session)


def test_automated_micro_deposits_link_pending_without_a_fingerprint(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "automated")
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.PENDING_AUTOMATIC
    assert bank_account.routing_fingerprint == ""
    assert not bank_account.can_move_money


def test_a_session_links_once(plaid: PlaidSandbox) -> None:
    new = new_session()
    plaid.link(new.session, "instant")
    # A second Link run for the same page: refused before its public token is exchanged.
    done = plaid.run_link(plaid.link_token(_fresh_open_session_like(new.session)), "instant")
    new.session.refresh_from_db()
    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_complete(
            session=new.session, public_token=done["public_token"], metadata={}
        )
    assert PlaidItem.objects.filter(merchant=new.session.merchant).count() == 1
    # Still unexchanged: Plaid exchanges a public token only once.
    plaid.sandbox_call("/item/public_token/exchange", public_token=done["public_token"])


def test_a_completion_that_lost_the_race_removes_its_item_at_plaid(plaid: PlaidSandbox) -> None:
    """Given two tabs of one bank-link page that both finished Link, when the second tab's
    completion finds the session already linked by the first, then it is refused, stores
    nothing, and its own (exchanged) item is removed at Plaid rather than left behind."""
    new = new_session()
    other_tab = BankLinkSession.objects.get(pk=new.session.pk)  # still open in its memory
    late = plaid.run_link(plaid.link_token(other_tab), "same_day")
    plaid.link(new.session, "instant")
    before = _items_at_plaid(plaid)

    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_complete(
            session=other_tab, public_token=late["public_token"], metadata=late["metadata"]
        )

    assert _items_at_plaid(plaid) == before - 1
    assert PlaidItem.objects.count() == 1
    assert BankAccount.objects.count() == 1


def _fresh_open_session_like(session: BankLinkSession) -> BankLinkSession:
    return services.bank_link_session_create(
        merchant=session.merchant, customer=session.customer, actor=ACTOR
    ).session


def test_an_expired_session_is_refused_before_plaid_is_called(plaid: PlaidSandbox) -> None:
    new = new_session()
    done = plaid.run_link(plaid.link_token(new.session), "instant")
    BankLinkSession.objects.filter(pk=new.session.pk).update(expires_at=timezone.now())
    new.session.refresh_from_db()
    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_complete(
            session=new.session, public_token=done["public_token"], metadata={}
        )
    assert not PlaidItem.objects.exists()
    plaid.sandbox_call("/item/public_token/exchange", public_token=done["public_token"])


def test_the_same_bank_login_again_is_a_duplicate_removed_at_plaid(plaid: PlaidSandbox) -> None:
    """Same login, same account: Plaid's persistent account id matches across items."""
    first = new_session()
    plaid.link(first.session, "instant")
    second = _fresh_open_session_like(first.session)
    before = _items_at_plaid(plaid)
    with pytest.raises(DuplicateBankAccountError):
        plaid.link(second, "instant")
    # The newcomer item was created by Link, then removed at Plaid by us.
    assert _items_at_plaid(plaid) == before
    assert PlaidItem.objects.count() == 1
    assert BankAccount.objects.count() == 1
    assert AuditEntry.objects.filter(action="bank_link.refuse", outcome="failure").exists()


def test_another_account_of_the_same_login_is_not_a_duplicate(plaid: PlaidSandbox) -> None:
    first = new_session()
    plaid.link(first.session, "instant", account_index=0)
    second = _fresh_open_session_like(first.session)
    plaid.link(second, "instant", account_index=1)
    assert sorted(BankAccount.objects.values_list("name", flat=True)) == [
        "Plaid Checking",
        "Plaid Saving",
    ]


def test_the_same_numbers_entered_manually_again_are_a_duplicate_by_fingerprint(
    plaid: PlaidSandbox,
) -> None:
    """Same-day items have no persistent id: the numbers' fingerprint + mask + name match."""
    first = new_session()
    item = plaid.link(first.session, "same_day")
    assert item.accounts.get().routing_fingerprint
    with pytest.raises(DuplicateBankAccountError):
        plaid.link(_fresh_open_session_like(first.session), "same_day")
    assert BankAccount.objects.count() == 1
    plaid.link(_fresh_open_session_like(first.session), "same_day", account="5566778899")
    assert BankAccount.objects.count() == 2


def _reload(session: BankLinkSession) -> BankLinkSession:
    session.refresh_from_db()
    return session


def test_same_day_code_accepted_makes_the_account_verified_with_its_fingerprint(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "same_day")
    plaid.run_link(plaid.link_token(_reload(new.session)), "verify", code="ABC")
    services.bank_link_update_complete(session=new.session)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.VERIFIED
    assert bank_account.verification_status == "manually_verified"
    at_plaid = plaid.item(item)["accounts"][0]
    assert bank_account.routing_fingerprint == services.numbers_fingerprint(
        at_plaid["routing"], at_plaid["account_number"]
    )
    assert bank_account.can_move_money
    assert not services.bank_link_needs_update_mode(session=_reload(new.session))


def test_wrong_codes_count_down_attempts_until_plaid_fails_the_account(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "same_day")
    bank_account = item.accounts.get()
    for left in (2, 1, 0):
        with pytest.raises(LinkError) as refused:
            plaid.run_link(plaid.link_token(_reload(new.session)), "verify", code="XYZ")
        assert refused.value.error["attempts_left"] == left
        services.bank_link_code_rejected(session=new.session)
        bank_account.refresh_from_db()
        assert selectors.code_attempts_left(bank_account) == left
    assert bank_account.verification_state == VerificationState.FAILED
    assert bank_account.verification_status == "verification_failed"
    assert not services.bank_link_needs_update_mode(session=_reload(new.session))
    # Final: Plaid's lock is never undone by anything we read later.
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account.refresh_from_db()
    assert bank_account.verification_state == VerificationState.FAILED


def test_sync_marks_login_required_then_update_mode_repairs_the_same_item(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    accounts_before = list(item.accounts.values_list("plaid_account_id", flat=True))
    plaid.for_item(item, "/sandbox/item/reset_login")
    services.plaid_item_sync(item=item, actor=ACTOR, webhook_code="ERROR")
    assert item.status == PlaidItemStatus.LOGIN_REQUIRED
    assert item.error_code == "ITEM_LOGIN_REQUIRED"
    assert services.bank_link_needs_update_mode(session=_reload(new.session))
    done = plaid.run_link(plaid.link_token(new.session), "update")
    assert done["done"] is True
    services.bank_link_update_complete(session=new.session)
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.ACTIVE
    assert item.error_code == ""
    assert list(item.accounts.values_list("plaid_account_id", flat=True)) == accounts_before
    assert PlaidItem.objects.count() == 1


def test_sync_of_a_revoked_item_never_comes_back(plaid: PlaidSandbox) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    plaid.control.plaid_fire_webhook(item.item_id, "USER_PERMISSION_REVOKED")
    services.plaid_item_sync(item=item, actor=ACTOR, webhook_code="USER_PERMISSION_REVOKED")
    assert item.status == PlaidItemStatus.REVOKED
    plaid.control.plaid_fire_webhook(item.item_id, "LOGIN_REPAIRED")
    services.plaid_item_sync(item=item, actor=ACTOR, webhook_code="LOGIN_REPAIRED")
    assert item.status == PlaidItemStatus.REVOKED


def test_disconnect_removes_the_item_at_plaid_before_deleting_the_secret(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "instant")
    bank_account = item.accounts.get()
    plaid.control.add_fault("error_500", count=3, path="/item/remove")
    with pytest.raises(PlaidUnavailableError):
        services.bank_account_disconnect(account=bank_account, actor=ACTOR)
    item.refresh_from_db()
    assert item.access_token is not None
    assert item.status == PlaidItemStatus.ACTIVE
    assert plaid.item(item)["item_id"] == item.item_id
    services.bank_account_disconnect(account=bank_account, actor=ACTOR)
    item.refresh_from_db()
    bank_account.refresh_from_db()
    assert item.status == PlaidItemStatus.REMOVED
    assert item.access_token is None
    assert not VaultSecret.objects.exists()
    assert bank_account.disconnected_at is not None
    assert AuditEntry.objects.filter(action="bank_account.disconnect").count() == 1
    with pytest.raises(Exception, match="404"):
        plaid.item(item)


def test_a_manual_account_number_never_reaches_our_database(plaid: PlaidSandbox) -> None:
    new = new_session()
    plaid.link(new.session, "same_day", account="4455667788")
    dump = database_text("banking_bankaccount", "banking_plaiditem", "compliance_auditentry")
    assert "4455667788" not in dump
    assert AUTOMATED_ACCOUNT not in dump
    assert BankAccount.objects.get().mask == "7788"


def test_automated_deposits_verified_at_plaid_sync_to_verified_and_never_back(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "automated")
    account_id = plaid.account_id(item)
    plaid.for_item(
        item,
        "/sandbox/item/set_verification_status",
        account_id=account_id,
        verification_status="automatically_verified",
    )
    result = services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.VERIFIED
    assert bank_account.routing_fingerprint
    assert result.changed == {bank_account.public_id: VerificationState.VERIFIED}


def test_a_verified_account_never_moves_back_whatever_plaid_says_later(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "same_day")
    plaid.run_link(plaid.link_token(_reload(new.session)), "verify", code="ABC")
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.VERIFIED
    for later in ("verification_expired", "pending_manual_verification", "brand_new_status"):
        plaid.control.plaid_set_verification_status(plaid.account_id(item), later)
        services.plaid_item_sync(item=item, actor=ACTOR)
        bank_account.refresh_from_db()
        assert bank_account.verification_state == VerificationState.VERIFIED


def test_an_unknown_status_from_plaid_blocks_money_until_a_known_one(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "same_day")
    plaid.control.plaid_set_verification_status(plaid.account_id(item), "brand_new_status")
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.UNKNOWN
    assert not bank_account.can_move_money
    plaid.control.plaid_set_verification_status(plaid.account_id(item), "manually_verified")
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account.refresh_from_db()
    assert bank_account.verification_state == VerificationState.VERIFIED


def test_automated_deposits_expired_at_plaid_sync_to_expired_for_good(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    item = plaid.link(new.session, "automated")
    plaid.for_item(
        item,
        "/sandbox/item/set_verification_status",
        account_id=plaid.account_id(item),
        verification_status="verification_expired",
    )
    services.plaid_item_sync(item=item, actor=ACTOR)
    bank_account = item.accounts.get()
    assert bank_account.verification_state == VerificationState.EXPIRED
    assert bank_account.routing_fingerprint == ""
    assert not bank_account.can_move_money


def test_a_waiting_account_plaid_reports_without_a_status_stays_unverified(
    plaid: PlaidSandbox,
) -> None:
    """A scripted Plaid answer dropping verification_status: an omission never verifies."""
    new = new_session()
    item = plaid.link(new.session, "same_day")
    bank_account = item.accounts.get()
    with plaid_stub() as stub, override_settings(PLAID_API_BASE=stub.url):
        stub.answer("/item/get", {"item": {"item_id": item.item_id, "error": None}})
        stub.answer(
            "/accounts/get",
            {
                "accounts": [
                    {
                        "account_id": bank_account.plaid_account_id,
                        "name": "Checking",
                        "mask": bank_account.mask,
                        "type": "depository",
                        "subtype": "checking",
                    }
                ]
            },
        )
        stub.answer("/auth/get", {"accounts": [], "numbers": {"ach": []}})
        services.plaid_item_sync(item=item, actor=ACTOR)
        assert len(stub.calls("/accounts/get")) == 1
    bank_account.refresh_from_db()
    assert bank_account.verification_state == VerificationState.PENDING_MANUAL
    assert not bank_account.can_move_money
