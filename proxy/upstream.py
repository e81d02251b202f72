"""The upstream hop: a lean HTTP/1.1 keep-alive client (asyncio protocol + llhttp via httptools).

Why not aiohttp's client: on the forwarder's hot path it took about a third of the proxy's CPU per request
(session, request and response objects, header merging, tracing hooks), and on Python 3.11 it writes every
request body from a task of its own, so in a burst of requests each one left only after the handlers of the
whole burst had run. Here the request head and body leave in one `transport.write` from the handler itself,
and the response is parsed by llhttp in C. The forwarder needs only this subset of HTTP: one POST with a
body in memory (or a GET without one: an image job's poll), a status, headers and a body read as it arrives
(`Content-Length`, chunked or until close).

Connections are pooled per origin (scheme, host, port) and reused while the upstream keeps them alive; the
pool may be capped (`limit`), and a request then waits for a free connection. A connection is reused only
after its response was read to the end; anything else (an error, a cancelled request, a body left unread)
closes it, so a late byte of one answer can never be read as the start of another.
"""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
import zlib
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import quote, urlsplit

import httptools
from multidict import CIMultiDict

from proxy.exceptions import ConnectError, Disconnected, NotSent, TooLarge, UpstreamError

# Stop reading from an upstream socket while this much of its body waits for the client to take it.
HIGH_WATER = 256 * 1024
# Bodies up to this size leave in one write with the head (one copy of a small buffer); larger ones are written
# after it as they are, never copied (audio uploads).
COALESCE_BODY = 64 * 1024
# An answer's header block, and its chunked trailers, may not grow past this (a runaway upstream must not fill
# our memory).
MAX_HEAD_BYTES = 64 * 1024
# A compressed answer is inflated at most this much per read, so one answer never holds the loop for long.
DECODE_STEP = 256 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed upstream URL: where to connect and what to put on the request line."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


_VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = quote(path, safe=_VISIBLE_ASCII)  # escapes only what may not stand on a request line (UTF-8, spaces)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return Target(parts.scheme, host, port, path, shown if port == default else f"{shown}:{port}")


def _origin_name(origin: tuple[str, str, int]) -> str:
    scheme, host, port = origin
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value holds a line break")
    return value


class UpstreamResponse:
    """Status and headers of an upstream answer; the body is read with `readany()` as it arrives."""

    def __init__(self, conn: _Connection, status: int, headers: CIMultiDict[str]) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers

    @property
    def length(self) -> int | None:
        """The declared body length (None when chunked, delimited by close, or inflated from a compressed body)."""
        raw = self.headers.get("content-length")
        return int(raw) if raw is not None and raw.isdigit() else None

    async def readany(self) -> bytes:
        """What has arrived of the body (waiting for some if nothing has); b"" at its end."""
        return await self._conn.read_body()

    def release(self) -> None:
        """Hand the connection back: reused if the body was read to its end, else closed."""
        self._conn.finish()


