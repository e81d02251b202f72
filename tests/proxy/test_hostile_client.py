"""Issue 17: the forwarder against hostile or broken clients (bad bearer bytes, huge or stalled bodies).

Requests are written on raw sockets: aiohttp's client would not send these heads.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.fwd_helpers import ADMIN_TOKEN, CLIENT_TOKEN, entry, in_flight, write_config
from tests.support.fwd_hostile import real_forwarder
from tests.support.fwd_stubs import Upstream


async def raw_exchange(port: int, data: bytes, *, then_wait: float = 5.0) -> tuple[int, bytes]:
    """Send `data` on a fresh connection and read one answer (status, raw bytes); the socket stays open while
    waiting, so a server that waits for the rest of a body never sees an end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), then_wait)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await asyncio.wait_for(reader.readexactly(length), then_wait)
        return int(head.split(b" ")[1]), body
    finally:
        writer.close()


def request(path: str, headers: list[str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_row6_a_non_ascii_bearer_is_401_on_every_plane(openai_up: Upstream, make_proxy, caplog):
    caplog.set_level(logging.DEBUG)
    body = b'{"model":"gpt-x","messages":[]}'
    bad = b"Authorization: Bearer \xff\xfe"
    async with make_proxy([entry("gpt-x", openai_up)], client_token=CLIENT_TOKEN) as r:
        data = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            + bad
            + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
        status, answer = await raw_exchange(r.data_port, data)
        assert status == 401 and b"invalid_api_key" in answer
        status, answer = await raw_exchange(
            r.admin_port, b"GET /admin/config HTTP/1.1\r\nHost: localhost\r\n" + bad + b"\r\n\r\n"
        )
        assert status == 401
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
    assert openai_up.requests == [] and ADMIN_TOKEN not in caplog.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/audio/transcriptions"])
async def test_row12_a_declared_length_above_the_limit_is_413_before_reading(openai_up: Upstream, make_proxy, path):
    async with make_proxy([entry("gpt-x", openai_up)]) as r:
        ctype = "application/json" if "chat" in path else "multipart/form-data; boundary=b"
        head = request(path, [f"Content-Type: {ctype}", "Content-Length: 100000000"])
        status, answer = await raw_exchange(r.data_port, head)  # and not one byte of the body
        assert status == 413 and b'"type": "invalid_request_error"' in answer
        assert in_flight(r) == 0 and openai_up.requests == []


async def test_row12_json_endpoints_have_their_own_smaller_cap(openai_up: Upstream, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], max_json_body_bytes=1 << 20) as r:
        body = b'{"model":"gpt-x","messages":[' + b'{"role":"user","content":"x"},' * 50_000 + b"{}]}"
        assert len(body) > 1 << 20
        data = request("/v1/chat/completions", ["Content-Type: application/json", f"Content-Length: {len(body)}"], body)
        status, answer = await raw_exchange(r.data_port, data)
        assert status == 413 and b"invalid_request_error" in answer
        assert openai_up.requests == []


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/audio/transcriptions"])
async def test_row12_a_stalled_request_body_meets_the_read_deadline(openai_up: Upstream, make_proxy, path):
    async with make_proxy([entry("gpt-x", openai_up)], request_read_timeout=0.5) as r:
        ctype = "application/json" if "chat" in path else "multipart/form-data; boundary=b"
        data = request(path, [f"Content-Type: {ctype}", "Content-Length: 1000"], b'{"model":')
        status, answer = await raw_exchange(r.data_port, data)
        assert status == 408 and b"request_timeout" in answer
        assert openai_up.requests == []


async def test_a_deeply_nested_json_body_is_a_400_in_the_real_process(openai_up: Upstream, tmp_path):
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    async with real_forwarder(cfg) as fwd:
        body = b'{"model":"gpt-x","messages":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        data = request("/v1/chat/completions", ["Content-Type: application/json", f"Content-Length: {len(body)}"], body)
        status, answer = await raw_exchange(fwd.port, data)
        assert status == 400 and b"invalid_json" in answer
    assert b"Traceback" not in fwd.stderr, fwd.stderr.decode()[-2000:]
    assert openai_up.requests == []
