"""An Anthropic upstream whose stream events have fields of the wrong type, through the in-process forwarder.

Each used to raise in the middle of the client's stream: the forwarder logged a traceback and wrote
"HTTP/1.1 500 ..." into the chunked body it had already started, so the client saw a broken framing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from proxy.anthropic.response import usage_from_anthropic
from proxy.anthropic.stream import StreamTranslator
from tests.support.fwd_helpers import base_url, entry, eventually, in_flight, write_config
from tests.support.fwd_hostile import Conn, head, hostile_upstream, real_forwarder

START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"c",'
    b'"usage":{"input_tokens":3}}}\n\n'
)
BAD_EVENTS = {
    "an event that is a list": b"data: [1]\n\n",
    "an index that is a word": (
        b'event: content_block_start\ndata: {"type":"content_block_start","index":"x",'
        b'"content_block":{"type":"text","text":"a"}}\n\n'
    ),
    "a message_start whose message is a number": b'event: message_start\ndata: {"type":"message_start","message":2}\n\n',
    "a stop_reason that is a list": (
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":["x"]}}\n\n'
    ),
    "a usage that is a string": b'event: message_delta\ndata: {"type":"message_delta","usage":"many"}\n\n',
}
STREAM = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def _serving(body: bytes) -> Callable[[Conn], Awaitable[None]]:
    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(head("200 OK", "Content-Type: text/event-stream", f"Content-Length: {len(body)}") + body)

    return mode


@pytest.mark.parametrize("bad", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
async def test_a_malformed_stream_event_ends_the_stream_with_an_error_event(make_proxy, caplog, bad: bytes):
    caplog.set_level(logging.WARNING)
    async with hostile_upstream(_serving(START + bad)) as up, make_proxy([entry("m", up, api_type="claudeai")]) as r:
        async with aiohttp.ClientSession() as s, s.post(base_url(r) + "/chat/completions", json=STREAM) as resp:
            assert resp.status == 200
            text = (await resp.read()).decode()
        assert '"message":"upstream sent an unreadable stream event"' in text
        assert text.endswith("data: [DONE]\n\n")
        await eventually(lambda: in_flight(r, "m") == 0)
    assert not [rec for rec in caplog.records if rec.name == "morpheus_proxy" and rec.levelno >= logging.ERROR]


async def test_usage_counts_that_are_not_numbers_count_as_zero(make_proxy, caplog):
    """A message_delta usage {"output_tokens": {...}} passed the translator's filter and broke int() once the
    stream had ended: the same 500 written into a finished stream."""
    caplog.set_level(logging.WARNING)
    body = (
        START
        + b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":{"a":1}}}\n\n'
        + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    async with hostile_upstream(_serving(body)) as up, make_proxy([entry("m", up, api_type="claudeai")]) as r:
        async with aiohttp.ClientSession() as s, s.post(base_url(r) + "/chat/completions", json=STREAM) as resp:
            text = (await resp.read()).decode()
        assert text.endswith("data: [DONE]\n\n") and '"error"' not in text
    assert usage_from_anthropic({"input_tokens": "3", "output_tokens": True})["total_tokens"] == 0
    assert not [rec for rec in caplog.records if rec.name == "morpheus_proxy" and rec.levelno >= logging.ERROR]


async def test_a_crash_after_the_answer_started_cuts_the_connection(make_proxy, monkeypatch, caplog):
    """The last line of defence: whatever raises once the head is out cuts the connection (the client sees a
    truncated stream) rather than writing a 500 into the body it is reading."""

    def crash(self: StreamTranslator, event: str, payload: dict) -> list[bytes]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(StreamTranslator, "_feed", crash)
    async with hostile_upstream(_serving(START)) as up, make_proxy([entry("m", up, api_type="claudeai")]) as r:
        async with aiohttp.ClientSession() as s, s.post(base_url(r) + "/chat/completions", json=STREAM) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        await eventually(lambda: in_flight(r, "m") == 0)
    assert "internal error on POST /v1/chat/completions" in caplog.text


DEEP = "[" * 30_000 + "]" * 30_000


async def test_deeply_nested_json_in_claude_paths_is_no_500_in_the_real_process(tmp_path):
    """Three json.loads in the claudeai translation did not catch RecursionError: a client's tool-call
    arguments nested 30 000 deep (a 500 on the client's own request), and an upstream 400 nested as deep
    (checked for "temperature", then converted to an OpenAI error): each a 500 with a traceback. Run as its own
    process: this test process has a raised recursion limit."""
    error = '{"type": "error", "error": {"type": "invalid_request_error", "message": "temperature", "x": ' + DEEP
    error_body = (error + "}}").encode()

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(
                head("400 Bad Request", "Content-Type: application/json", f"Content-Length: {len(error_body)}")
                + error_body
            )

    async with hostile_upstream(mode) as up:
        cfg = tmp_path / "c.json"
        write_config(cfg, [entry("m", up, api_type="claudeai")])
        history = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": DEEP}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        ]
        async with real_forwarder(cfg) as fwd, aiohttp.ClientSession() as s:
            async with s.post(
                f"http://127.0.0.1:{fwd.port}/v1/chat/completions",
                json={"model": "m", "messages": history, "temperature": 0.5},
            ) as resp:
                assert resp.status == 400, await resp.text()
                assert (await resp.json())["error"]["type"] == "upstream_error"
        assert len(up.requests) == 1  # translated and sent (the arguments as text), not retried
    assert b"Traceback" not in fwd.stderr, fwd.stderr.decode()[-2000:]
