"""File uploads (`POST /v1/files`, multipart, Stripe's files origin path) and their contents.

Each purpose takes the types and sizes Stripe's file upload guide lists; the type is read from
the file's first bytes (as Stripe does), never from the name or the part's Content-Type. The
bytes are kept (in the state file too) so `GET /v1/files/{id}/contents` returns them, which
lets a test prove what a merchant actually sent.
"""

from __future__ import annotations

import base64

from sandbox.stripe.context import Ctx, Route, get, post
from sandbox.stripe.errors import invalid
from sandbox.stripe.params import (
    EXPAND,
    LIST_PARAMS,
    Bool,
    Enum,
    File,
    Int,
    Metadata,
    Obj,
    Upload,
    in_range,
)
from sandbox.stripe.resources.ledger import DAY
from sandbox.stripe.store import JSON, random_id

MB = 1024 * 1024
MIMETYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
# purpose -> (accepted types, maximum bytes, lifetime in seconds or None)
PURPOSES: dict[str, tuple[tuple[str, ...], int, int | None]] = {
    "dispute_evidence": (("pdf", "jpg", "png"), 5 * MB, 270 * DAY),
    "account_requirement": (("pdf", "jpg", "png"), 16 * MB, None),
    "additional_verification": (("pdf", "jpg", "png"), 16 * MB, None),
    "identity_document": (("pdf", "jpg", "png"), 16 * MB, None),
    "business_icon": (("jpg", "png", "gif"), MB // 2, None),
    "business_logo": (("jpg", "png", "gif"), MB // 2, None),
}
_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def sniff(content: bytes) -> str | None:
    """The file type its first bytes announce (pdf, jpg, png, gif), or None."""
    return next((kind for magic, kind in _MAGIC if content.startswith(magic)), None)


def file_create(ctx: Ctx) -> JSON:
    upload: Upload = ctx.params["file"]
    purpose = ctx.params["purpose"]
    if (ctx.params.get("file_link_data") or {}).get("create"):
        raise invalid("The sandbox does not make file links.", param="file_link_data[create]")
    kinds, limit, lifetime = PURPOSES[purpose]
    kind = sniff(upload.content)
    if kind not in kinds:
        raise invalid(
            "We don't currently support that file type. Try uploading a file with one of the "
            f"following mimetypes: {', '.join(MIMETYPES[k] for k in kinds)}.",
            param="file",
        )
    if len(upload.content) > limit:
        raise invalid(
            f"The file you uploaded is too large ({len(upload.content)} bytes): files for "
            f"{purpose} may be at most {limit} bytes.",
            param="file",
        )
    file_id = random_id("file")
    obj = {
        "id": file_id,
        "object": "file",
        "created": ctx.now,
        "expires_at": ctx.now + lifetime if lifetime else None,
        "filename": upload["filename"] or None,
        "links": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/file_links?file={file_id}",
        },
        "purpose": purpose,
        "size": len(upload.content),
        "title": None,
        "type": kind,
        "url": f"{ctx.base_url}/v1/files/{file_id}/contents",
    }
    ctx.store.add(obj, ctx.account)
    ctx.store.private_of(file_id).update(
        {"content": base64.b64encode(upload.content).decode(), "sha256": upload["sha256"]}
    )
    return obj


def file_retrieve(ctx: Ctx) -> JSON:
    return ctx.store.get(ctx.args[0], ctx.account, "file")


def file_contents(ctx: Ctx) -> JSON:
    """The uploaded bytes (base64) and MIME type; the provider answers them as raw bytes."""
    obj = ctx.store.get(ctx.args[0], ctx.account, "file")
    return {"content": ctx.store.private_of(obj["id"])["content"], "type": MIMETYPES[obj["type"]]}


def file_list(ctx: Ctx) -> JSON:
    items = ctx.store.items("file", ctx.account)
    if ctx.params.get("purpose"):
        items = [f for f in items if f["purpose"] == ctx.params["purpose"]]
    if ctx.params.get("created"):
        items = [f for f in items if in_range(f["created"], ctx.params["created"])]
    return ctx.store.page(items, ctx.params, "/v1/files")


ROUTES: list[Route] = [
    post(
        "/v1/files",
        {
            "file": File(required=True),
            "purpose": Enum(*PURPOSES, required=True),
            "file_link_data": Obj({"create": Bool(), "expires_at": Int(), "metadata": Metadata()}),
            "expand": EXPAND,
        },
        file_create,
    ),
    get("/v1/files", {**LIST_PARAMS, "purpose": Enum(*PURPOSES)}, file_list),
    get("/v1/files/{id}", {"expand": EXPAND}, file_retrieve),
    get("/v1/files/{id}/contents", {}, file_contents),
]
