"""Disputes for tests: a real disputed payment at the sandbox, mirrored as Ledgerline's row."""

from __future__ import annotations

import zlib
from typing import Any

from compliance.actors import Actor
from payments.disputes import dispute_apply_processor_state
from payments.models import Dispute, ProcessorAccount

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CARD = "4242 4242 4242 4242"


def pdf_with_text(text: str, *, compressed: bool) -> bytes:
    """A minimal PDF whose page content draws `text` (in a Flate stream when `compressed`)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    body = zlib.compress(content) if compressed else content
    flate = b" /Filter /FlateDecode" if compressed else b""
    return (
        b"%%PDF-1.4\n4 0 obj<</Length %d%s>>\nstream\n" % (len(body), flate)
        + body
        + b"\nendstream\nendobj\n%EOF\n"
    )


def account_of(merchant: Any) -> str:
    return ProcessorAccount.objects.get(merchant=merchant).processor_account_id


def disputed_payment(merchant: Any, sandbox_control: Any) -> Dispute:
    """A 20.00 GBP payment the cardholder disputes at once, and the dispute as the
    `charge.dispute.created` event would have recorded it."""
    from payments import services

    payment = services.payment_create(
        merchant=merchant,
        actor=None,
        amount=2000,
        currency="gbp",
        payment_method="pm_card_createDispute",
    )
    [data] = sandbox_control.api_get("/v1/disputes", account=account_of(merchant), limit=10)["data"]
    dispute = dispute_apply_processor_state(
        payment=payment, data=data, actor=Actor.webhook("stripe")
    )
    assert dispute is not None
    return dispute


def processor_dispute(sandbox_control: Any, dispute: Dispute) -> dict[str, Any]:
    return sandbox_control.api_get(
        f"/v1/disputes/{dispute.processor_dispute_id}", account=account_of(dispute.merchant)
    )


def processor_files(sandbox_control: Any, dispute: Dispute) -> list[dict[str, Any]]:
    return sandbox_control.api_get(
        "/v1/files", account=account_of(dispute.merchant), purpose="dispute_evidence", limit=100
    )["data"]
