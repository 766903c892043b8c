"""Disputes: the withdrawal, evidence and its deadline, and the decision on the sandbox clock.

A dispute withdraws its amount plus a 15.00 fee at once (`adjustment`, reporting category
`dispute`) and waits in `needs_response` until `evidence_details.due_by` (7 days). Evidence may
be staged (`POST /v1/disputes/{id}` with `evidence[...]`) and is sent with `submit=true`:
`under_review`, decided `REVIEW_SECONDS` later by the test rule of `decision()`. Won: the
amount and the fee come back (`dispute_reversal`). Lost (by the rule, by `close`, which accepts
the dispute, or by letting the deadline pass without submitting): the money stays withdrawn.
"""

from __future__ import annotations

from sandbox.stripe.context import Ctx, Route, get, merge_metadata, post
from sandbox.stripe.errors import invalid
from sandbox.stripe.params import (
    EXPAND,
    LIST_PARAMS,
    Bool,
    Enum,
    Loose,
    Metadata,
    Obj,
    Str,
    in_range,
)
from sandbox.stripe.resources.ledger import DAY, add_transaction, ledger_of, touch
from sandbox.stripe.store import JSON, random_id

DISPUTE_FEE = 1500
RESPONSE_SECONDS = 7 * DAY
REVIEW_SECONDS = 3 * DAY
# Stripe refuses evidence whose files add up to more than about 4.5 MB.
EVIDENCE_FILES_MAX_BYTES = 4_718_592
TEXT_MAX = 20_000
FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
TEXT_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
)
EVIDENCE = Obj(
    {
        **{name: Str(max_length=TEXT_MAX) for name in TEXT_FIELDS},
        **{name: Str(max_length=200) for name in FILE_FIELDS},
        # Card-network programmes the sandbox records but does not judge.
        "enhanced_evidence": Loose(),
        "appeal": Loose(),
    }
)
OPEN = ("needs_response", "warning_needs_response")


def _method_details(charge: JSON) -> JSON:
    kind = charge["payment_method_details"]["type"]
    if kind != "card":
        return {"type": kind, kind: {}}
    card = charge["payment_method_details"]["card"]
    return {
        "card": {
            "brand": card["brand"],
            "case_type": "chargeback",
            "network": card["network"],
            "network_reason_code": "10.4",
        },
        "type": "card",
    }


def disputable(charge: JSON) -> int:
    """What a cardholder can still dispute: captured and not refunded."""
    if not charge["captured"] or charge["disputed"]:
        return 0
    return int(charge["amount"] - charge["amount_refunded"])


def dispute_create(ctx: Ctx, charge: JSON, reason: str = "fraudulent") -> JSON:
    amount = disputable(charge)
    if amount <= 0:
        raise invalid(f"Charge {charge['id']} has nothing left to dispute.")
    dispute_id = random_id("du")
    txn = add_transaction(
        ctx,
        amount=-amount,
        fee=DISPUTE_FEE,
        currency=charge["currency"],
        source=dispute_id,
        kind="adjustment",
        category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
        source_type=ctx.store.private_of(str(charge["balance_transaction"])).get(
            "source_type", "card"
        ),
        fee_description="Dispute fee",
    )
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [txn],
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(TEXT_FIELDS + FILE_FIELDS),
            "enhanced_evidence": {},
        },
        "evidence_details": {
            "due_by": ctx.now + RESPONSE_SECONDS,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": _method_details(charge),
        "reason": reason,
        "status": "needs_response",
    }
    ctx.store.add(dispute, ctx.account)
    ledger_of(ctx.store, ctx.account)["disputes"].append(dispute_id)
    charge["disputed"] = True
    charge["dispute"] = dispute_id
    ctx.emit("charge.dispute.created", dispute)
    return dispute


def decision(dispute: JSON) -> str:
    """The sandbox's test rule for a submitted dispute.

    As in Stripe test mode, `uncategorized_text` containing `winning_evidence` wins and
    `losing_evidence` loses; otherwise the dispute is won when the evidence holds at least one
    file (a document backing the case) and lost when it is text only."""
    text = dispute["evidence"].get("uncategorized_text") or ""
    if "winning_evidence" in text:
        return "won"
    if "losing_evidence" in text:
        return "lost"
    return "won" if any(dispute["evidence"].get(name) for name in FILE_FIELDS) else "lost"


def next_due(private: JSON, dispute: JSON) -> int | None:
    """When the clock next changes this dispute: its deadline, or its decision."""
    if dispute["status"] in OPEN:
        return int(dispute["evidence_details"]["due_by"])
    if dispute["status"] == "under_review":
        return int(private["decide_at"])
    return None


def _close(ctx: Ctx, dispute: JSON, status: str) -> None:
    previous = {"status": dispute["status"]}
    dispute["status"] = status
    ledger = ledger_of(ctx.store, ctx.account)
    if dispute["id"] in ledger["disputes"]:
        ledger["disputes"].remove(dispute["id"])
    if status == "won":
        txn = add_transaction(
            ctx,
            amount=dispute["amount"],
            fee=-DISPUTE_FEE,
            currency=dispute["currency"],
            source=dispute["id"],
            kind="adjustment",
            category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
            source_type=ctx.store.private_of(dispute["balance_transactions"][0]["id"]).get(
                "source_type", "card"
            ),
            fee_description="Dispute fee refund",
        )
        dispute["balance_transactions"].append(txn)
        ctx.emit("charge.dispute.funds_reinstated", dispute)
    ctx.emit("charge.dispute.closed", dispute, previous=previous)


