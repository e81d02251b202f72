"""A raw-socket loopback upstream that misbehaves on purpose, one named mode per misbehaviour (issue 17).

aiohttp's server would refuse to send most of these answers (bombs, trailer floods, 101s, broken framing),
so each mode writes its bytes itself. Helpers to measure the forwarder's memory live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import sys
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1 << 30


@functools.cache
def gzip_bomb(unit: bytes = b"\0", size: int = GIB) -> bytes:
    """A gzip member that inflates to `size` bytes of `unit` repeated (~1 MB for 1 GiB; made in ~0.3 s).

    Each 1 MiB block is compressed after a full flush, so every block compresses to the same bytes and the
    block is written once and repeated instead of compressing a whole GiB.
    """
    block_len = (1 << 20) // len(unit) * len(unit)
    block = (unit * (block_len // len(unit)))[:block_len]
    n = size // block_len
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return head + packed * n + tail + struct.pack("<II", crc, (n * block_len) & 0xFFFFFFFF)


@dataclass
class Conn:
    """One accepted upstream connection, as a mode sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    up: Hostile
    index: int  # 0 for the first connection the server accepted

    async def read_request(self) -> bytes:
        """One whole request (head and Content-Length body); b"" when the client closed."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        length = _content_length(head)
        try:
            body = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        self.up.requests.append(head + body)
        return head + body

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.up.sent += len(data)

    def reset(self) -> None:
        """Close with an RST (SO_LINGER 0), as a crashed or impatient server does."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


Mode = Callable[[Conn], Awaitable[None]]


@dataclass
class Hostile:
    url: str = ""
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    sent: int = 0  # bytes the modes wrote
    peer_closed: int = 0  # connections the forwarder closed while a mode was still writing


@contextlib.asynccontextmanager
async def hostile_upstream(mode: Mode) -> AsyncIterator[Hostile]:
    """Serve `mode` on a free 127.0.0.1 port; always stopped. `url` is the origin (no path)."""
    up = Hostile()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        conn = Conn(reader, writer, up, up.connections)
        up.connections += 1
        try:
            await mode(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            up.peer_closed += 1
        finally:
            tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    up.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield up
    finally:
        server.close()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def head(status: str = "200 OK", *lines: str) -> bytes:
    return ("HTTP/1.1 " + status + "\r\n" + "".join(f"{ln}\r\n" for ln in lines) + "\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def hold_open(conn: Conn) -> None:
    """Keep the connection until the forwarder closes it."""
    await conn.reader.read()


# ---- the real process ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealForwarder:
    port: int
    stderr: bytes = b""


@contextlib.asynccontextmanager
async def real_forwarder(config: Path) -> AsyncIterator[RealForwarder]:
    """`morpheus-proxy` as its own process on free ports (always stopped; its stderr is kept).

    For what depends on process-wide state: this test process runs with a raised recursion limit (set by an
    imported library), under which json.loads overflows the C stack on deep input instead of raising.
    """
    out = RealForwarder(free_port())
    exe = str(Path(sys.executable).with_name("morpheus-proxy"))
    proc = await asyncio.create_subprocess_exec(
        exe, "--config", str(config), "--listen", f"127.0.0.1:{out.port}", "--admin-listen",
        f"127.0.0.1:{free_port()}", "--no-watch", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert b"listening" in await asyncio.wait_for(proc.stdout.readline(), 20)
        yield out
    finally:
        if proc.returncode is None:
            proc.terminate()
        _, out.stderr = await proc.communicate()


# ---- memory --------------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakRSS:
    """Samples this process's RSS from a thread every 2 ms (a blocked event loop cannot hide a peak)."""

    def __init__(self) -> None:
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6
