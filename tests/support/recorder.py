"""A stand-in for the forwarder's admin API that records every request it gets, and a name that reaches it
without being a loopback name: the tests of where a token may be sent (issue 26)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.ports import free_port


class Recorder:
    """A forwarder admin API stand-in that answers anything and records who asked what, with which header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Authorization")))
                if self.path == "/metrics":
                    data = b'morpheus_proxy_in_flight{model="m",model_id="0x01"} 1\n'
                    ctype = "text/plain"
                else:
                    data = json.dumps({"version": "v1", "models": [], "lastReloadError": None}).encode()
                    ctype = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.httpd.server_address[1]

    def tokens(self) -> list[str | None]:
        return [auth for _, auth in self.requests]


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """A Recorder on a free loopback port, always stopped."""
    s = Recorder()
    t = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


def loopback_alias() -> str:
    """A name that reaches 127.0.0.1 here but is not a loopback name or address as the URL spells it."""
    for name in (socket.gethostname(), "127.1"):
        try:
            if all(info[4][0] == "127.0.0.1" for info in socket.getaddrinfo(name, None, socket.AF_INET)):
                return name
        except OSError:
            continue
    pytest.fail("no name resolves to 127.0.0.1 on this machine")
