"""The watcher's HTTP surface over real loopback HTTP: open on loopback without a token; with one, every route but
/healthz and /login needs it (bearer for Prometheus, a cookie from the login form for a browser); and the
watcher refuses to start off loopback without one, as the forwarder does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.status import auth
from reconciler.status.server import WatchServer
from reconciler.watch.metrics import WatchMetrics
from tests.support.ports import free_port

TOKEN = "page-token-canary-7f3a-0123456789abcdef"  # at least 32 characters
ROOT = Path(__file__).resolve().parents[2]


def test_the_rule() -> None:
    assert auth.refusal("0.0.0.0", None) is not None
    assert auth.refusal("192.0.2.7", None) is not None
    assert auth.refusal("::", None) is not None
    assert auth.refusal("127.0.0.1", None) is None and auth.refusal("localhost", None) is None
    assert auth.refusal("[::1]", None) is None
    assert auth.refusal("0.0.0.0", "t") is None
    now = 1_800_000_000
    assert auth.cookie_value(TOKEN, now) != TOKEN and TOKEN not in auth.cookie_value(TOKEN, now)
    assert auth.authorized("/metrics", {}, {}, None)
    assert not auth.authorized("/metrics", {}, {}, TOKEN)
    assert auth.authorized("/healthz", {}, {}, TOKEN)
    assert auth.authorized("/metrics", {"Authorization": f"Bearer {TOKEN}"}, {}, TOKEN)
    assert not auth.authorized("/metrics", {"Authorization": "Bearer nope"}, {}, TOKEN)
    assert auth.authorized("/", {}, {auth.COOKIE: auth.cookie_value(TOKEN, now)}, TOKEN, now=now)
    assert not auth.authorized("/", {}, {auth.COOKIE: TOKEN}, TOKEN, now=now)


def test_the_server_will_not_bind_off_loopback_without_a_token() -> None:
    with pytest.raises(PermissionError, match="without a token"):
        WatchServer(WatchMetrics(), "0.0.0.0", 0)


def _watch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "watch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_watch_refuses_to_start_off_loopback_without_a_token(tmp_path: Path) -> None:
    yaml = ROOT / "examples" / "desired-state" / "devnet.yaml"
    port = str(free_port())
    r = _watch(str(yaml), "--http-listen", f"0.0.0.0:{port}", "--state-dir", str(tmp_path))
    assert r.returncode == 1 and "refusing to serve" in r.stderr and "--http-token" in r.stderr
    assert r.stdout == ""  # no run started
    r = _watch(str(yaml), "--metrics-listen", f"0.0.0.0:{port}", "--state-dir", str(tmp_path))
    assert r.returncode == 1 and "refusing to serve" in r.stderr
    r = _watch(str(yaml), "--http-listen", f"0.0.0.0:{port}", "--http-token", "env:NO_SUCH_TOKEN")
    assert r.returncode == 1 and "has no value" in r.stderr


def test_token_bearer_login_form_and_cookie() -> None:
    m = WatchMetrics()
    m.run_finished("converged", pending=0)
    server = WatchServer(m, "127.0.0.1", 0, TOKEN, page=lambda: {"ready": False}).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=base) as c:
            assert c.get("/healthz").text == "ok\n"
            assert c.get("/metrics").status_code == 401
            assert c.get("/api/status").status_code == 401
            assert c.get("/fragment").status_code == 401
            r = c.get("/")
            assert r.status_code == 303 and r.headers["location"] == "/login"
            ok = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200 and "reconcile_watch_runs_total" in ok.text
            form = c.get("/login")
            assert form.status_code == 200 and 'name="token"' in form.text and TOKEN not in form.text
            bad = c.post("/login", data={"token": "guess"})
            assert (
                bad.status_code == 401
                and "wrong token" in bad.text
                and auth.COOKIE not in bad.headers.get("set-cookie", "")
            )
            good = c.post("/login", data={"token": TOKEN})
            assert good.status_code == 303 and good.headers["location"] == "/"
            cookie = good.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
            page = c.get("/")  # the client keeps the cookie
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert (
                "Content-Security-Policy" in page.headers
                and "script-src 'self'" in page.headers["Content-Security-Policy"]
            )
            assert c.get("/api/status").json() == {"ready": False}
            assert c.get("/metrics").status_code == 200  # the cookie opens /metrics too
            assert c.get("/page.js").status_code == 200
    finally:
        server.stop()


def test_open_on_loopback_without_a_token() -> None:
    server = WatchServer(WatchMetrics(), "127.0.0.1", 0, page=lambda: {"ready": False}).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/metrics").status_code == 200
        assert httpx.get(base + "/").status_code == 200
        assert httpx.get(base + "/nope").status_code == 404
    finally:
        server.stop()


def test_the_last_20_runs_or_all_of_them() -> None:
    from dataclasses import replace

    from reconciler.status.page import build_page
    from tests.status.test_page import glance_inputs

    inputs = glance_inputs()
    server = WatchServer(
        WatchMetrics(), "127.0.0.1", 0, page=lambda runs=20: build_page(replace(inputs, runs_shown=runs))
    ).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
            assert len(c.get("/api/status").json()["runs"]) == 20
            assert len(c.get("/api/status?runs=all").json()["runs"]) == 25
            assert c.get("/fragment?runs=all").text.count('<tr class="run"') == 25
            assert c.get("/fragment").text.count('<tr class="run"') == 20
    finally:
        server.stop()
