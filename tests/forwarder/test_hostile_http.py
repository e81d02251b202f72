"""Hostile clients at the HTTP level, on raw sockets against a real forwarder: malformed multipart bodies,
malformed request heads, Expect: 100-continue. Each is the client's mistake (or an ordinary client habit): an
OpenAI-shaped answer with the right status, and no traceback in the log."""

from __future__ import annotations

import logging

import pytest
from fwd_helpers import entry
from fwd_stubs import Upstream
from test_hostile_client import raw_exchange, request


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
