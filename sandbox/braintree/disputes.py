"""Disputes: opened on a settled sale, answered by the merchant (accept, evidence, finalize).

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
    record = _get(call)
    params = call.section("evidence")
    if record["status"] != "open":
        raise invalid(
            ("dispute",),
            "status",
            errors.DISPUTE_CAN_ONLY_ADD_EVIDENCE_TO_OPEN,
            "Evidence can only be attached to disputes that are in an Open state",
        )
    comment = params.get("comments")
    if params.get("document_upload_id"):
        raise HTTPError(400, "the sandbox takes text evidence only")
    if not isinstance(comment, str) or not comment.strip():
        raise invalid(("dispute",), "comments", errors.TYPE_IS_INVALID, "Content is required.")
    if len(comment) > MAX_EVIDENCE_CHARS:
        raise invalid(
            ("dispute",),
            "comments",
            errors.DISPUTE_EVIDENCE_CONTENT_TOO_LONG,
            "The evidence content is too long.",
        )
    category = params.get("category")
    sequence = params.get("sequence_number")
    item = {
        "id": random_id(12),
        "comment": comment,
        "category": category if isinstance(category, str) and category else None,
        "sequence_number": sequence if isinstance(sequence, int) else None,
        "created_at": call.now,
    }
    record["evidence"].append(item)
    record["updated_at"] = call.now
    return "evidence", render.evidence(item)


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
    comments = {item["comment"].strip() for item in record["evidence"]}
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
