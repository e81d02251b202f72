"""Issue 17: the forwarder against upstreams that misbehave (bombs, floods, broken framing, protocol switches).

Each test drives one `fwd_hostile` mode through the in-process forwarder and asserts the bound: status and
body shape, RSS growth of this process (the forwarder runs in it), slots back to zero.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib

import aiohttp
import pytest

from tests.support.fwd_helpers import CHAT, admin_url, base_url, entry, eventually, in_flight, post, write_config
from tests.support.fwd_hostile import Conn, PeakRSS, chunk, gzip_bomb, head, hold_open, hostile_upstream, real_forwarder
from tests.support.fwd_stubs import UPSTREAM_KEY

STREAM = {**CHAT, "stream": True}
TOO_LARGE = "upstream_response_too_large"


async def sse_text(s: aiohttp.ClientSession, url: str, body: dict) -> tuple[int, str]:
    async with s.post(url + "/chat/completions", json=body) as resp:
        return resp.status, (await resp.read()).decode("utf-8", "replace")


# ---- row 1: gzip bombs ---------------------------------------------------------------------------


async def test_row1_gzip_bomb_non_streaming_is_502_in_bounded_memory(make_proxy):
    bomb = gzip_bomb()

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(
                head(
                    "200 OK",
                    "Content-Type: application/json",
                    "Content-Encoding: gzip",
                    f"Content-Length: {len(bomb)}",
                )
                + bomb
            )

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            with PeakRSS() as mem:
                for _ in range(4):  # one after the other: nothing of one bomb may linger into the next
                    status, _, data = await post(s, r, CHAT)
                    assert status == 502 and data["error"]["code"] == TOO_LARGE
        assert mem.growth_mb <= 32, f"RSS grew {mem.growth_mb:.1f} MB"
        print(f"\nrow 1 non-stream bomb x4: RSS growth {mem.growth_mb:.1f} MB")
        await eventually(lambda: in_flight(r) == 0)


async def test_row1b_gzip_bomb_stream_ends_with_an_error_event_in_bounded_memory(make_proxy):
    bomb = gzip_bomb(b'data: {"choices":[]}\n\n')

    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            head(
                "200 OK",
                "Content-Type: text/event-stream",
                "Content-Encoding: gzip",
                f"Content-Length: {len(bomb)}",
            )
            + bomb
        )
        await hold_open(conn)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            with PeakRSS() as mem:
                got = 0
                tail = b""
                async with s.post(base_url(r) + "/chat/completions", json=STREAM) as resp:
                    assert resp.status == 200
                    async for piece in resp.content.iter_any():
                        got += len(piece)
                        tail = (tail + piece)[-2000:]
        assert TOO_LARGE.encode() in tail and tail.endswith(b"data: [DONE]\n\n")
        assert got < 1 << 30
        assert mem.growth_mb <= 32, f"RSS grew {mem.growth_mb:.1f} MB"
        print(f"\nrow 1b stream bomb: RSS growth {mem.growth_mb:.1f} MB, relayed {got / 1e6:.1f} MB")
        await eventually(lambda: in_flight(r) == 0)


# ---- row 2: caps on upstream bodies ----------------------------------------------------------------


async def endless_chunks(conn: Conn, status: str, ctype: str, piece: bytes, limit: int) -> None:
    await conn.read_request()
    await conn.send(head(status, f"Content-Type: {ctype}", "Transfer-Encoding: chunked"))
    while conn.up.sent < limit:
        await conn.send(chunk(piece))
    await conn.send(b"0\r\n\r\n")
    await hold_open(conn)


async def test_row2_buffered_answer_above_the_cap_is_502(make_proxy):
    async def mode(conn: Conn) -> None:
        await endless_chunks(conn, "200 OK", "application/json", b"x" * 65536, 64 << 20)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], max_response_bytes=1 << 20) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["code"] == TOO_LARGE
        assert up.sent < 16 << 20  # the forwarder stopped reading long before the upstream's 64 MiB
        await eventually(lambda: in_flight(r) == 0)


async def test_row2_declared_length_above_the_cap_is_refused_at_the_head(make_proxy):
    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head("200 OK", "Content-Type: application/json", "Content-Length: 10000000000"))
        for _ in range(600):  # a trickle: one byte every 50 ms, never an idle timeout
            await conn.send(b"x")
            await asyncio.sleep(0.05)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], total_timeout=3.0) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["code"] == TOO_LARGE
        await eventually(lambda: in_flight(r) == 0)


async def test_row2_error_body_is_read_only_up_to_its_small_cap(make_proxy):
    async def mode(conn: Conn) -> None:
        await endless_chunks(conn, "500 Internal Server Error", "text/plain", b"e" * 65536, 32 << 20)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 500 and data["error"]["type"] == "upstream_error"
        assert len(json.dumps(data)) < 70_000
        assert up.sent < 16 << 20
        await eventually(lambda: in_flight(r) == 0)


async def test_row2_endless_stream_ends_at_its_cap_with_an_error_event(make_proxy):
    frame = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'

    async def mode(conn: Conn) -> None:
        await endless_chunks(conn, "200 OK", "text/event-stream", frame * 100, 64 << 20)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], max_stream_bytes=1 << 20) as r:
        async with aiohttp.ClientSession() as s:
            status, text = await sse_text(s, base_url(r), STREAM)
        assert status == 200 and TOO_LARGE in text[-1000:] and text.endswith("data: [DONE]\n\n")
        assert len(text) < 2 << 20
        await eventually(lambda: in_flight(r) == 0)


async def test_row2_endless_binary_answer_is_cut_at_its_cap(make_proxy):
    async def mode(conn: Conn) -> None:
        await endless_chunks(conn, "200 OK", "audio/mpeg", b"\xff" * 65536, 64 << 20)

    async with hostile_upstream(mode) as up:
        models = [entry("tts", up, kind="audio/speech")]
        async with make_proxy(models, max_stream_bytes=1 << 20) as r, aiohttp.ClientSession() as s:
            got = 0
            with pytest.raises(aiohttp.ClientPayloadError):
                async with s.post(base_url(r) + "/audio/speech", json={"model": "tts", "input": "hi"}) as resp:
                    assert resp.status == 200
                    async for piece in resp.content.iter_any():
                        got += len(piece)
            assert got <= (1 << 20) + 65536
            await eventually(lambda: in_flight(r, "tts") == 0)


# ---- row 3: trailers -----------------------------------------------------------------------------------


async def test_row3_a_trailer_flood_is_cut(make_proxy):
    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head("200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked"))
        await conn.send(chunk(b'{"ok":1}') + b"0\r\nX-Flood: ")
        for _ in range(128):  # 8 MiB of one trailer line
            await conn.send(b"a" * 65536)
        await conn.send(b"\r\n\r\n")
        await hold_open(conn)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["type"] == "upstream_error"
        await eventually(lambda: in_flight(r) == 0)


async def test_row3_a_trailer_never_becomes_a_response_header(make_proxy):
    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            err = b'{"error":{"message":"slow down","type":"rate_limit","param":null,"code":null}}'
            lines = ["Content-Type: application/json", "Transfer-Encoding: chunked"]
            if len(up.requests) == 1:
                lines.append("Retry-After: 1")
            await conn.send(head("429 Too Many Requests", *lines) + chunk(err) + b"0\r\nRetry-After: 31337\r\n\r\n")

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], failure_budget=0) as r:
        async with aiohttp.ClientSession() as s:
            status, headers, data = await post(s, r, CHAT)
            assert status == 429 and headers["Retry-After"] == "1" and data["error"]["message"] == "slow down"
            status, headers, data = await post(s, r, CHAT)  # no Retry-After in the head: none at all
            assert status == 429 and "Retry-After" not in headers and data["error"]["message"] == "slow down"


# ---- row 7: 101 Switching Protocols -------------------------------------------------------------------


@pytest.mark.parametrize("upgrade", [True, False])
async def test_row7_an_upstream_101_is_a_clean_502(make_proxy, caplog, upgrade):
    caplog.set_level(logging.DEBUG)
    lines = ["Upgrade: websocket", "Connection: Upgrade"] if upgrade else []

    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head("101 Switching Protocols", *lines) + b"\x81\x05hello")
        await hold_open(conn)

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["type"] == "upstream_error"
        assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
        await eventually(lambda: in_flight(r) == 0)


# ---- row 9: keep-alive expiry ---------------------------------------------------------------------------


def keepalive_mode(idle_close: float, header: str | None):
    """Answers on a connection until it has been idle `idle_close` seconds, then closes it (uvicorn-like)."""

    async def mode(conn: Conn) -> None:
        while True:
            try:
                req = await asyncio.wait_for(conn.read_request(), idle_close)
            except TimeoutError:
                return
            if not req:
                return
            body = b'{"choices":[]}'
            lines = ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            if header:
                lines.append(header)
            await conn.send(head("200 OK", *lines) + body)

    return mode


async def test_row9_pooled_connection_expires_a_second_before_the_upstream_keep_alive_timeout(make_proxy):
    async with hostile_upstream(keepalive_mode(2.0, "Keep-Alive: timeout=2")) as up:
        async with make_proxy([entry("gpt-x", up)]) as r, aiohttp.ClientSession() as s:
            assert (await post(s, r, CHAT))[0] == 200
            await asyncio.sleep(1.3)  # past timeout - 1 s, before the upstream closes
            assert (await post(s, r, CHAT))[0] == 200
            assert up.connections == 2


async def test_row9_pooled_connection_expires_after_the_keepalive_setting(make_proxy):
    async with hostile_upstream(keepalive_mode(5.0, None)) as up:
        async with make_proxy([entry("gpt-x", up)], upstream_keepalive_s=0.3) as r, aiohttp.ClientSession() as s:
            assert (await post(s, r, CHAT))[0] == 200
            await asyncio.sleep(0.5)
            assert (await post(s, r, CHAT))[0] == 200
            assert up.connections == 2
            assert (await post(s, r, CHAT))[0] == 200  # reused while fresh
            assert up.connections == 2


async def test_row9_a_request_fully_written_then_dropped_is_not_retried(make_proxy):
    async def mode(conn: Conn) -> None:
        await conn.read_request()  # took the whole request, then went away without answering

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["code"] == "upstream_connection_error"
        assert len(up.requests) == 1 and up.connections == 1


# ---- row 10: failures are logged (rate-limited) and counted by reason ------------------------------------


async def test_row10_upstream_failures_log_a_rate_limited_warning_and_count_by_reason(make_proxy, caplog):
    caplog.set_level(logging.INFO, logger="morpheus_proxy")

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(b"NOT HTTP AT ALL\r\n\r\n")

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], failure_budget=0) as r:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                assert (await post(s, r, CHAT))[0] == 502
            async with s.get(admin_url(r) + "/metrics") as resp:
                metrics = await resp.text()
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING and rec.name == "morpheus_proxy"]
    assert len(warnings) == 1, caplog.text
    text = warnings[0].getMessage()
    assert "gpt-x" in text and "malformed" in text and UPSTREAM_KEY not in caplog.text
    assert 'reason="malformed"' in metrics


# ---- row 11: the route's key is masked in upstream error bodies -------------------------------------------


def echo_key_mode(status: str, kind: str):
    async def mode(conn: Conn) -> None:
        while req := await conn.read_request():
            lines = req.decode("latin-1").split("\r\n")
            got = next(
                (
                    ln.split(":", 1)[1].strip()
                    for ln in lines
                    if ln.lower().startswith(("authorization:", "x-api-key:"))
                ),
                "",
            )
            if kind == "openai":
                err = {"error": {"message": f"Incorrect API key provided: {got}", "type": "invalid_request_error"}}
            elif kind == "anthropic":
                err = {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {got}"}}
            else:
                err = {"detail": f"key {got} refused"}
            body = json.dumps(err).encode()
            await conn.send(head(status, "Content-Type: application/json", f"Content-Length: {len(body)}") + body)

    return mode


@pytest.mark.parametrize("kind", ["openai", "anthropic", "detail"])
async def test_row11_the_key_never_reaches_the_buyer_in_an_error_body(make_proxy, kind):
    async with hostile_upstream(echo_key_mode("401 Unauthorized", kind)) as up:
        api_type = "claudeai" if kind == "anthropic" else "openai"
        async with make_proxy([entry("gpt-x", up, api_type=api_type)]) as r, aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
            assert status == 401 and UPSTREAM_KEY not in json.dumps(data) and "SECRET" not in json.dumps(data)
            assert "key" in json.dumps(data)  # the message itself still passes on
            status, text = await sse_text(s, base_url(r), STREAM)
            assert UPSTREAM_KEY not in text and "SECRET" not in text


# ---- row 13: compressed and framed bodies ------------------------------------------------------------------


async def test_row13_a_truncated_gzip_answer_is_502(make_proxy):
    packed = gzip.compress(json.dumps({"choices": [{"text": "x" * 50_000}]}).encode())

    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            head("200 OK", "Content-Type: application/json", "Content-Encoding: gzip", "Connection: close")
            + packed[: len(packed) // 2]
        )

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["type"] == "upstream_error"


async def test_row13_raw_deflate_is_decoded(make_proxy):
    answer = json.dumps({"choices": [{"text": "y" * 10_000}]}).encode()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = comp.compress(answer) + comp.flush()

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(
                head(
                    "200 OK",
                    "Content-Type: application/json",
                    "Content-Encoding: deflate",
                    f"Content-Length: {len(packed)}",
                )
                + packed
            )

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)]) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 200 and data == json.loads(answer)


@pytest.mark.parametrize("coding", ["chunked, identity", "gzip, chunked"])
async def test_row13_transfer_codings_other_than_a_final_chunked_are_a_prompt_502(make_proxy, coding):
    async def mode(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            head("200 OK", "Content-Type: application/json", f"Transfer-Encoding: {coding}")
            + chunk(b"{}")
            + b"0\r\n\r\n"
        )
        await hold_open(conn)  # never closes: a read-until-close body would only end at the idle timeout

    async with hostile_upstream(mode) as up, make_proxy([entry("gpt-x", up)], idle_timeout=3.0) as r:
        async with aiohttp.ClientSession() as s:
            status, _, data = await post(s, r, CHAT)
        assert status == 502 and data["error"]["type"] == "upstream_error"
        await eventually(lambda: in_flight(r) == 0)


# ---- deep JSON from an upstream (beyond the table) ----------------------------------------------------------


@pytest.mark.parametrize("status", ["200 OK", "500 Internal Server Error"])
async def test_deeply_nested_upstream_json_passes_on_in_the_real_process(tmp_path, status):
    deep = b'{"usage": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"

    async def mode(conn: Conn) -> None:
        while await conn.read_request():
            await conn.send(head(status, "Content-Type: application/json", f"Content-Length: {len(deep)}") + deep)

    async with hostile_upstream(mode) as up:
        cfg = tmp_path / "c.json"
        write_config(cfg, [entry("gpt-x", up)])
        async with real_forwarder(cfg) as fwd, aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{fwd.port}/v1/chat/completions", json=CHAT) as resp:
                assert resp.status == int(status[:3])
                await resp.read()
    assert b"Traceback" not in fwd.stderr, fwd.stderr.decode()[-2000:]
