"""The lean upstream client against raw loopback servers: framing, keep-alive, pool cap, errors, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from proxy.exceptions import ConnectError, Disconnected
from proxy.upstream import UpstreamPool, encode_multipart, parse_target

Reply = Callable[[bytes], list[bytes]]  # request bytes -> what to write back, piece by piece


@contextlib.asynccontextmanager
async def raw_server(reply: Reply, *, close_after: bool = False, gap: float = 0.0) -> AsyncIterator[dict]:
    """A loopback TCP server answering each request with `reply`'s pieces (`gap` seconds apart)."""
    seen: dict = {"requests": [], "connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n"))
                        if k.lower() == b"content-length"
                    ),
                    0,
                )
                req = head + await reader.readexactly(length)
                seen["requests"].append(req)
                for piece in reply(req):
                    writer.write(piece)
                    await writer.drain()
                    if gap:
                        await asyncio.sleep(gap)
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions?x=1"
    try:
        yield seen
    finally:
        server.close()


def fixed(body: bytes, extra: str = "") -> Reply:
    return lambda _req: [
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    ]


async def read_all(resp) -> bytes:  # type: ignore[no-untyped-def]
    out = b""
    while chunk := await resp.readany():
        out += chunk
    return out


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    p = UpstreamPool()
    try:
        yield p
    finally:
        await p.close()


async def test_content_length_answers_reuse_one_connection(pool):
    async with raw_server(fixed(b'{"ok":1}')) as srv:
        for _ in range(3):
            resp = await pool.post(srv["url"], {"Authorization": "Bearer k"}, b'{"a":1}')
            assert resp.status == 200 and resp.headers["content-type"] == "application/json"
            assert await read_all(resp) == b'{"ok":1}'
            resp.release()
        assert srv["connections"] == 1 and pool.connects == 1
        req = srv["requests"][0]
        assert req.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in req and b"\r\nAuthorization: Bearer k\r\n" in req
        assert b"\r\nContent-Length: 7\r\n" in req and b"\r\nAccept-Encoding: identity\r\n" in req
        assert req.endswith(b'\r\n\r\n{"a":1}')


