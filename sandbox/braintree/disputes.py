"""Disputes: opened on a settled sale, answered by the merchant (accept, evidence, finalize).

Evidence is text (`comments`, a category from Braintree's list or none) or a document uploaded
first (`documents.py`) and attached by its `document_upload_id`.

Braintree's sandbox decides a finalized dispute by its text evidence: `compelling_evidence`
wins it, `losing_evidence` loses it; anything else waits under review (`disputed`) for the
control API (`POST /_sandbox/braintree/disputes/{id}/resolve`). Every change sends its
notification (`dispute_opened`, `_accepted`, `_disputed`, `_won`, `_lost`).
"""

from __future__ import annotations

from typing import Any

from sandbox.braintree import errors, render
from sandbox.braintree.call import Call, Emit
from sandbox.braintree.errors import HTTPError, invalid, not_found
from sandbox.braintree.search import Fields, criteria_of, matches
from sandbox.braintree.store import JSON, BraintreeStore, random_id
from sandbox.braintree.xmlwire import Collection

REPLY_SECONDS = 7 * 86400
MAX_EVIDENCE_CHARS = 10_000
DISPUTE_PAGE_SIZE = 10
# Braintree's categories for text evidence (its DisputeTextEvidenceCategory).
TEXT_CATEGORIES = frozenset(
    {
        "CARRIER_NAME",
        "CREDIT_ISSUED_AMOUNT",
        "CREDIT_ISSUED_ARN",
        "CREDIT_ISSUED_DATE_TIME",
        "DEVICE_ID",
        "DEVICE_NAME",
        "DOWNLOAD_DATE_TIME",
        "GENERAL",
        "GEOGRAPHICAL_LOCATION",
        "PRIOR_DIGITAL_GOODS_TRANSACTION_ARN",
        "PRIOR_DIGITAL_GOODS_TRANSACTION_DATE_TIME",
        "PRIOR_DIGITAL_GOODS_TRANSACTION_ID",
        "PRIOR_NON_DISPUTED_TRANSACTION_ARN",
        "PRIOR_NON_DISPUTED_TRANSACTION_DATE_TIME",
        "PRIOR_NON_DISPUTED_TRANSACTION_EMAIL_ADDRESS",
        "PRIOR_NON_DISPUTED_TRANSACTION_ID",
        "PRIOR_NON_DISPUTED_TRANSACTION_IP_ADDRESS",
        "PRIOR_NON_DISPUTED_TRANSACTION_PHONE_NUMBER",
        "PRIOR_NON_DISPUTED_TRANSACTION_PHYSICAL_ADDRESS",
        "PURCHASER_EMAIL_ADDRESS",
        "PURCHASER_IP_ADDRESS",
        "PURCHASER_NAME",
        "RECURRING_TRANSACTION_ARN",
        "RECURRING_TRANSACTION_DATE_TIME",
        "RECURRING_TRANSACTION_ID",
        "REFUND_ID",
        "TRACKING_NUMBER",
    }
)


def open_dispute(
    store: BraintreeStore, txn: JSON, now: float, emit: Emit, reason: str = "fraud"
) -> JSON:
    dispute_id = store.new_id("disputes", 16)
    record = {
        "id": dispute_id,
        "transaction_id": txn["id"],
        "amount_cents": txn["amount_cents"],
        "reason": reason,
        "status": "open",
        "case_number": "CB" + random_id(10, "0123456789"),
        "reference_number": random_id(12, "0123456789"),
        "created_at": now,
        "updated_at": now,
        "reply_by": now + REPLY_SECONDS,
        "status_history": [{"status": "open", "at": now}],
        "evidence": [],
    }
    store.disputes[dispute_id] = record
    txn["dispute_ids"].append(dispute_id)
    txn["updated_at"] = now
    emit("dispute_opened", "dispute", dispute_id)
    return record


def set_status(store: BraintreeStore, record: JSON, status: str, now: float, emit: Emit) -> None:
    record["status"] = status
    record["updated_at"] = now
    record["status_history"].append({"status": status, "at": now})
    emit(f"dispute_{status}", "dispute", record["id"])


def _get(call: Call) -> JSON:
    record = call.store.disputes.get(call.args[0])
    if record is None:
        raise not_found("dispute", call.args[0])
    return record


def find(call: Call) -> tuple[str, Any]:
    return "dispute", render.dispute(call.store, _get(call))


def accept(call: Call) -> None:
    record = _get(call)
    if record["status"] != "open":
        raise invalid(
            ("dispute",),
            "status",
            errors.DISPUTE_CAN_ONLY_ACCEPT_OPEN,
            "Disputes can only be accepted when they are in an Open state",
        )
    set_status(call.store, record, "accepted", call.now, call.emit)


