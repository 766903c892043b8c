"""Document uploads: the evidence files a merchant attaches to a dispute.

The SDK's `document_upload.create` posts `multipart/form-data` (not XML) to
`/document_uploads`: the file as `file` and `document_upload[kind]`, which must be
`evidence_document`. Braintree takes PDF, PNG and JPEG up to 4 MB; what is kept is what the
API shows of an upload (name, type, size), never its bytes.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from sandbox.braintree import errors
from sandbox.braintree.call import Call
from sandbox.braintree.errors import HTTPError, invalid
from sandbox.braintree.store import JSON

MAX_FILE_BYTES = 4 * 1024 * 1024
EVIDENCE_DOCUMENT = "evidence_document"
# Types by their first bytes (a name or a declared type proves nothing).
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_PATH = ("document_upload",)


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """`{"document_upload": {"kind": ..., "file": {"name", "content"}}}` from a form body."""
    if "boundary=" not in content_type:
        raise HTTPError(400, "a multipart body needs a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise HTTPError(400, "the request body is not multipart/form-data")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            fields["file"] = {"name": part.get_filename() or "", "content": payload}
        elif name == "document_upload[kind]":
            fields["kind"] = payload.decode("utf-8", "replace")
    return {"document_upload": fields}


def create(call: Call) -> tuple[str, Any]:
    params = call.section("document_upload")
    if params.get("kind") != EVIDENCE_DOCUMENT:
        raise invalid(_PATH, "kind", errors.DOCUMENT_UPLOAD_KIND_IS_INVALID, "Kind is invalid.")
    upload = params.get("file")
    content = upload.get("content") if isinstance(upload, dict) else None
    if not isinstance(content, bytes) or not content:
        raise invalid(_PATH, "file", errors.DOCUMENT_UPLOAD_FILE_IS_EMPTY, "File is empty.")
    if len(content) > MAX_FILE_BYTES:
        raise invalid(
            _PATH, "file", errors.DOCUMENT_UPLOAD_FILE_IS_TOO_LARGE, "File size is limited to 4 MB."
        )
    content_type = next((kind for magic, kind in _MAGIC if content.startswith(magic)), None)
    if content_type is None:
        raise invalid(
            _PATH,
            "file",
            errors.DOCUMENT_UPLOAD_FILE_TYPE_IS_INVALID,
            "Only PNG, JPG, JPEG and PDF files are accepted.",
        )
    record: JSON = {
        "id": call.store.new_id("document_uploads", 16),
        "kind": EVIDENCE_DOCUMENT,
        "name": str(upload.get("name") or "")[:255] if isinstance(upload, dict) else "",
        "content_type": content_type,
        "size": len(content),
        "created_at": call.now,
    }
    call.store.document_uploads[record["id"]] = record
    return "document_upload", render(record)


def render(record: JSON) -> JSON:
    return {
        "id": record["id"],
        "kind": record["kind"],
        "name": record["name"],
        "content_type": record["content_type"],
        "size": record["size"],
    }