async def test_chunked_answer_arrives_piece_by_piece_and_keeps_the_connection(pool):
    pieces = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]

    def reply(_req: bytes) -> list[bytes]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        return [head] + [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"]

    async with raw_server(reply, gap=0.02) as srv:
        for _ in range(2):
            resp = await pool.post(srv["url"], {}, b"{}")
            got = []
            while chunk := await resp.readany():
                got.append(chunk)
            resp.release()
            assert b"".join(got) == b"".join(pieces) and len(got) == 3  # not buffered into one
        assert pool.connects == 1


async def test_close_delimited_answer_ends_at_eof_and_is_not_reused(pool):
    async with raw_server(
        lambda _r: [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"], close_after=True
    ) as srv:
        for _ in range(2):
            resp = await pool.post(srv["url"], {}, b"")
            assert await read_all(resp) == b"all of it"
            resp.release()
        assert pool.connects == 2


async def test_interim_100_continue_is_skipped(pool):
    async with raw_server(lambda r: [b"HTTP/1.1 100 Continue\r\n\r\n", *fixed(b"done")(r)]) as srv:
        resp = await pool.post(srv["url"], {}, b"x")
        assert resp.status == 200 and await read_all(resp) == b"done"


async def test_gzip_answer_is_decoded_and_unknown_encodings_refused(pool):
    packed = gzip.compress(b'{"big":"' + b"x" * 5000 + b'"}')
    async with raw_server(fixed(packed, "Content-Encoding: gzip\r\n")) as srv:
        resp = await pool.post(srv["url"], {}, b"")
        assert "content-encoding" not in resp.headers
        assert await read_all(resp) == b'{"big":"' + b"x" * 5000 + b'"}'
    async with raw_server(fixed(b"??", "Content-Encoding: br\r\n")) as srv:
        with pytest.raises(Disconnected, match="unsupported content-encoding 'br'"):
            await pool.post(srv["url"], {}, b"")


async def test_large_body_passes_through_flow_control(pool):
    body = bytes(range(256)) * 8192  # 2 MiB, several times the read-pause mark
    async with raw_server(fixed(body)) as srv:
        resp = await pool.post(srv["url"], {}, b"")
        await asyncio.sleep(0.1)  # let the socket fill our buffer: reading pauses, then resumes as we take it
        assert await read_all(resp) == body
        resp.release()
        resp = await pool.post(srv["url"], {}, b"")  # and the connection is still good for the next one
        assert await read_all(resp) == body
        assert pool.connects == 1


async def test_errors_connect_refused_cut_body_malformed_answer(pool):
    async with raw_server(fixed(b"")) as srv:
        url = srv["url"]
    with pytest.raises(ConnectError, match=r"cannot connect to 127\.0\.0\.1"):  # the server is gone: nothing was sent
        await pool.post(url, {}, b"")
    async with raw_server(
        lambda _r: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"], close_after=True
    ) as srv:
        resp = await pool.post(srv["url"], {}, b"")
        assert await resp.readany() == b"only this"
        with pytest.raises(Disconnected, match="closed the connection"):
            await resp.readany()
        resp.release()
    async with raw_server(lambda _r: [b"NOT HTTP AT ALL\r\n\r\n"]) as srv:
        with pytest.raises(Disconnected, match="malformed"):
            await pool.post(srv["url"], {}, b"")
    assert not pool._open  # every failed connection was dropped


async def test_header_values_with_line_breaks_are_refused(pool):
    async with raw_server(fixed(b"")) as srv:
        with pytest.raises(ValueError, match="line break"):
            await pool.post(srv["url"], {"Authorization": "Bearer k\r\nX-Injected: 1"}, b"")
        assert srv["requests"] == []


async def test_a_cancelled_request_closes_its_connection():
    async with raw_server(fixed(b"late")) as srv:
        pool = UpstreamPool(limit=1)
        task = asyncio.create_task(pool.post(srv["url"], {}, b""))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not pool._open  # closed, not pooled: its answer may still arrive
        resp = await pool.post(srv["url"], {}, b"")
        assert await read_all(resp) == b"late"
        resp.release()
        await pool.close()


async def test_pool_cap_makes_requests_wait_for_a_connection():
    async with raw_server(fixed(b"ok")) as srv:
        pool = UpstreamPool(limit=1)
        first = await pool.post(srv["url"], {}, b"")
        second = asyncio.create_task(pool.post(srv["url"], {}, b""))
        await asyncio.sleep(0.05)
        assert not second.done()  # the only connection is busy
        assert await read_all(first) == b"ok"
        first.release()
        resp = await asyncio.wait_for(second, 5)
        assert await read_all(resp) == b"ok"
        resp.release()
        assert pool.connects == 1 and srv["connections"] == 1
        await pool.close()


async def test_idle_connections_are_closed_after_the_keepalive_timeout():
    async with raw_server(fixed(b"ok")) as srv:
        pool = UpstreamPool(keepalive_timeout=0.2)
        resp = await pool.post(srv["url"], {}, b"")
        await read_all(resp)
        resp.release()
        assert len(pool._open) == 1
        for _ in range(50):
            await asyncio.sleep(0.05)
            if not pool._open:
                break
        assert not pool._open
        await pool.close()


def test_targets_and_multipart_encoding():
    t = parse_target("https://api.example.com/v1/messages")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == (
        "https",
        "api.example.com",
        443,
        "/v1/messages",
        "api.example.com",
    )
    assert parse_target("http://[::1]:8080").host_header == "[::1]:8080"
    assert parse_target("http://h/v1/modèle?q=a b").path == "/v1/mod%C3%A8le?q=a%20b"
    with pytest.raises(ValueError):
        parse_target("ftp://x/")
    ctype, body = encode_multipart([("model", "whisper", None, None), ("file", b"\x00RIFF", 'a"b.wav', "audio/wav")])
    boundary = ctype.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"--{boundary}--\r\n".encode())
    assert b'name="file"; filename="a%22b.wav"\r\nContent-Type: audio/wav\r\n\r\n\x00RIFF\r\n' in body


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test certificate")
async def test_https_upstream_with_a_verified_certificate(tmp_path: Path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    app = web.Application()

    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"tls": True})

    app.router.add_post("/v1/x", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    trusting = UpstreamPool(tls=ssl.create_default_context(cafile=str(cert)))
    strict = UpstreamPool()  # the system trust store does not know our certificate
    try:
        resp = await trusting.post(f"https://localhost:{port}/v1/x", {}, b"")
        assert resp.status == 200 and await read_all(resp) == b'{"tls": true}'
        resp.release()
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await strict.post(f"https://localhost:{port}/v1/x", {}, b"")
    finally:
        await trusting.close()
        await strict.close()
        await runner.cleanup()


async def test_bytes_after_an_answer_end_drop_the_connection(pool):
    async with raw_server(lambda r: [*fixed(b"one")(r), b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"]) as srv:
        for _ in range(2):
            resp = await pool.post(srv["url"], {}, b"")
            assert await read_all(resp) == b"one"  # never the stray second answer
            await asyncio.sleep(0.05)
            resp.release()
        assert pool.connects == 2


async def test_a_runaway_answer_head_is_cut(pool):
    endless = [b"HTTP/1.1 200 OK\r\n"] + [b"X-Filler: " + b"a" * 1000 + b"\r\n"] * 100
    async with raw_server(lambda _r: endless) as srv:
        with pytest.raises(Disconnected, match="head exceeds"):
            await pool.post(srv["url"], {}, b"")
        assert not pool._open


async def test_a_large_body_is_sent_whole(pool):
    body = bytes(range(256)) * 1024  # 256 KiB: written after the head, not copied into it
    async with raw_server(lambda req: fixed(str(len(req.split(b"\r\n\r\n", 1)[1])).encode())(req)) as srv:
        resp = await pool.post(srv["url"], {}, body)
        assert await read_all(resp) == b"262144"
        assert srv["requests"][0].endswith(body)
