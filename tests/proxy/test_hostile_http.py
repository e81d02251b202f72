"""Hostile clients at the HTTP level, on raw sockets against a real forwarder: malformed multipart bodies,
malformed request heads, Expect: 100-continue. Each is the client's mistake (or an ordinary client habit): an
OpenAI-shaped answer with the right status, and no traceback in the log."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.proxy.test_hostile_client import raw_exchange, request
from tests.support.fwd_helpers import entry
from tests.support.fwd_stubs import Upstream


def _multipart(body: bytes, boundary: str | None = "b") -> bytes:
    ctype = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    return request("/v1/audio/transcriptions", [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"], body)


MALFORMED_MULTIPART = {
    "no boundary parameter": _multipart(b"hello", boundary=None),
    "no starting boundary": _multipart(b"hello"),
    "a wrong closing boundary": _multipart(
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n--c--\r\n'
    ),
}


@pytest.mark.parametrize("data", MALFORMED_MULTIPART.values(), ids=MALFORMED_MULTIPART.keys())
async def test_a_malformed_multipart_body_is_a_400(openai_up: Upstream, make_proxy, caplog, data: bytes):
    """aiohttp's multipart reader raises ValueError on these: it was a 500 with a traceback."""
    caplog.set_level(logging.WARNING)
    async with make_proxy([entry("stt", openai_up, kind="audio/transcriptions")]) as r:
        status, answer = await raw_exchange(r.data_port, data)
        assert status == 400, answer
        assert b'"code": "invalid_multipart"' in answer and b'"type": "invalid_request_error"' in answer
    assert openai_up.requests == []
    assert not caplog.records, caplog.text


MALFORMED_HEADS = {
    "a header over aiohttp's line limit": b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Long: "
    + b"SECRET" * 2000
    + b"\r\n\r\n",
    "an HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "a negative Content-Length": request("/v1/chat/completions", ["Content-Length: -1"]),
    "a bad chunk size": request("/v1/chat/completions", ["Transfer-Encoding: chunked"], b"zz\r\n"),
}


@pytest.mark.parametrize("data", MALFORMED_HEADS.values(), ids=MALFORMED_HEADS.keys())
async def test_a_malformed_request_is_an_openai_shaped_400_logged_without_a_traceback(
    openai_up: Upstream, make_proxy, caplog, data: bytes
):
    """aiohttp answered these in text/plain quoting the client's bytes and logged each at ERROR with a
    traceback (a scanner could fill the log); the forwarder goes on serving."""
    caplog.set_level(logging.DEBUG)
    async with make_proxy([entry("gpt-x", openai_up)]) as r:
        status, answer = await raw_exchange(r.data_port, data)
        assert status == 400
        assert json.loads(answer)["error"] == {
            "message": "malformed HTTP request",
            "type": "invalid_request_error",
            "param": None,
            "code": "http_400",
        }
        status, answer = await raw_exchange(r.data_port, b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert status == 200
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING or rec.exc_info], caplog.text
    assert "SECRET" not in caplog.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/audio/transcriptions"])
async def test_expect_100_continue_gets_a_100_before_the_body_is_sent(openai_up: Upstream, make_proxy, path):
    """curl (uploads over 1 MiB), .NET and Java clients wait for `100 Continue` before sending the body; the
    forwarder's low-level server sent none, so such a client waited until its own timeout, or the forwarder's
    read deadline answered 408."""
    models = [entry("gpt-x", openai_up), entry("stt", openai_up, kind="audio/transcriptions")]
    if "chat" in path:
        ctype, body = (
            "application/json",
            json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}),
        )
    else:
        ctype = "multipart/form-data; boundary=b"
        body = (
            '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n'
            '--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b--\r\n'
        )
    data = body.encode()
    async with make_proxy(models) as r:
        reader, writer = await asyncio.open_connection("127.0.0.1", r.data_port)
        try:
            writer.write(
                request(path, [f"Content-Type: {ctype}", f"Content-Length: {len(data)}", "Expect: 100-continue"])
            )
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(data)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 ")
        finally:
            writer.close()


async def test_no_100_continue_when_the_head_alone_is_refused(openai_up: Upstream, make_proxy):
    """The point of Expect: a request refused from its head (here a declared length over the cap) gets its
    final answer at once, and the client never sends the body."""
    async with make_proxy([entry("gpt-x", openai_up)], max_json_body_bytes=1000) as r:
        head = request(
            "/v1/chat/completions", ["Content-Type: application/json", "Content-Length: 5000", "Expect: 100-continue"]
        )
        status, answer = await raw_exchange(r.data_port, head)
        assert status == 413 and b"invalid_request_error" in answer


async def test_a_slow_loris_head_is_closed_at_the_read_deadline_and_keep_alive_is_not(openai_up: Upstream, make_proxy):
    """A client trickling a request head held its connection for aiohttp's keep-alive timeout (an hour): a
    few thousand such clients exhaust the file descriptors. A head now has request_read_timeout, as a body
    has; an idle keep-alive connection (a router's pool) that completed its request is left alone."""
    async with make_proxy([entry("gpt-x", openai_up)], request_read_timeout=0.3) as r:
        loris_reader, loris = await asyncio.open_connection("127.0.0.1", r.data_port)
        pooled_reader, pooled = await asyncio.open_connection("127.0.0.1", r.data_port)
        try:
            models = b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n"
            pooled.write(models[:10])  # a head in two pieces, then a whole answer
            await asyncio.sleep(0.05)
            pooled.write(models[10:])
            assert (await asyncio.wait_for(pooled_reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
            loris.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
            await asyncio.sleep(0.1)
            loris.write(b"X-A: b\r\n")  # trickling header lines, never the blank line that ends the head
            assert await asyncio.wait_for(loris_reader.read(), 5) == b""  # closed by the forwarder, no answer
            # the pooled connection outlived several deadlines idle, and still serves
            await pooled_reader.read(65536)  # the rest of the first answer
            pooled.write(models)
            assert (await asyncio.wait_for(pooled_reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        finally:
            loris.close()
            pooled.close()


def _form(parts: int) -> bytes:
    field = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nv\r\n'
    return (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n'
        + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n'
        + field * (parts - 2)
        + b"--b--\r\n"
    )


@pytest.mark.parametrize(("parts", "status"), [(100, 200), (101, 400)])
async def test_a_form_with_too_many_parts_is_a_400(openai_up: Upstream, make_proxy, parts: int, status: int):
    """A transcription form has about ten fields. 60 MB of empty parts (1.2 million) kept a core busy parsing
    until the read deadline (408 after 60 s); the parts are now counted, and the 101st is refused."""
    async with make_proxy([entry("stt", openai_up, kind="audio/transcriptions")]) as r:
        got, answer = await raw_exchange(r.data_port, _multipart(_form(parts)))
        assert got == status, answer
        if status == 400:
            assert b"more than 100 parts" in answer and openai_up.requests == []
