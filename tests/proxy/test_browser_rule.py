"""Browsers kept out of a forwarder without a client token (issue 28, "Why" rows 3 and 6).

A web page can make a browser send a CORS "simple request" (POST, `Content-Type: text/plain`) to the
forwarder on 127.0.0.1 without a preflight, and DNS rebinding lets it read the answer under its own name: without
a client token, a foreign `Origin` gets 403 and a `Host` that is not a loopback name gets 421, in the OpenAI
shape, before anything reaches the upstream. The watcher's HTTP surface keeps the same rule
(tests/status/test_http_hostile.py), and both copies of it are checked against one table here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from proxy.server import Running, running
from proxy.settings import Settings
from proxy.state import ProxyState
from tests.support.fwd_helpers import CHAT, CLIENT_TOKEN, entry, write_config
from tests.support.fwd_stubs import Upstream


@contextlib.asynccontextmanager
async def forwarder(tmp_path: Path, up: Upstream, **kwargs: object) -> AsyncIterator[Running]:
    path = tmp_path / "models-config.json"
    write_config(path, [entry("gpt-x", up)])
    state = ProxyState(path, Settings(), **kwargs)  # type: ignore[arg-type]
    state.load_initial()
    async with running(state, watch=False) as r:
        yield r


async def _post(r: Running, headers: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"http://127.0.0.1:{r.data_port}/v1/chat/completions",
            data=json.dumps(CHAT),
            headers={"Content-Type": "text/plain", **headers},
        ) as resp:
            return resp.status, json.loads(await resp.read())


async def test_a_cross_origin_simple_request_never_reaches_the_upstream(tmp_path: Path, openai_up: Upstream):
    async with forwarder(tmp_path, openai_up) as r:
        status, body = await _post(r, {"Origin": "https://evil.example"})
        assert status == 403
        assert body["error"]["type"] == "permission_error" and body["error"]["code"] == "cross_origin_refused"
        status, _ = await _post(r, {"Origin": "null"})
        assert status == 403
        assert openai_up.requests == []
        assert r.state.metrics.rejections.values.get((("reason", "cross_origin"),)) == 2
        status, _ = await _post(r, {"Origin": f"http://127.0.0.1:{r.data_port}"})  # its own origin
        assert status == 200


async def test_a_host_that_is_not_loopback_gets_421(tmp_path: Path, openai_up: Upstream):
    async with forwarder(tmp_path, openai_up) as r:
        for host in ("evil.example", f"evil.example:{r.data_port}", "localhost.evil.example"):
            status, body = await _post(r, {"Host": host})
            assert status == 421, host
            assert body["error"]["code"] == "misdirected_request"
        assert openai_up.requests == []
        for host in (f"localhost:{r.data_port}", "127.0.0.1", f"[::1]:{r.data_port}"):
            status, _ = await _post(r, {"Host": host})
            assert status == 200, host


async def test_allowed_hosts_and_origins_pass(tmp_path: Path, openai_up: Upstream):
    async with forwarder(tmp_path, openai_up, allow_hosts=["fwd.lan"], allow_origins=["https://app.lan"]) as r:
        assert (await _post(r, {"Host": "fwd.lan:8090"}))[0] == 200
        assert (await _post(r, {"Origin": "https://app.lan"}))[0] == 200
        assert (await _post(r, {"Host": "other.lan"}))[0] == 421
        assert (await _post(r, {"Origin": "https://other.lan"}))[0] == 403


async def test_with_a_client_token_the_rule_is_unchanged(tmp_path: Path, openai_up: Upstream):
    """The token is what keeps a page out then (a page cannot add an Authorization header without a preflight,
    which the forwarder never allows)."""
    async with forwarder(tmp_path, openai_up, client_token=CLIENT_TOKEN) as r:
        auth = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
        assert (await _post(r, {**auth, "Origin": "https://evil.example", "Host": "fwd.example"}))[0] == 200
        assert (await _post(r, {"Origin": "https://evil.example"}))[0] == 401


async def test_the_bearer_scheme_is_case_insensitive(tmp_path: Path, openai_up: Upstream):
    async with forwarder(tmp_path, openai_up, client_token=CLIENT_TOKEN) as r:
        for scheme in ("bearer", "BEARER", "Bearer"):
            assert (await _post(r, {"Authorization": f"{scheme} {CLIENT_TOKEN}"}))[0] == 200, scheme
        assert (await _post(r, {"Authorization": f"Basic {CLIENT_TOKEN}"}))[0] == 401


async def test_the_command_takes_the_allow_flags(tmp_path: Path, openai_up: Upstream):
    from tests.proxy.test_process import proxy_process

    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    async with proxy_process(cfg, "--allow-host", "fwd.lan", "--allow-origin", "https://app.lan") as (_, base, _a):
        async with aiohttp.ClientSession() as s:
            for headers, want in [
                ({"Host": "fwd.lan"}, 200),
                ({"Origin": "https://app.lan"}, 200),
                ({"Host": "evil.example"}, 421),
                ({"Origin": "https://evil.example"}, 403),
            ]:
                async with s.get(base + "/models", headers=headers) as resp:
                    assert resp.status == want, headers


# (Host, Origin, --allow-host, --allow-origin) -> the answer: None (served), 421 or 403. The forwarder and the
# watcher each keep a copy of the rule (proxy/ never imports reconciler/, and the reconciler shares with the
# forwarder only the models-config format); this one table holds both to the same answers.
RULE = [
    ((None, None, (), ()), None),  # HTTP/1.0 without Host: no browser sends that
    (("127.0.0.1:8090", None, (), ()), None),
    (("127.0.0.2", None, (), ()), None),
    (("localhost", None, (), ()), None),
    (("LocalHost:1", None, (), ()), None),
    (("[::1]:8090", None, (), ()), None),
    (("[::1]", None, (), ()), None),
    (("::1", None, (), ()), 421),  # not a Host header's spelling of an IPv6 address
    (("localhost.", None, (), ()), 421),
    (("evil.example", None, (), ()), 421),
    (("127.0.0.1.nip.io:8090", None, (), ()), 421),
    (("", None, (), ()), 421),
    (("fwd.lan:8090", None, ("fwd.lan",), ()), None),
    (("FWD.lan", None, ("fwd.lan",), ()), None),
    (("fwd.lan.evil", None, ("fwd.lan",), ()), 421),
    (("127.0.0.1:8090", "http://127.0.0.1:8090", (), ()), None),
    (("127.0.0.1:8090", "https://127.0.0.1:8090", (), ()), None),
    (("127.0.0.1:8090", "http://127.0.0.1:8091", (), ()), 403),
    (("127.0.0.1:8090", "http://localhost:8090", (), ()), 403),
    (("127.0.0.1:8090", "https://evil.example", (), ()), 403),
    (("127.0.0.1:8090", "null", (), ()), 403),
    (("127.0.0.1:8090", "", (), ()), 403),
    (("127.0.0.1:8090", "https://app.lan", (), ("https://app.lan",)), None),
    (("127.0.0.1:8090", "HTTPS://APP.LAN", (), ("https://app.lan/",)), None),
    (("127.0.0.1:8090", "https://app.lan:444", (), ("https://app.lan",)), 403),
    (("evil.example", "https://app.lan", (), ("https://app.lan",)), 421),  # the Host is looked at first
    ((None, "https://evil.example", (), ()), 403),
]


@pytest.mark.parametrize(("given", "want"), RULE, ids=[repr(g[:2]) for g, _ in RULE])
def test_the_forwarder_and_the_watcher_keep_the_same_rule(given: tuple, want: int | None):
    from proxy.browsers import BrowserRule as ForwarderRule
    from reconciler.status.browsers import BrowserRule as WatcherRule

    host, origin, hosts, origins = given
    assert ForwarderRule(hosts, origins).refusal(host, origin) == want
    assert WatcherRule(hosts, origins).refusal(host, origin) == want


def test_the_two_copies_differ_only_in_their_docstrings():
    """What keeps the copies one rule: a change to one without the other fails here."""
    root = Path(__file__).resolve().parents[2]
    forwarder, watcher = (
        (root / p).read_text().split('"""', 2)[2] for p in ("proxy/browsers.py", "reconciler/status/browsers.py")
    )
    assert forwarder == watcher
