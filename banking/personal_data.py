"""Banking's entries in the personal-data registry (compliance.personal_data).

Erasing a customer disconnects their bank accounts: Plaid is told (`/item/remove`) and the
item's encrypted access token is destroyed with its data key (banking.services); the account
rows an ACH debit still points at are kept, emptied of names and numbers' fingerprints.
Registered from `BankingConfig.ready()`.
"""

from __future__ import annotations

from django.db.models import QuerySet

from banking.exceptions import PlaidRequestError
from banking.models import (
    BankAccount,
    BankDebit,
    BankLinkSession,
    PlaidItem,
    PlaidItemStatus,
    StripeBankVerification,
    VaultSecret,
)
from banking.services import bank_account_disconnect
from compliance.actors import Actor
from compliance.personal_data import (
    PS,
    Erasure,
    ErasureResult,
    JSONValue,
    N,
    P,
    ProcessorPendingError,
    R,
    Subject,
    SubjectKind,
    classify,
    iso,
    register,
    register_processor,
)
from config.exceptions import ServiceUnavailableError

CUSTOMER = (SubjectKind.CUSTOMER,)
# Plaid answers these for an item it has already removed: a resumed erasure is then done.
_GONE = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})


def _accounts(subject: Subject) -> QuerySet[BankAccount]:
    return BankAccount.objects.filter(
        merchant__public_id=subject.merchant_id, customer__public_id__in=subject.customer_ids
    )


def _items(subject: Subject) -> QuerySet[PlaidItem]:
    return PlaidItem.objects.filter(
        merchant__public_id=subject.merchant_id, customer__public_id__in=subject.customer_ids
    )


def _sessions(subject: Subject) -> QuerySet[BankLinkSession]:
    return BankLinkSession.objects.filter(
        merchant__public_id=subject.merchant_id, customer__public_id__in=subject.customer_ids
    )


def _verifications(subject: Subject) -> QuerySet[StripeBankVerification]:
    return StripeBankVerification.objects.filter(
        merchant__public_id=subject.merchant_id,
        bank_account__customer__public_id__in=subject.customer_ids,
    )


# --- Plaid ------------------------------------------------------------------------------------


def _plaid_remove_items(subject: Subject) -> list[str]:
    """Remove each live item at Plaid and destroy its access token (one account of the item
    is disconnected through banking's own service, which does both and audits it)."""
    confirmations: list[str] = []
    for item in _items(subject).exclude(status=PlaidItemStatus.REMOVED):
        account = BankAccount.objects.filter(item=item).order_by("pk").first()
        if account is None:
            continue  # never linked an account: nothing was shared, the row is emptied below
        try:
            bank_account_disconnect(account=account, actor=Actor.system("data_request.execute"))
        except ServiceUnavailableError as error:
            raise ProcessorPendingError(f"Plaid is unavailable ({error.code})") from error
        except PlaidRequestError as error:
            if error.plaid_error_code not in _GONE:
                raise
        confirmations.append(item.item_id)
    return confirmations


# --- Exports and erasure ------------------------------------------------------------------------


def _account_export(row: BankAccount) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "name": row.name,
        "mask": row.mask,
        "type": row.type,
        "subtype": row.subtype,
        "institution": row.institution_name,
        "verification": row.verification_state,
        "linked": iso(row.created_at),
        "disconnected": iso(row.disconnected_at),
    }


def _account_erase(subject: Subject) -> ErasureResult:
    count = _accounts(subject).update(
        name="",
        mask="",
        institution_name="",
        persistent_account_id="",
        routing_fingerprint="",
        stripe_payment_method_id="",
    )
    return ErasureResult(anonymised=count)


def _item_export(row: PlaidItem) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "institution": row.institution_name,
        "status": row.status,
        "created": iso(row.created_at),
    }


def _item_erase(subject: Subject) -> ErasureResult:
    count = _items(subject).update(institution_id="", institution_name="", error_code="")
    return ErasureResult(anonymised=count)


def _session_export(row: BankLinkSession) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "status": row.status,
        "created": iso(row.created_at),
        "linked": iso(row.linked_at),
    }


def _session_erase(subject: Subject) -> ErasureResult:
    deleted, _ = _sessions(subject).delete()
    return ErasureResult(deleted=deleted)


def _verification_export(row: StripeBankVerification) -> dict[str, JSONValue]:
    return {"id": row.public_id, "status": row.status, "last4": row.last4}


def _verification_erase(subject: Subject) -> ErasureResult:
    deleted, _ = _verifications(subject).delete()
    return ErasureResult(deleted=deleted)


def register_all() -> None:
    """Called once from BankingConfig.ready()."""
    classify(
        VaultSecret,
        {
            "id": N,
            "public_id": N,
            "purpose": N,
            "key_id": N,
            "wrapped_key": PS,
            "nonce": N,
            "ciphertext": PS,
            "created_at": N,
            "rewrapped_at": N,
        },
        note="Encrypted Plaid access tokens: destroyed (with their data key) when Plaid is told.",
    )
    classify(
        BankLinkSession,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "customer": PS,
            "token_hash": N,
            "status": N,
            "item": PS,
            "expires_at": N,
            "created_at": N,
            "linked_at": N,
        },
    )
    register(
        BankLinkSession,
        subjects=CUSTOMER,
        erasure=Erasure.DELETE,
        find=_sessions,
        export=_session_export,
        erase=_session_erase,
    )
    classify(
        PlaidItem,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "customer": PS,
            "item_id": PS,
            "institution_id": P,
            "institution_name": P,
            "access_token": PS,
            "status": N,
            "error_code": N,
            "created_at": N,
            "updated_at": N,
            "synced_at": N,
            "removed_at": N,
            "new_accounts_available_at": N,
        },
        note="Which bank a person uses is personal; Plaid's item id stays to match late events.",
    )
    register(
        PlaidItem,
        subjects=CUSTOMER,
        erasure=Erasure.ANONYMISE,
        find=_items,
        export=_item_export,
        erase=_item_erase,
    )
    classify(
        BankAccount,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "customer": PS,
            "item": PS,
            "plaid_account_id": PS,
            "persistent_account_id": PS,
            "name": P,
            "mask": P,
            "type": N,
            "subtype": N,
            "institution_name": P,
            "routing_fingerprint": PS,
            "verification_status": N,
            "verification_state": N,
            "code_attempts": N,
            "stripe_payment_method_id": PS,
            "verified_by": N,
            "verified_at": N,
            "disconnected_at": N,
            "created_at": N,
            "updated_at": N,
        },
    )
    register(
        BankAccount,
        subjects=CUSTOMER,
        erasure=Erasure.ANONYMISE,
        find=_accounts,
        export=_account_export,
        erase=_account_erase,
    )
    classify(
        BankDebit,
        {
            "id": N,
            "merchant": R,
            "bank_account": R,
            "payment": R,
            "idempotency_key": N,
            "created_at": R,
        },
        note="Links an ACH payment (retained with payments) to its emptied account row.",
    )
    classify(
        StripeBankVerification,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "bank_account": PS,
            "stripe_setup_intent_id": PS,
            "status": N,
            "stripe_payment_method_id": PS,
            "last4": P,
            "code_attempts": N,
            "failure_code": N,
            "created_at": N,
            "updated_at": N,
            "verified_at": N,
        },
    )
    register(
        StripeBankVerification,
        subjects=CUSTOMER,
        erasure=Erasure.DELETE,
        find=_verifications,
        export=_verification_export,
        erase=_verification_erase,
        order=50,
    )
    register_processor("plaid", subjects=CUSTOMER, notify=_plaid_remove_items)
