"""A loopback stand-in for the Morpheus proxy-router's /healthcheck (what `proxy.router.url` is asked): it lists
the models it holds, answers with the status a test sets, and counts what it is asked; always stopped."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.ports import free_port


class Router:
    """What the stub answers (`status`, `models`: the ids it lists) and how often it was asked."""

    def __init__(self, models: list[str], status: int) -> None:
        self.models = models
        self.status = status
        self.asked = 0


@contextmanager
def router_stub(models: list[str] | None = None, status: int = 200) -> Iterator[tuple[Router, str]]:
    """Yields the stub and its base URL."""
    router = Router(list(models or []), status)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            router.asked += 1
            body = json.dumps({"Status": "healthy", "Models": [{"Id": m} for m in router.models]}).encode()
            self.send_response(router.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield router, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