class _Connection(asyncio.Protocol):
    """One upstream connection, carrying one request at a time."""

    def __init__(self, pool: UpstreamPool, origin: tuple[str, str, int]) -> None:
        self.pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.expires = 0.0  # loop time after which this idle connection is not reused
        self._busy = False
        self._sent_all = True
        self._reset()

    def _reset(self) -> None:
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._head: asyncio.Future[UpstreamResponse] | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._until_close = False
        self._status = 0
        self._keep_alive = False
        self._keep_alive_header: str | None = None
        self._head_bytes = 0
        # Chunked trailers: bytes fed since the last chunk header without any body in them.
        self._chunk_open = False
        self._got_body = False
        self._tail_bytes = 0
        # A compressed body: kept compressed as it arrives, inflated step by step as the reader asks.
        self._coding: str | None = None
        self._decoder: zlib._Decompress | None = None
        self._zin: collections.deque[bytes] = collections.deque()
        self._zin_size = 0
        self._zrest = b""
        self._decoded = 0

    # ---- the request side ------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes) -> asyncio.Future[UpstreamResponse]:
        """Write the whole request now; the future resolves when the response head has arrived."""
        assert self.transport is not None and not self._busy
        self._busy = True
        self._head = self.pool.loop.create_future()
        if len(body) <= COALESCE_BODY:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)
        # All of it handed to the kernel now, or later when resume_writing says the buffer drained.
        self._sent_all = not self.transport.get_write_buffer_size() and not self.transport.is_closing()
        return self._head

    def finish(self) -> None:
        """The caller is done with the current response: reuse the connection or close it."""
        if not self._busy:
            return
        self._busy = False
        reusable = (
            self._complete
            and self._error is None
            and not self._chunks
            and not self._zin
            and not self._zrest
            and self._keep_alive
            and not self.closed
            and self.transport is not None
            and not self.transport.get_write_buffer_size()  # an early answer: our body may still be going out
        )
        ttl = keep_alive_ttl(self._keep_alive_header, self.pool.keepalive_timeout)
        self._reset()
        if reusable and ttl > 0:
            self.pool._put_back(self, ttl)
        else:
            self.close()

    def usable(self) -> bool:
        """Still open for another request (an upstream's close may be under way but not yet seen)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            self.close()
            return False
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool._forget(self)

    # ---- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=0)  # resume_writing then means: every byte written has left

    def resume_writing(self) -> None:
        self._sent_all = True

    def data_received(self, data: bytes) -> None:
        if not self._busy or self._complete:  # bytes after an answer's end belong to no request: drop the line
            self.close()
            return
        self._got_body = False
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(Disconnected(f"malformed answer from the upstream: {type(exc).__name__}", "malformed"))
            self.close()
            return
        if self._status == 0:  # still inside the head: it may not grow without bound
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(Disconnected(f"the upstream's answer head exceeds {MAX_HEAD_BYTES} bytes", "head_too_large"))
                self.close()
        elif self._chunk_open and not self._got_body and not self._complete:
            # Past a chunk header with no body since: the last chunk's trailers (llhttp buffers each trailer line
            # whole), or a size line split from its data, which the next body resets.
            self._tail_bytes += len(data)
            if self._tail_bytes > MAX_HEAD_BYTES:
                self._fail(Disconnected(f"the upstream's trailers exceed {MAX_HEAD_BYTES} bytes", "trailers_too_large"))
                self.close()

    def eof_received(self) -> bool:
        if self._busy and self._until_close and self._head is not None and self._head.done():
            self._done()  # a body delimited by the end of the connection
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._busy and not self._sent_all and self._status == 0 and not self._head_bytes:
            self._fail(NotSent("the upstream closed the connection before the request was written"))
        self._fail(Disconnected("the upstream closed the connection" + (f": {exc}" if exc else "")))
        self.closed = True
        self.pool._forget(self)

    # ---- llhttp callbacks --------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._status == 0:  # trailers (after the head) are never merged into the answer's headers
            self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if self._complete:  # a second answer to one request: ignore it, and never reuse this connection
            self._keep_alive = False
            return
        status = self.parser.get_status_code()
        if status == 101:  # we never ask to switch protocols: llhttp stops parsing, and so do we
            self._fail(Disconnected("the upstream answered 101 Switching Protocols", "switched_protocols"))
            return
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._headers = CIMultiDict()
            return
        self._status = status
        headers = self._headers
        self._keep_alive_header = headers.get("keep-alive")
        te = headers.get("transfer-encoding")
        if te is None:
            self._until_close = "content-length" not in headers
        elif not self._framing_ok(headers):
            self._fail(Disconnected(f"the upstream used an unsupported transfer-coding {te!r}", "bad_framing"))
            return
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # We ask for identity; an upstream that compresses anyway is decoded, so bytes pass on readable.
            self._coding = "deflate" if encoding == "deflate" else "gzip"
            headers.popall("content-encoding")
            headers.popall("content-length", None)
        elif encoding != "identity":
            self._fail(
                Disconnected(f"the upstream answered with an unsupported content-encoding {encoding!r}", "bad_encoding")
            )
            return
        if self._head is not None and not self._head.done():
            self._head.set_result(UpstreamResponse(self, status, headers))

    def _framing_ok(self, headers: CIMultiDict[str]) -> bool:
        """RFC 9112 framing by the final transfer coding: chunked is parsed, identity alone reads until close;
        anything else (another coding, chunked not last) is a coding we cannot undo."""
        codings = [c.strip().lower() for v in headers.getall("transfer-encoding") for c in v.split(",") if c.strip()]
        if codings == ["chunked"]:
            self._until_close = False
            return True
        if codings == ["identity"]:
            self._until_close = "content-length" not in headers
            return True
        return False

    def on_chunk_header(self) -> None:
        self._chunk_open = True

    def on_chunk_complete(self) -> None:
        self._chunk_open = False
        self._tail_bytes = 0

    def on_body(self, body: bytes) -> None:
        if self._status < 200 or self._complete:
            return
        self._got_body = True
        self._tail_bytes = 0
        if self._coding is not None:
            self._zin.append(body)
            self._zin_size += len(body)
            self._pause_above_high_water(self._zin_size)
        else:
            self._chunks.append(body)
            self._buffered += len(body)
            self._pause_above_high_water(self._buffered)
        self._wake()

    def _pause_above_high_water(self, held: int) -> None:
        """Stop reading from the socket while more than HIGH_WATER bytes wait for the client to take them."""
        if held > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._status >= 200 and not self._complete:
            self._keep_alive = self.parser.should_keep_alive()  # read now: llhttp resets it for the next message
            self._done()

    # ---- the response side -------------------------------------------------------------------------

    def _done(self) -> None:
        self._complete = True  # a compressed body still inflates step by step in read_body
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if self._complete or self._error is not None:
            return
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def read_body(self) -> bytes:
        if self._coding is not None:
            return await self._read_decoded()
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            await self._wait()
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def _wait(self) -> None:
        """Until the protocol wakes the reader (`_wake`): more body, its end, or an error."""
        self._waiter = self.pool.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _read_decoded(self) -> bytes:
        """The next step of a compressed body, inflated: at most DECODE_STEP bytes, each step a turn of the loop."""
        while True:
            data = self._zrest or self._take_compressed()
            if data:
                out = self._inflate(data)
                if out:
                    await asyncio.sleep(0)  # one bounded step per turn: other answers run between steps
                    return out
                if out is not None:
                    continue
            if self._error is not None:
                raise self._error
            if self._complete:
                if self._decoder is not None and not self._decoder.eof:
                    self._fail_read(Disconnected("the upstream's compressed body was cut short", "bad_encoding"))
                return b""
            await self._wait()

    def _take_compressed(self) -> bytes:
        if not self._zin:
            return b""
        data = self._zin.popleft()
        self._zin_size -= len(data)
        if self._paused and self._zin_size <= HIGH_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def _inflate(self, data: bytes) -> bytes | None:
        """Inflate one step of `data` (None: too little has arrived to pick the decoder yet)."""
        d = self._decoder
        if d is None:
            if len(data) < 2 and self._zin:
                data += self._take_compressed()
            if len(data) < 2 and not self._complete:
                self._zrest = data  # too short to tell zlib from raw deflate yet
                return None
            d = self._decoder = zlib.decompressobj(self._wbits(data))
        if d.eof:  # bytes after the end of the compressed stream: dropped, the connection is not reused
            self._zrest = b""
            self._keep_alive = False
            return b""
        try:
            out = d.decompress(data, DECODE_STEP)
        except zlib.error:
            self._fail_read(Disconnected("the upstream sent a corrupt compressed body", "bad_encoding"))
        self._zrest = d.unconsumed_tail
        self._decoded += len(out)
        if self._decoded > self.pool.max_decoded:
            self._fail_read(
                TooLarge(f"the upstream's answer inflates past {self.pool.max_decoded} bytes", "decoded_too_large")
            )
        return out

    def _wbits(self, head: bytes) -> int:
        """gzip or zlib by their headers; `deflate` without a zlib header is raw deflate (as aiohttp reads it)."""
        if self._coding == "deflate" and len(head) >= 2:
            zlib_header = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
            return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
        return zlib.MAX_WBITS | 32

    def _fail_read(self, error: UpstreamError) -> NoReturn:
        self._complete = False  # the body did not end well: _fail records it even after the last byte
        self._fail(error)
        self._keep_alive = False
        try:
            raise error
        finally:
            # No cycle error -> traceback -> this frame -> error: it would keep the reader's frames (a buffered
            # answer of up to max_decoded_bytes) alive until the cyclic GC happened to run.
            del error


class UpstreamPool:
    """Keep-alive connections to all upstreams, at most `limit` in all (0 = no cap)."""

    def __init__(
        self,
        *,
        limit: int = 0,
        connect_timeout: float = 10.0,
        keepalive_timeout: float = 4.0,
        max_decoded: int = 16 * 1024 * 1024,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.max_decoded = max_decoded  # what one compressed answer may inflate to
        self.connect_timeout = connect_timeout
        self.keepalive_timeout = keepalive_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._targets: dict[str, Target] = {}
        self._tls = tls  # None: the system's trust store, made on the first https connection
        self._sweeper: asyncio.TimerHandle | None = None
        self.connects_by_origin: collections.Counter[tuple[str, str, int]] = collections.Counter()

    def target(self, url: str) -> Target:
        t = self._targets.get(url)
        if t is None:
            if len(self._targets) > 4096:  # URLs come from configs; bound the cache across many reloads
                self._targets.clear()
            t = self._targets[url] = parse_target(url)
        return t

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        """Send one POST and wait for the response head. Raises ConnectError (nothing sent) or Disconnected."""
        return await self.request("POST", url, headers, body)

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> UpstreamResponse:
        """Send one request (a POST, or a GET without a body: a job poll) and wait for the response head."""
        t = self.target(url)
        length = "" if method == "GET" and not body else f"Content-Length: {len(body)}\r\n"
        lines = [f"{method} {t.path} HTTP/1.1\r\nHost: {t.host_header}\r\n{length}"]
        for name, value in headers.items():
            lines.append(f"{name}: {_clean(value)}\r\n")
        lines.append("Accept-Encoding: identity\r\n\r\n")
        head = "".join(lines).encode()  # UTF-8, as aiohttp's client sent header values
        conn = await self._acquire(t)
        try:
            return await conn.send(head, body)
        except NotSent:
            conn.close()  # closed before our last byte left: the upstream never saw the whole request
        except BaseException:
            conn.close()  # cancelled (a deadline, a client gone) or failed: this connection's state is unknown
            raise
        conn = await self._connect(t)  # the one retry, on a fresh connection
        try:
            return await conn.send(head, body)
        except BaseException:
            conn.close()
            raise

    @property
    def connects(self) -> int:
        """Connections opened so far, to all upstreams (tests check reuse with it)."""
        return sum(self.connects_by_origin.values())

    def stats(self) -> dict[str, tuple[int, int, int]]:
        """Per upstream ("scheme://host:port"): connections in use, idle, and opened so far (for /metrics)."""
        out: dict[str, list[int]] = {}
        for origin, n in self.connects_by_origin.items():
            out.setdefault(_origin_name(origin), [0, 0, 0])[2] = n
        for c in self._open:
            out.setdefault(_origin_name(c.origin), [0, 0, 0])[0 if c._busy else 1] += 1
        return {k: (v[0], v[1], v[2]) for k, v in out.items()}

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self._open):
            conn.close()
        for w in self._waiters:
            if not w.done():
                w.set_exception(ConnectError("the upstream pool is closed"))

    # ---- connections ------------------------------------------------------------------------------

    async def _acquire(self, t: Target) -> _Connection:
        conn = self._take_idle(t.origin)
        while conn is None and self.limit and len(self._open) >= self.limit:
            if not self._evict_idle():
                w = self.loop.create_future()
                self._waiters.append(w)
                try:
                    await w
                except asyncio.CancelledError:
                    if w.done() and not w.cancelled():  # woken, then cancelled before it ran: pass the wake-up on
                        self._wake_waiter()
                    raise
                finally:
                    if w in self._waiters:
                        self._waiters.remove(w)
                conn = self._take_idle(t.origin)
        return conn if conn is not None else await self._connect(t)

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = self.loop.time()
        while idle:
            conn = idle.pop()  # most recently used first: the likeliest to still be open
            if conn.expires <= now:  # the upstream may be closing it right now: never reuse it
                conn.close()
            elif conn.usable():
                return conn
        return None

    def _evict_idle(self) -> bool:
        """Close the idle connection that waited longest (to another origin), making room for a new one."""
        oldest: _Connection | None = None
        for conns in self._idle.values():
            for c in conns:
                if oldest is None or c.idle_since < oldest.idle_since:
                    oldest = c
        if oldest is None:
            return False
        oldest.close()
        return True

    async def _connect(self, t: Target) -> _Connection:
        conn = _Connection(self, t.origin)
        self._open.add(conn)
        tls = self._tls_context() if t.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self.loop.create_connection(
                    lambda: conn, t.host, t.port, ssl=tls, server_hostname=t.host if tls else None
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            conn.closed = True
            self._forget(conn)
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise ConnectError(f"cannot connect to {t.host}:{t.port}: {what}") from None
        except BaseException:
            conn.close()
            raise
        self.connects_by_origin[t.origin] += 1
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _put_back(self, conn: _Connection, ttl: float) -> None:
        conn.idle_since = now = self.loop.time()
        conn.expires = now + ttl
        self._idle.setdefault(conn.origin, []).append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._sweep_every(), self._sweep)
        self._wake_waiter()

    def _sweep_every(self) -> float:
        return max(0.05, min(self.keepalive_timeout, 60.0) / 4)

    def _forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.origin)
            if idle and conn in idle:
                idle.remove(conn)
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _sweep(self) -> None:
        """Close idle connections past their expiry (the upstream would soon close them anyway)."""
        self._sweeper = None
        now = self.loop.time()
        for conns in list(self._idle.values()):
            for c in [c for c in conns if c.expires <= now]:
                c.close()
        if any(self._idle.values()):
            self._sweeper = self.loop.call_later(self._sweep_every(), self._sweep)


def keep_alive_ttl(header: str | None, default: float) -> float:
    """How long an idle connection may be reused: a second less than the upstream's `Keep-Alive: timeout=N`
    (it closes at N, and its close may cross our next request), else `default`."""
    if header:
        for part in header.split(","):
            name, _, value = part.partition("=")
            # isascii: headers are decoded as latin-1, and "\xb2" (superscript two) passes isdigit but not int()
            if name.strip().lower() == "timeout" and value.strip().isascii() and value.strip().isdigit():
                return int(value.strip()) - 1.0
    return default


def encode_multipart(fields: list[tuple[str, bytes | str, str | None, str | None]]) -> tuple[str, bytes]:
    """A multipart/form-data body from (name, value, filename, content type) fields: (Content-Type, bytes)."""
    boundary = os.urandom(16).hex()
    out: list[bytes] = []
    for name, value, filename, ctype in fields:
        disposition = f'form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {_clean(ctype)}\r\n"
        out.append(head.encode() + b"\r\n")
        out.append(value.encode() if isinstance(value, str) else value)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
