"""HTTP plumbing shared by every stand-in: request and response values and the threaded server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger("sandbox")

# Stripe caps request bodies well below this; anything larger is a client bug or an attack.
MAX_BODY_BYTES = 1_000_000
# File uploads (multipart) may carry Stripe's largest file (16 MB) and the form around it.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024 + 65_536


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def base_url(self) -> str:
        """The origin the client used to reach us, so pages link back to the same host:port."""
        return "http://" + self.header("host", "127.0.0.1")

    def form(self) -> dict[str, str] | None:
        """Query fields, updated by a form-encoded POST body's; None when the body is not UTF-8."""
        fields = dict(parse_qsl(self.query))
        if self.method == "POST":
            try:
                fields.update(parse_qsl(self.body.decode("utf-8")))
            except UnicodeDecodeError:
                return None
        return fields

    def json(self) -> Any:
        """The body as JSON; an empty body is an empty object. Raises ValueError when invalid."""
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Close the socket without answering: the effect happened but the client never learns it.
    drop_connection: bool = False
    # Run once the answer is written (or the connection dropped): webhooks the call caused.
    after: list[Callable[[], None]] = field(default_factory=list)


App = Callable[[Request], Response]


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload, indent=2).encode() + b"\n"
    return Response(status, body, [("Content-Type", "application/json"), *(headers or [])])


def text_response(
    status: int, text: str, content_type: str = "text/html; charset=utf-8"
) -> Response:
    return Response(status, text.encode(), [("Content-Type", content_type)])


def redirect_response(location: str) -> Response:
    return Response(303, b"", [("Location", location)])


def _plain_error(status: int, message: str) -> Response:
    # Before routing we do not know which provider's error shape applies; Stripe's is the default.
    return json_response(status, {"error": {"type": "invalid_request_error", "message": message}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms a call on keep-alive connections), which real Stripe never adds.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _read_body(self, headers: Mapping[str, str]) -> bytes | Response:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _plain_error(
                411, "Chunked request bodies are not supported; send Content-Length."
            )
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            return _plain_error(400, "Invalid Content-Length header.")
        if length < 0:
            return _plain_error(400, "Invalid Content-Length header.")
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        if length > (MAX_UPLOAD_BYTES if multipart else MAX_BODY_BYTES):
            return _plain_error(413, "Request body too large.")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body(headers)
        if isinstance(body, Response):
            self.close_connection = True
            self._write(body)
            return
        request = Request(self.command, split.path or "/", split.query, headers, body)
        try:
            response = self.server.app(request)
        except Exception:
            logger.exception("unhandled error for %s %s", self.command, split.path)
            response = json_response(
                500,
                {"error": {"type": "api_error", "message": "The sandbox hit an internal error."}},
            )
        try:
            if response.drop_connection:
                self.close_connection = True
                return
            self._write(response)
        finally:
            for callback in response.after:
                callback()

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s " + format, self.address_string(), *args)


class SandboxHTTPServer(ThreadingHTTPServer):
    """One thread per connection; daemon threads so a stuck fault sleep never blocks shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app
