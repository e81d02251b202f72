"""Issue 17: a property test of the upstream client's answer parsing.

Valid answers (Content-Length, chunked with trailers, close-delimited, gzip and deflate, after interim 1xx)
are fed to one connection split at random points, and corrupted at random places. The only outcomes allowed:
the answer parsed exactly (valid input), or a parsed answer or an `UpstreamError` (corrupted input); never
another exception, and never a read that waits forever once the connection is gone.

The bytes go straight into the connection's `data_received`, not through a socket: a loopback socket would
coalesce the drawn splits, and the splits are what this test is about.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.exceptions import UpstreamError
from proxy.upstream import UpstreamPool, _Connection


class _Transport(asyncio.Transport):
    """The few transport calls a connection makes, recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _chunked(body: bytes, sizes: list[int], trailers: list[tuple[str, str]]) -> bytes:
    out, i = b"", 0
    for n in sizes:
        if i >= len(body):
            break
        piece = body[i : i + n]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
        i += n
    if i < len(body):
        out += b"%x\r\n%s\r\n" % (len(body) - i, body[i:])
    return out + b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers) + b"\r\n"


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, int, bytes]:
    """(wire bytes, status, the body a reader must get)."""
    body = draw(st.binary(max_size=3000) | st.just(b'{"choices":[{"delta":{"content":"hi"}}]}' * 40))
    status = draw(st.sampled_from([200, 201, 400, 404, 429, 500, 503]))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    coding = draw(st.sampled_from(["identity", "identity", "gzip", "deflate", "raw-deflate"]))
    wire_body = body
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
    if coding == "gzip":
        wire_body = gzip.compress(body)
        lines.append("Content-Encoding: gzip")
    elif coding == "deflate":
        wire_body = zlib.compress(body)
        lines.append("Content-Encoding: deflate")
    elif coding == "raw-deflate":
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        wire_body = comp.compress(body) + comp.flush()
        lines.append("Content-Encoding: deflate")
    if framing == "length":
        lines.append(f"Content-Length: {len(wire_body)}")
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 700), max_size=8))
        names = st.sampled_from(["X-Trailer", "Retry-After", "Server-Timing"])
        trailers = draw(st.lists(st.tuples(names, st.text("abc123", max_size=20)), max_size=3))
        wire_body = _chunked(wire_body, sizes, trailers)
    else:
        lines.append("Connection: close")
    interim = draw(
        st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"])
    )
    return interim + ("\r\n".join(lines) + "\r\n\r\n").encode() + wire_body, status, body


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return [p for p in out if p]


async def _feed(pieces: list[bytes]) -> tuple[int, bytes] | UpstreamError:
    """Feed the pieces, then the end of the connection; the parsed (status, body) or the clean error."""
    pool = UpstreamPool()
    conn = _Connection(pool, ("http", "127.0.0.1", 1))
    pool._open.add(conn)
    conn.connection_made(_Transport())
    head = conn.send(b"POST / HTTP/1.1\r\n\r\n", b"")
    for piece in pieces:
        conn.data_received(piece)  # any exception other than from the test's asserts fails it
        if conn.closed:
            break
    if not conn.closed:
        conn.eof_received()
    conn.connection_lost(None)
    assert head.done(), "the answer's head is still awaited after the connection ended"
    if head.exception() is not None:
        exc = head.exception()
        assert isinstance(exc, UpstreamError), repr(exc)
        return exc
    resp = head.result()
    body = b""
    try:
        async with asyncio.timeout(5):  # a guard against a hang, not a timing assertion
            while chunk := await resp.readany():
                body += chunk
    except UpstreamError as exc:
        return exc
    finally:
        resp.release()
        await pool.close()
    return resp.status, body


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.lists(st.integers(0, 10_000), max_size=12))
def test_valid_answers_split_anywhere_parse_exactly(answer: tuple[bytes, int, bytes], cuts: list[int]) -> None:
    wire, status, body = answer
    got = asyncio.run(_feed(_split(wire, cuts)))
    assert got == (status, body)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers(),
    st.lists(st.integers(0, 10_000), max_size=6),
    st.lists(
        st.tuples(
            st.integers(0, 10_000), st.sampled_from(["flip", "insert", "delete"]), st.binary(min_size=1, max_size=4)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_corrupted_answers_end_parsed_or_in_a_clean_error(
    answer: tuple[bytes, int, bytes], cuts: list[int], edits: list[tuple[int, str, bytes]]
) -> None:
    wire = bytearray(answer[0])
    for pos, op, data in edits:
        i = pos % (len(wire) + 1)
        if op == "flip" and i < len(wire):
            wire[i] = data[0]
        elif op == "insert":
            wire[i:i] = data
        elif i < len(wire):
            del wire[i : i + len(data)]
    got = asyncio.run(_feed(_split(bytes(wire), cuts)))
    assert isinstance(got, (tuple, UpstreamError))
