"""A minimal scripted HTTP endpoint answering Plaid's JSON, for what the sandbox never says.

Most banking tests run against the sandbox Plaid (tests/banking/linking.py). This stub stays for
answers only a script can give: malformed entries, error text that echoes a secret, error codes
from flows the gateway is not part of, webhook keys a test controls (expiry, a slow answer to
hold concurrent first uses). It is the other side of a real socket (the SDK and urllib3 run
unchanged); each test queues the answers a path should give and reads back what was asked.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PlaidStub:
    def __init__(self) -> None:
        self.answers: dict[str, deque[tuple[int, Any]]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.url = ""
        # Seconds each answer waits, to hold concurrent callers inside a request.
        self.delay = 0.0

    def answer(self, path: str, body: Any, status: int = 200) -> None:
        self.answers[path].append((status, body))

    def error(self, path: str, error_type: str, error_code: str, status: int = 400) -> None:
        self.answer(
            path,
            {
                "error_type": error_type,
                "error_code": error_code,
                "error_message": "message that may echo access-sandbox-secret",
                "display_message": None,
                "request_id": "req123",
            },
            status,
        )

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]


@contextmanager
def plaid_stub() -> Iterator[PlaidStub]:
    stub = PlaidStub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with stub.lock:
                stub.requests.append((self.path, body))
                queued = stub.answers[self.path]
                status, answer = queued.popleft() if queued else (404, {"error_type": "X"})
            if stub.delay:
                time.sleep(stub.delay)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    with serving(Handler) as url:
        stub.url = url
        yield stub


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
