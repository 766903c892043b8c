"""Payments' entries in the personal-data registry (compliance.personal_data).

Customers are anonymised (payments keep pointing at the emptied record); payments are kept
for the tax and anti-money-laundering period but stripped of the person; Stripe is told to
delete the customer. The customer subject carries what names them in raw payloads, for
inbound's webhook bodies and api's stored answers. Registered from `PaymentsConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db.models import F, Max, Q, QuerySet

from compliance.personal_data import (
    PS,
    Erasure,
    ErasureResult,
    Holds,
    JSONValue,
    N,
    P,
    ProcessorPendingError,
    R,
    Retention,
    Subject,
    SubjectKind,
    SubjectNotFoundError,
    classify,
    iso,
    register,
    register_processor,
    register_retention,
    register_subject_resolver,
)
from config.exceptions import ServiceUnavailableError
from payments.exceptions import ProcessorRequestError
from payments.gateways import gateway_for
from payments.models import (
    BalanceTransaction,
    Customer,
    Dispute,
    DisputeEvidenceFile,
    Payment,
    PaymentLink,
    Processor,
    ProcessorAccount,
    Refund,
)
from payments.personal_data_business import classify_business_records

CUSTOMER = (SubjectKind.CUSTOMER,)
LEDGER = Retention(
    basis="Legal obligation, Art. 6(1)(c): tax and anti-money-laundering record keeping "
    "(e.g. 5 years after the transaction, EU AMLD Art. 40)",
    years=5,
)
# Short values would match unrelated text (a name "Al" in every payload): left out.
_MIN_NEEDLE = 4


def _customers(subject: Subject) -> QuerySet[Customer]:
    return Customer.objects.filter(
        merchant__public_id=subject.merchant_id, public_id__in=subject.customer_ids
    )


# --- Subjects ---------------------------------------------------------------------------------


def customer_subject(merchant_id: str, reference: str) -> Subject:
    """Every customer record of the merchant with the email given, or with the email of the
    `cus_` record given (the one record when it has no email)."""
    of_merchant = Customer.objects.filter(merchant__public_id=merchant_id)
    if reference.startswith("cus_"):
        named = of_merchant.filter(public_id=reference).first()
        if named is None:
            raise SubjectNotFoundError("no such customer")
        email = named.email.lower()
    elif "@" in reference and len(reference) <= 254:
        email = reference.lower()
        named = None
    else:
        raise SubjectNotFoundError("name a customer by its cus_ id or email address")
    records = list(of_merchant.filter(email__iexact=email)) if email else []
    if named is not None and not email:
        records = [named]
    if not records:
        raise SubjectNotFoundError("no customer of this merchant has that email address")
    if named is not None:  # the record named first: it names the subject on the certificate
        records.sort(key=lambda c: c.public_id != named.public_id)
    identifiers = {email} | {
        v for c in records for v in (c.public_id, c.name, c.processor_customer_id)
    }
    return Subject(
        kind=SubjectKind.CUSTOMER,
        merchant_id=merchant_id,
        customer_ids=tuple(c.public_id for c in records),
        emails=(email,) if email else (),
        # Short values would match unrelated text (a name "Al" in every payload): left out.
        identifiers=tuple(sorted(v for v in identifiers if len(v) >= _MIN_NEEDLE)),
    )


# --- Customers --------------------------------------------------------------------------------


def _customer_export(row: Customer) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "email": row.email,
        "name": row.name,
        "description": row.description,
        "metadata": row.metadata,
        "processor_customer": row.processor_customer_id,
        "created": iso(row.created_at),
    }


def _customer_erase(subject: Subject) -> ErasureResult:
    count = _customers(subject).update(
        email="", name="", description="", metadata={}, processor_customer_id=""
    )
    return ErasureResult(anonymised=count)


# --- Dispute evidence files -------------------------------------------------------------------


def _evidence_files(subject: Subject) -> QuerySet[DisputeEvidenceFile]:
    return DisputeEvidenceFile.objects.filter(
        dispute__merchant__public_id=subject.merchant_id,
        dispute__payment__customer__public_id__in=subject.customer_ids,
    )


def _evidence_file_export(row: DisputeEvidenceFile) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "field": row.field,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "copy_kept": row.content is not None,
        "created": iso(row.created_at),
    }


def _evidence_files_erase(subject: Subject) -> ErasureResult:
    deleted, _ = _evidence_files(subject).delete()
    return ErasureResult(deleted=deleted)


# --- Balance transactions --------------------------------------------------------------------


def _balance_transactions(subject: Subject) -> QuerySet[BalanceTransaction]:
    """The processor's ledger lines of the subject's payments, refunds and disputes; their
    `description` is the processor's copy of the payment's, which may name the customer."""
    customers = subject.customer_ids
    return BalanceTransaction.objects.filter(
        merchant__public_id=subject.merchant_id,
    ).filter(
        Q(payment__customer__public_id__in=customers)
        | Q(refund__payment__customer__public_id__in=customers)
        | Q(dispute__payment__customer__public_id__in=customers)
    )


def _balance_transaction_export(row: BalanceTransaction) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "type": row.type,
        "amount": row.amount,
        "currency": row.currency,
        "description": row.description,
        "created": iso(row.processor_created_at),
    }


def _balance_transactions_erase(subject: Subject) -> ErasureResult:
    anonymised = _balance_transactions(subject).exclude(description="").update(description="")
    return ErasureResult(anonymised=anonymised)


# --- Payments (retained ledger) -------------------------------------------------------------


def _payments(subject: Subject) -> QuerySet[Payment]:
    # The customer joined in: the export names it on every row, and one query per row made
    # a 10,000-payment export take most of a minute.
    return Payment.objects.filter(
        merchant__public_id=subject.merchant_id, customer__public_id__in=subject.customer_ids
    ).select_related("customer")


def _payment_export(row: Payment) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "customer": row.customer.public_id if row.customer else None,
        "amount": row.amount,
        "currency": row.currency,
        "status": row.status,
        "description": row.description,
        "metadata": row.metadata,
        "card_brand": row.card_brand,
        "card_last4": row.card_last4,
        "card_exp_month": row.card_exp_month,
        "card_exp_year": row.card_exp_year,
        "card_country": row.card_country,
        "bank_last4": row.bank_last4,
        "created": iso(row.created_at),
    }


def _payments_strip(rows: QuerySet[Payment]) -> int:
    # Kept: amounts, currency, status, brand, last 4, country (what the ledger and an AML
    # review need); removed: free text, metadata, expiry, the card's cross-merchant fingerprint.
    return rows.update(
        description="",
        metadata={},
        card_exp_month=None,
        card_exp_year=None,
        card_fingerprint="",
        next_action_url="",
    )


def _payment_erase(subject: Subject) -> ErasureResult:
    rows = _payments(subject)
    newest = rows.aggregate(newest=Max("created_at"))["newest"]
    count = _payments_strip(rows)
    return ErasureResult(retained=count, retained_until=LEDGER.until(newest) if newest else None)


def _refunded_payments(cutoff: datetime, holds: Holds) -> QuerySet[Payment]:
    """Fully refunded payments older than the cutoff still holding something personal."""
    return (
        Payment.objects.filter(
            created_at__lt=cutoff, amount_refunded__gt=0, amount_refunded=F("amount_captured")
        )
        .exclude(merchant__public_id__in=holds.merchants)
        .exclude(customer__public_id__in=holds.customers)
        .filter(
            ~Q(description="")
            | ~Q(metadata={})
            | ~Q(card_fingerprint="")
            | Q(card_exp_month__isnull=False)
            | ~Q(next_action_url="")
        )
    )


# --- Processors ------------------------------------------------------------------------------


def _customer_deleter(processor: str) -> Callable[[Subject], list[str]]:
    """Delete, at `processor`, each of the subject's customers kept there, on the merchant's
    account with that processor (a merchant may use Stripe and Braintree at once).

    Idempotent: a customer the processor no longer knows counts as deleted. An outage raises
    ProcessorPendingError so the step is retried with backoff.
    """

    def delete_customers(subject: Subject) -> list[str]:
        confirmations: list[str] = []
        account = ProcessorAccount.objects.filter(
            merchant__public_id=subject.merchant_id, processor=processor
        ).first()
        processor_ids = [
            c
            for c in _customers(subject)
            .filter(processor=processor)
            .values_list("processor_customer_id", flat=True)
            if c
        ]
        if account is None or not processor_ids:
            return confirmations
        for customer_id in processor_ids:
            try:
                deleted = gateway_for(account).customer_delete(
                    account=account.processor_account_id, customer=customer_id
                )
            except ProcessorRequestError as error:
                if error.code != "resource_missing":
                    raise
                confirmations.append(f"{customer_id}:already_deleted")
                continue
            except ServiceUnavailableError as error:
                raise ProcessorPendingError(f"{processor} is unavailable ({error.code})") from error
            confirmations.append(deleted.id)
        return confirmations

    return delete_customers


# --- Registration -----------------------------------------------------------------------------


def register_all() -> None:
    """Called once from PaymentsConfig.ready()."""
    classify_business_records()
    classify(
        Customer,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "email": P,
            "name": P,
            "description": P,
            "metadata": P,
            "processor": N,
            "processor_customer_id": PS,
            "created_at": N,
            "updated_at": N,
        },
    )
    register(
        Customer,
        subjects=CUSTOMER,
        erasure=Erasure.ANONYMISE,
        find=_customers,
        export=_customer_export,
        erase=_customer_erase,
        # Last: the other handlers read the customer's name and processor id to find them.
        order=900,
    )
    classify(
        PaymentLink,
        {
            "id": N,
            "public_id": N,
            "merchant": N,
            "token": N,
            "amount": N,
            "currency": N,
            "description": N,
            "reusable": N,
            "expires_at": N,
            "active": N,
            "completed_at": N,
            "deactivated_at": N,
            "created_at": N,
        },
        note="A merchant's offer; who paid through it is on the payment.",
    )
    classify(
        Payment,
        {
            "id": N,
            "public_id": R,
            "merchant": R,
            "customer": PS,
            "payment_link": N,
            "status": R,
            "amount": R,
            "amount_capturable": R,
            "amount_captured": R,
            "amount_refunded": R,
            "currency": R,
            "capture_method": N,
            "description": P,
            "metadata": P,
            "payment_method_type": R,
            "bank_last4": R,
            "card_brand": R,
            "card_last4": R,
            "card_exp_month": P,
            "card_exp_year": P,
            "card_fingerprint": PS,
            "card_country": R,
            "failure_code": N,
            "decline_code": N,
            "failure_message": N,
            "next_action_url": P,
            "processor": R,
            "processor_payment_method_id": R,
            "processor_payment_id": R,
            "processor_charge_id": R,
            "fee": R,
            "platform_fee": R,
            "platform_fee_requested": R,
            "net": R,
            "created_at": R,
            "updated_at": N,
        },
    )
    register(
        Payment,
        subjects=CUSTOMER,
        erasure=Erasure.RETAIN,
        retention=LEDGER,
        find=_payments,
        export=_payment_export,
        erase=_payment_erase,
    )
    ledger_row = {"amount": R, "currency": R, "status": R, "created_at": R, "updated_at": N}
    classify(
        Refund,
        {
            "id": N,
            "public_id": R,
            "merchant": R,
            "payment": R,
            **ledger_row,
            "reason": N,
            "failure_reason": N,
            "processor_refund_id": R,
            "fee": R,
            "net": R,
        },
        note="A ledger record of its payment; the person is reached only through the payment.",
    )
    classify(
        Dispute,
        {
            "id": N,
            "public_id": R,
            "merchant": R,
            "payment": R,
            **ledger_row,
            "reason": N,
            "processor_dispute_id": R,
            "evidence_due_by": N,
            "evidence_submitted_at": N,
            "accepted_at": N,
        },
        note="Evidence text lives at the processor and in the webhook payloads (redacted there).",
    )
    classify(
        DisputeEvidenceFile,
        {
            "id": N,
            "public_id": N,
            "dispute": N,
            "field": N,
            "filename": P,
            "content_type": N,
            "size": N,
            "sha256": PS,
            "processor_file_id": N,
            "content": P,
            "created_at": N,
        },
        note="A copy of a document sent as dispute evidence, kept only when the merchant asked.",
    )
    register(
        DisputeEvidenceFile,
        subjects=CUSTOMER,
        erasure=Erasure.DELETE,
        find=_evidence_files,
        export=_evidence_file_export,
        erase=_evidence_files_erase,
        # Before payments are stripped of the person: the files are found through them.
        order=50,
    )
    register(
        BalanceTransaction,
        subjects=CUSTOMER,
        erasure=Erasure.ANONYMISE,
        find=_balance_transactions,
        export=_balance_transaction_export,
        erase=_balance_transactions_erase,
        # Before payments are stripped of the person: the lines are found through them.
        order=50,
    )
    register_subject_resolver(SubjectKind.CUSTOMER, customer_subject)
    for processor in Processor.values:
        register_processor(processor, subjects=CUSTOMER, notify=_customer_deleter(processor))
    register_retention(
        "payments.refunded_payments",
        description="Fully refunded payments: kept for the ledger, stripped of the person",
        select=_refunded_payments,
        apply=_payments_strip,
    )
