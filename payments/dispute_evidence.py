"""Dispute evidence: the fields Ledgerline supports, and the checks every piece passes before
anything is sent to the processor.

Used by the dashboard's evidence form and the API alike, so both refuse the same things with the
same words: a file of another type than PDF, PNG or JPEG (read from its first bytes, never its
name or the browser's Content-Type), a file or a set of files over the processor's size limits,
and a card number in any text field or inside a document. Documents are scanned where card
numbers can be found without OCR: the raw bytes (text PDFs, image metadata such as PNG text
chunks) and every zlib-compressed PDF stream, decompressed with a bound.

Nothing here stores anything: uploads are held in memory (`EvidenceUploadHandler`) for the one
request that sends them, and kept afterwards only when the merchant asks (services).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers

from config.card_numbers import contains_card_number

# The processor's limit for a dispute's evidence documents together (Stripe: 4.5 MB), which
# is therefore also the limit of any one of them.
MAX_TOTAL_BYTES = 4_718_592
MAX_FILE_BYTES = MAX_TOTAL_BYTES
TEXT_MAX_LENGTH = 20_000

# Text evidence: field -> (label, help). Names are the card networks' (and Stripe's) evidence
# names, so a gateway maps them one for one.
TEXT_FIELDS: dict[str, tuple[str, str]] = {
    "product_description": (
        "Product or service description",
        "What the customer bought, and when and how it was delivered.",
    ),
    "customer_name": ("Customer name", ""),
    "customer_email_address": ("Customer email address", ""),
    "billing_address": ("Billing address", ""),
    "shipping_address": ("Shipping address", ""),
    "shipping_carrier": ("Shipping carrier", ""),
    "shipping_tracking_number": ("Shipping tracking number", ""),
    "shipping_date": ("Shipping date", "As written on the shipping documents."),
    "refund_policy_disclosure": (
        "Refund policy disclosure",
        "How and when the customer was shown the refund policy.",
    ),
    "cancellation_rebuttal": (
        "Why the customer is not owed a cancellation",
        "",
    ),
    "uncategorized_text": ("Anything else", "Any other facts that support your case."),
}
# Documents: field -> label.
FILE_FIELDS: dict[str, str] = {
    "receipt": "Receipt",
    "customer_communication": "Customer communication",
    "shipping_documentation": "Shipping documentation",
    "refund_policy": "Refund policy",
    "uncategorized_file": "Other document",
}

# Types by their first bytes, as the processor reads them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
TYPE_MESSAGE = "must be a PDF, PNG or JPEG document"
# A compressed PDF stream is inflated at most this far while scanning (a zip bomb stops here).
_INFLATE_LIMIT = 16 * 1024 * 1024
_STREAM_RE = re.compile(rb"stream\r?\n")


class EvidenceError(ValueError):
    """One piece of evidence refused; `field` names it, the message never repeats its content."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class EvidenceDocument:
    """A checked document, in memory: what is sent, and what the audit and the record keep."""

    field: str
    filename: str
    content: bytes = dataclasses.field(repr=False)
    type: str = ""

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.type]

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.content)


def sniff(content: bytes) -> str | None:
    """The document type its first bytes announce ("pdf", "jpg", "png"), or None."""
    return next((kind for magic, kind in _MAGIC if content.startswith(magic)), None)


def _inflated_streams(content: bytes) -> list[bytes]:
    """The zlib-compressed streams of a PDF, inflated (up to a total bound)."""
    found: list[bytes] = []
    budget = _INFLATE_LIMIT
    for match in _STREAM_RE.finditer(content):
        start = match.end()
        end = content.find(b"endstream", start)
        if end < 0 or budget <= 0:
            break
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(content[start:end], budget)
        except zlib.error:
            continue  # not zlib (an image's own encoding): the raw scan covers it
        budget -= len(data)
        found.append(data)
    return found


def document_holds_card_number(content: bytes, kind: str) -> bool:
    """True when the document's bytes, or a PDF's inflated streams, hold a card number."""
    texts = [content]
    if kind == "pdf":
        texts.extend(_inflated_streams(content))
    # Latin-1 maps every byte to one character, so digit runs are found wherever they are.
    return any(contains_card_number(text.decode("latin-1")) for text in texts)


def check_document(*, field: str, filename: str, content: bytes) -> EvidenceDocument:
    """The document, checked for type, size and card numbers, or `EvidenceError`."""
    label = FILE_FIELDS[field]
    if not content:
        raise EvidenceError(field, f"{label}: the file is empty.")
    if len(content) > MAX_FILE_BYTES:
        raise EvidenceError(field, f"{label}: the file is larger than {_mb(MAX_FILE_BYTES)}.")
    kind = sniff(content)
    if kind is None:
        raise EvidenceError(field, f"{label}: the file {TYPE_MESSAGE}.")
    if document_holds_card_number(content, kind):
        raise EvidenceError(
            field,
            f"{label}: the document contains what looks like a card number. Remove or black "
            "out the card number and upload it again.",
        )
    return EvidenceDocument(
        field=field, filename=_display_name(filename), content=content, type=kind
    )


def check_documents(documents: list[EvidenceDocument]) -> None:
    """Refuse a set of documents over the processor's total size."""
    total = sum(document.size for document in documents)
    if total > MAX_TOTAL_BYTES:
        raise EvidenceError(
            "files",
            f"The documents add up to more than {_mb(MAX_TOTAL_BYTES)}, the most a dispute "
            "can carry. Send fewer or smaller files.",
        )


def clean_text(values: dict[str, Any]) -> dict[str, str]:
    """The non-empty text fields, stripped; `EvidenceError` for a card number or a long text."""
    cleaned: dict[str, str] = {}
    for name, (label, _) in TEXT_FIELDS.items():
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise EvidenceError(name, f"{label}: must be text.")
        value = value.strip()
        if not value:
            continue
        if len(value) > TEXT_MAX_LENGTH:
            raise EvidenceError(name, f"{label}: at most {TEXT_MAX_LENGTH} characters.")
        if contains_card_number(value):
            raise EvidenceError(
                name,
                f"{label}: this looks like a card number. Card numbers must never be sent as "
                "evidence: remove the digits.",
            )
        cleaned[name] = value
    return cleaned


def _display_name(filename: str) -> str:
    """The merchant's file name for display only (never sent: the processor gets the field's
    name); a card number in it is replaced rather than refused."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:120] or "document"
    return "document" if contains_card_number(name) else name


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class EvidenceUploadHandler(FileUploadHandler):
    """Holds each uploaded file in memory up to `MAX_FILE_BYTES` and drops the rest, so an
    evidence upload never touches the disk and an oversize one is never held whole.

    A file over the limit arrives as an empty `InMemoryUploadedFile` named in
    `oversize_fields`, so the form can say which file was too large.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.oversize_fields: set[str] = set()
        self._buffer = io.BytesIO()
        self._too_big = False

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._buffer = io.BytesIO()
        self._too_big = False
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if not self._too_big and self._buffer.tell() + len(raw_data) > MAX_FILE_BYTES:
            self._too_big = True
            self._buffer = io.BytesIO()
        if not self._too_big:
            self._buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        if self._too_big:
            self.oversize_fields.add(str(self.field_name))
        self._buffer.seek(0)
        return InMemoryUploadedFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self._buffer.getbuffer().nbytes,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
