"""A throwaway merchant web page on its own origin, for browser tests of the processors' forms.

It serves one HTML page and records every POST it receives, so a test can prove that card
numbers and bank credentials reach only the processor's origin, never the merchant's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Merchant:
    url: str
    posts: list[bytes] = field(default_factory=list)


@contextmanager
def merchant_site(page: str) -> Iterator[Merchant]:
    body = page.encode()
    box: dict[str, Merchant] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            box["m"].posts.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["m"] = Merchant(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield box["m"]
    finally:
        server.shutdown()
        server.server_close()
