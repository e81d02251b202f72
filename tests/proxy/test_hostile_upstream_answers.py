"""Upstreams whose answers are well-formed HTTP but not what an API answers: redirects, non-JSON bodies.

Driven through the official SDKs against the in-process forwarder and `fwd_hostile` loopback upstreams.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest

from tests.support.fwd_helpers import base_url, entry, eventually, in_flight, write_config
from tests.support.fwd_hostile import Conn, head, hostile_upstream, real_forwarder
from tests.support.fwd_stubs import UPSTREAM_KEY


@pytest.mark.parametrize("api_type", ["openai", "claudeai"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", ["302 Found", "307 Temporary Redirect", "308 Permanent Redirect"])
async def test_an_upstream_redirect_is_a_502_and_is_never_followed(make_proxy, api_type, stream, status):
    """A 3xx went to the client without its Location (for claudeai, the redirect's JSON body became an empty
    completion); it is a 502 now, and the host it points to never sees a request (nor the key)."""

    async def elsewhere_mode(conn: Conn) -> None:
        await conn.read_request()

    async with hostile_upstream(elsewhere_mode) as elsewhere:

        async def mode(conn: Conn) -> None:
            while await conn.read_request():
                body = b'{"type": "message", "content": []}'
                location = f"Location: {elsewhere.url}/v1/chat/completions"
                await conn.send(
                    head(status, location, "Content-Type: application/json", f"Content-Length: {len(body)}") + body
                )

        async with hostile_upstream(mode) as up, make_proxy([entry("m", up, api_type=api_type)]) as r:
            client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
            with pytest.raises(openai.APIStatusError) as err:
                await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            assert err.value.status_code == 502
            assert err.value.body["code"] == "upstream_redirect"  # type: ignore[index]
            assert UPSTREAM_KEY not in str(err.value.body)
            assert len(up.requests) == 1 and elsewhere.requests == []
            await eventually(lambda: in_flight(r, "m") == 0)
            assert r.state.budget.allow(r.state.config.routes[0].budget_key)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"error": {"type": "overloaded_error", "message": "Overloaded"}}', b'{"content": [], "usage": {}}'],
)
async def test_a_claude_200_that_is_not_a_message_is_a_502(make_proxy, body: bytes):
    """Any JSON object was translated: `{}` or a gateway's error sent with 200 became an empty completion
    with finish_reason null, which a client takes for the model's (empty) answer."""

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(head("200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}") + body)

    async with hostile_upstream(mode) as up, make_proxy([entry("m", up, api_type="claudeai")]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 502
        assert err.value.body["code"] == "upstream_bad_response"  # type: ignore[index]


def _answering(status: str, ctype: str, body: bytes) -> Callable[[Conn], Awaitable[None]]:
    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            lines = [f"Content-Type: {ctype}"] if ctype else []
            await conn.send(head(status, *lines, f"Content-Length: {len(body)}") + body)

    return mode


NOT_JSON = {
    "an HTML page": ("200 OK", "text/html", b"<html><body>Just a moment...</body></html>"),
    "broken JSON": ("200 OK", "application/json", b'{"choices": ['),
    "an empty 200": ("200 OK", "application/json", b""),
    "a 204": ("204 No Content", "", b""),
    "a JSON list": ("200 OK", "application/json", b"[1, 2]"),
}


@pytest.mark.parametrize(("status", "ctype", "body"), NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize("kind", ["chat/completions", "embeddings"])
async def test_an_openai_2xx_that_is_not_a_json_object_is_a_502(make_proxy, status, ctype, body, kind):
    """These passed on as the upstream's 2xx: the SDK then failed on a body it could not decode, and the
    forwarder counted a success. Now a 502 the SDK reports, and an upstream failure in the metrics."""
    async with hostile_upstream(_answering(status, ctype, body)) as up, make_proxy([entry("m", up, kind=kind)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            if kind == "embeddings":
                await client.embeddings.create(model="m", input="hi")
            else:
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 502
        assert err.value.body["code"] == "upstream_bad_response"  # type: ignore[index]
        assert 'kind="bad_body"' in r.state.metrics.render()


async def test_a_json_answer_with_an_odd_content_type_still_passes(make_proxy):
    """The check is on the body, not the header: JSON labelled text/plain is still the answer."""
    body = b'{"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}'
    async with hostile_upstream(_answering("200 OK", "text/plain", body)) as up, make_proxy([entry("m", up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        out = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert out.id == "c1"


async def test_a_keep_alive_timeout_that_only_looks_like_a_number_is_ignored(make_proxy, caplog):
    """Headers are decoded as latin-1: `timeout=\\xb2` (superscript two) passed isdigit() and broke int() when
    the connection was handed back, after the answer: a 500 for an answer that had arrived whole."""
    body = b'{"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}'

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nKeep-Alive: timeout=\xb2\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )

    async with hostile_upstream(mode) as up, make_proxy([entry("m", up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        for _ in range(2):
            out = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert out.id == "c1"
    assert not [rec for rec in caplog.records if rec.name in ("morpheus_proxy", "aiohttp.server")], caplog.text


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_deeply_nested_prodia_job_answer_passes_on_in_the_real_process(tmp_path, method):
    """The relay reads a Prodia v1 answer to find its job; JSON nested past the recursion limit raised
    RecursionError there (not caught, unlike everywhere else): a 500 with a traceback. Now it is simply not a
    job, and passes on. Run as its own process: this test process has a raised recursion limit."""
    deep = b'{"job": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(head("200 OK", "Content-Type: application/json", f"Content-Length: {len(deep)}") + deep)

    async with hostile_upstream(mode) as up:
        cfg = tmp_path / "c.json"
        e = {**entry("img", up), "apiType": "prodia-sd", "apiUrl": up.url + "/v1/sd/generate"}
        write_config(cfg, [e])
        async with real_forwarder(cfg) as fwd, aiohttp.ClientSession() as s:
            url = f"http://127.0.0.1:{fwd.port}/v1/relay/{e['modelId']}" + ("/job/j1" if method == "GET" else "")
            async with s.request(method, url, json={"prompt": "x"} if method == "POST" else None) as resp:
                assert resp.status == 200
                assert await resp.read() == deep
    assert b"Traceback" not in fwd.stderr, fwd.stderr.decode()[-2000:]