def resolve(ctx: Ctx, dispute: JSON, outcome: str) -> JSON:
    """The card network decides an open or reviewed dispute now (the control API's switch):
    won gives the amount and the fee back, lost keeps them withdrawn."""
    _closed_error(dispute)
    _close(ctx, dispute, outcome)
    _refresh(ctx, dispute)
    return dispute


def advance(ctx: Ctx, dispute: JSON) -> None:
    """Apply what the clock (now `ctx.now`) made due: a missed deadline or the decision."""
    if dispute["status"] in OPEN and dispute["evidence_details"]["due_by"] <= ctx.now:
        dispute["evidence_details"]["past_due"] = True
        _close(ctx, dispute, "lost")
    elif (
        dispute["status"] == "under_review"
        and ctx.store.private_of(dispute["id"])["decide_at"] <= ctx.now
    ):
        _close(ctx, dispute, decision(dispute))


def _refresh(ctx: Ctx, dispute: JSON) -> None:
    # The embedded balance transactions are copies once the state file is reloaded.
    dispute["balance_transactions"] = [
        ctx.store.objects[txn["id"]] for txn in dispute["balance_transactions"]
    ]


def _check_files(ctx: Ctx, evidence: JSON) -> None:
    total = 0
    for name in FILE_FIELDS:
        file_id = evidence.get(name)
        if not file_id:
            continue
        found = ctx.store.find(file_id, ctx.account, "file")
        if found is None or found["purpose"] != "dispute_evidence":
            raise invalid(
                f"No such file upload: '{file_id}'",
                param=f"evidence[{name}]",
                code="resource_missing",
            )
        total += int(found["size"])
    if total > EVIDENCE_FILES_MAX_BYTES:
        raise invalid(
            "The files you've attached to this dispute as evidence will exceed the limit for a "
            "dispute's total size. Try using smaller files as evidence.",
            param="evidence",
        )


def dispute_retrieve(ctx: Ctx) -> JSON:
    dispute = ctx.store.get(ctx.args[0], ctx.account, "dispute")
    _refresh(ctx, dispute)
    return dispute


def _closed_error(dispute: JSON) -> None:
    if dispute["status"] in ("won", "lost"):
        raise invalid(
            f"This dispute is already closed ({dispute['status']}).",
            code="dispute_unexpected_state",
        )


def dispute_update(ctx: Ctx) -> JSON:
    dispute = ctx.store.get(ctx.args[0], ctx.account, "dispute")
    _closed_error(dispute)
    sent = {k: v for k, v in (ctx.params.get("evidence") or {}).items() if v is not None}
    if (sent or ctx.params.get("submit")) and dispute["status"] not in OPEN:
        raise invalid(
            "This dispute's evidence has been submitted; it can no longer be changed.",
            param="evidence" if sent else "submit",
            code="dispute_unexpected_state",
        )
    previous: JSON = {}
    if sent:
        evidence = {**dispute["evidence"], **sent}
        _check_files(ctx, evidence)
        previous["evidence"] = dict(dispute["evidence"])
        dispute["evidence"] = evidence
        dispute["evidence_details"]["has_evidence"] = True
    if "metadata" in ctx.params:
        previous["metadata"] = dispute["metadata"]
        dispute["metadata"] = merge_metadata(dispute["metadata"], ctx.params["metadata"])
    if ctx.params.get("submit"):
        previous["status"] = dispute["status"]
        dispute["status"] = "under_review"
        dispute["evidence_details"]["submission_count"] += 1
        dispute["evidence_details"]["submission_method"] = "manual"
        ctx.store.private_of(dispute["id"])["decide_at"] = ctx.now + REVIEW_SECONDS
        touch(ctx.store, ctx.account)
    _refresh(ctx, dispute)
    ctx.emit("charge.dispute.updated", dispute, previous=previous)
    return dispute


def dispute_close(ctx: Ctx) -> JSON:
    """Accept the dispute: it is lost at once and the withdrawal stands."""
    dispute = ctx.store.get(ctx.args[0], ctx.account, "dispute")
    _closed_error(dispute)
    if dispute["status"] not in OPEN:
        raise invalid(
            f"This dispute is {dispute['status']}: only a dispute awaiting a response can be "
            "closed.",
            code="dispute_unexpected_state",
        )
    _refresh(ctx, dispute)
    _close(ctx, dispute, "lost")
    return dispute


def dispute_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("dispute", ctx.account)
    for name in ("charge", "payment_intent"):
        if ctx.params.get(name):
            items = [d for d in items if d[name] == ctx.params[name]]
    if ctx.params.get("created"):
        items = [d for d in items if in_range(d["created"], ctx.params["created"])]
    for dispute in items:
        _refresh(ctx, dispute)
    return ctx.store.page(items, ctx.params, "/v1/disputes")


ROUTES: list[Route] = [
    get("/v1/disputes", {**LIST_PARAMS, "charge": Str(), "payment_intent": Str()}, dispute_list),
    get("/v1/disputes/{id}", {"expand": EXPAND}, dispute_retrieve),
    post(
        "/v1/disputes/{id}",
        {
            "evidence": EVIDENCE,
            "metadata": Metadata(),
            "submit": Bool(),
            "intended_submission_method": Enum(
                "manual", "prefer_manual", "prefer_smart_disputes", "smart_disputes"
            ),
            "expand": EXPAND,
        },
        dispute_update,
    ),
    post("/v1/disputes/{id}/close", {"expand": EXPAND}, dispute_close),
]