def add_evidence(call: Call) -> tuple[str, Any]:
    """Text evidence (`comments`) or a document upload (`document_upload_id`), each with an
    optional category; a category is given once per sequence number (Braintree's 95714)."""
    record = _get(call)
    params = call.section("evidence")
    if record["status"] != "open":
        raise invalid(
            ("dispute",),
            "status",
            errors.DISPUTE_CAN_ONLY_ADD_EVIDENCE_TO_OPEN,
            "Evidence can only be attached to disputes that are in an Open state",
        )
    category = params.get("category")
    category = category if isinstance(category, str) and category else None
    sequence = params.get("sequence_number")
    sequence = sequence if isinstance(sequence, int) else None
    document_id = params.get("document_upload_id")
    if document_id:
        comment, url = None, _document_url(call, document_id, category)
    else:
        comment, url = _text_evidence(params, category), None
    if category is not None and any(
        item.get("category") == category and item.get("sequence_number") == sequence
        for item in record["evidence"]
    ):
        raise invalid(
            ("dispute", "evidence"),
            "category",
            errors.DISPUTE_EVIDENCE_CATEGORY_DUPLICATE,
            "A piece of evidence with this category was already added.",
        )
    item = {
        "id": random_id(12),
        "comment": comment,
        "url": url,
        "category": category,
        "sequence_number": sequence,
        "created_at": call.now,
    }
    record["evidence"].append(item)
    record["updated_at"] = call.now
    return "evidence", render.evidence(item)


def _text_evidence(params: JSON, category: str | None) -> str:
    comment = params.get("comments")
    if not isinstance(comment, str) or not comment.strip():
        raise invalid(("dispute",), "comments", errors.TYPE_IS_INVALID, "Content is required.")
    if len(comment) > MAX_EVIDENCE_CHARS:
        raise invalid(
            ("dispute",),
            "comments",
            errors.DISPUTE_EVIDENCE_CONTENT_TOO_LONG,
            "The evidence content is too long.",
        )
    if category is not None and category not in TEXT_CATEGORIES:
        raise invalid(
            ("dispute", "evidence"),
            "category",
            errors.DISPUTE_EVIDENCE_CATEGORY_INVALID,
            "The evidence category is not valid for text evidence.",
        )
    return comment


def _document_url(call: Call, document_id: Any, category: str | None) -> str:
    """The evidence's `url`: Braintree's is a signed download link; the sandbox keeps no bytes,
    so its URL only names the upload (it is not served)."""
    upload = call.store.document_uploads.get(document_id) if isinstance(document_id, str) else None
    if upload is None or upload["kind"] != "evidence_document":
        raise invalid(
            ("dispute", "evidence"),
            "document_upload_id",
            errors.DISPUTE_CAN_ONLY_ADD_EVIDENCE_DOCUMENT,
            "A document upload of kind evidence_document is required.",
        )
    if category in TEXT_CATEGORIES:
        raise invalid(
            ("dispute", "evidence"),
            "category",
            errors.DISPUTE_EVIDENCE_CATEGORY_TEXT_ONLY,
            "The evidence category is for text evidence only.",
        )
    return f"{call.base_url}/braintree/documents/{upload['id']}"


def finalize(call: Call) -> None:
    record = _get(call)
    if record["status"] != "open":
        raise invalid(
            ("dispute",),
            "status",
            errors.DISPUTE_CAN_ONLY_FINALIZE_OPEN,
            "Disputes can only be finalized when they are in an Open state",
        )
    for item in record["evidence"]:
        item["sent_to_processor_at"] = call.now
    set_status(call.store, record, "disputed", call.now, call.emit)
    comments = {(item["comment"] or "").strip() for item in record["evidence"]}
    if "compelling_evidence" in comments:
        set_status(call.store, record, "won", call.now, call.emit)
    elif "losing_evidence" in comments:
        set_status(call.store, record, "lost", call.now, call.emit)


def _fields(store: BraintreeStore, record: JSON) -> Fields:
    txn = store.transactions[record["transaction_id"]]
    return {
        "id": ("text", record["id"]),
        "case_number": ("text", record["case_number"]),
        "reference_number": ("text", record["reference_number"]),
        "transaction_id": ("text", txn["id"]),
        "customer_id": ("text", txn.get("customer_id")),
        "status": ("multi", record["status"]),
        "kind": ("multi", "chargeback"),
        "reason": ("multi", record["reason"]),
        "merchant_account_id": ("multi", txn["merchant_account_id"]),
        "amount_disputed": ("range", record["amount_cents"]),
        "received_date": ("range", record["created_at"]),
        "reply_by_date": ("range", record["reply_by"]),
        "effective_date": ("range", record["updated_at"]),
    }


def search(call: Call) -> tuple[str, Any]:
    criteria = criteria_of(call.body)
    page_text = call.query.get("page", "1")
    if not page_text.isdigit() or int(page_text) < 1:
        raise HTTPError(400, "page must be a positive integer")
    page = int(page_text)
    found = [
        record
        for record in sorted(call.store.disputes.values(), key=lambda r: r["created_at"])
        if matches(criteria, _fields(call.store, record))
    ]
    start = (page - 1) * DISPUTE_PAGE_SIZE
    chunk = found[start : start + DISPUTE_PAGE_SIZE]
    return "disputes", Collection(
        "dispute",
        render.page_fields(len(found), DISPUTE_PAGE_SIZE, page),
        [render.dispute(call.store, record) for record in chunk],
    )
