"""Proxy observer against a real loopback HTTP server speaking the forwarder's admin API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired.modelsconfig import config_version
from reconciler.devnet.anvil import free_port
from reconciler.observe.proxy import observe_proxy, observe_router
from tests.support.planfactory import desired_from

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models-config-reconciler-nonascii.json"
TOKEN = "admin-token-for-tests"


class AdminServer:
    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.requests: list[str] = []
        self.health: dict[str, Any] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/healthcheck":
                    return self._send(200, server.health)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": "unauthorized"})
                if self.path == "/admin/config":
                    return self._send(200, server.body)
                return self._send(404, {})

            def _send(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def admin() -> Iterator[AdminServer]:
    s = AdminServer()
    t = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


def with_admin(url: str, path: Path) -> Any:
    return desired_from(
        **{
            "  modelsConfigPath: /tmp/never-written/forwarder.json": f"  modelsConfigPath: {path}\n"
            f"  adminUrl: {url}\n  adminToken: env:ADMIN_TOKEN"
        }
    )


def test_reads_served_config_with_fingerprints(admin: AdminServer, tmp_path: Path) -> None:
    obj = json.loads(FIXTURE.read_text())
    version = config_version(obj)
    admin.body = {
        "version": version,
        "loadedAt": "2026-11-25T20:00:00Z",
        "source": str(FIXTURE),
        "models": [
            {**{k: v for k, v in m.items() if k != "apiKey"}, "apiKeyFingerprint": "2fcfc3fa2473"}
            for m in obj["models"][:1]
        ],
        "lastReloadError": None,
    }
    d = with_admin(admin.url, FIXTURE)
    state = observe_proxy(d, {"ADMIN_TOKEN": TOKEN})
    assert state.reachable is True and state.served is not None
    assert state.served.version == version == state.file.version  # type: ignore[union-attr]
    assert state.served.entries[0].api_key_fingerprint == "2fcfc3fa2473"
    assert TOKEN not in repr(state)


def test_unreachable_or_unauthorised_admin_is_reported_not_raised(admin: AdminServer, tmp_path: Path) -> None:
    d = with_admin(admin.url, tmp_path / "f.json")
    state = observe_proxy(d, {"ADMIN_TOKEN": "wrong"})
    assert state.reachable is False and "401" in (state.note or "")
    closed = with_admin(f"http://127.0.0.1:{free_port()}", tmp_path / "f.json")
    state = observe_proxy(closed, {"ADMIN_TOKEN": TOKEN})
    assert state.reachable is False and state.file is not None and not state.file.exists
    state = observe_proxy(d, {})
    assert state.reachable is False and "env:ADMIN_TOKEN" in (state.note or "")


def test_router_healthcheck_lists_loaded_models(admin: AdminServer, tmp_path: Path) -> None:
    mid = "0x" + "ab" * 32
    admin.health = {"status": "healthy", "models": [{"modelId": mid.upper().replace("0X", "0x"), "status": "healthy"}]}
    d = desired_from(
        **{
            "  modelsConfigPath: /tmp/never-written/forwarder.json": f"  modelsConfigPath: {tmp_path / 'f.json'}\n"
            f"  clientToken: env:C\n  forwarderUrl: http://127.0.0.1:8090\n  router:\n"
            f"    modelsConfigPath: {tmp_path / 'r.json'}\n    url: {admin.url}"
        }
    )
    state = observe_router(d)
    assert state.loaded_model_ids == frozenset({mid})
