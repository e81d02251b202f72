"""Listening sockets with a bounded number of client connections, and accept errors that never flood the log.

asyncio's own accept loop (`loop.create_server`) logs a traceback for every failed `accept()` and, on EMFILE,
goes on calling `accept()` up to `backlog` times in the same turn: at the descriptor limit it wrote ~10,000
tracebacks a second and starved both planes. Here each plane accepts in a task of its own with public asyncio
calls (`sock_accept`, `connect_accepted_socket`):

- a plane with a cap closes a new connection at once while it holds `cap` open ones (counted, and logged at most
  once per `LOG_INTERVAL`), so the data plane never takes the descriptors the admin plane and the upstream
  sockets need;
- a failed accept (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses accepting until one of the plane's connections closes
  (at most `RETRY_DELAY`), counted by errno and logged at most once per `LOG_INTERVAL`; accepting resumes by
  itself when descriptors free up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("morpheus_proxy")

FD_RESERVE = 64  # descriptors kept for the admin plane, the config watcher, the log and the process's own files
LOG_INTERVAL = 5.0  # seconds between two WARNINGs about the same accept trouble
RETRY_DELAY = 1.0  # out of descriptors: the longest wait before accepting is tried again
# A connection that ended before it was accepted, or a signal: accept the next one.
TRANSIENT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR})


def default_connection_cap() -> int | None:
    """The data plane's cap when none is set: half of the descriptor soft limit less FD_RESERVE.

    Every client connection may hold an upstream connection while its request is forwarded, so half the
    descriptors go to clients; FD_RESERVE stays for the admin plane and the rest. None when unlimited.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, (soft - FD_RESERVE) // 2)


class _RateLimitedWarning:
    """One WARNING per LOG_INTERVAL; occurrences in between are counted into the next one."""

    __slots__ = ("_last", "_quiet")

    def __init__(self) -> None:
        self._last = -LOG_INTERVAL
        self._quiet = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < LOG_INTERVAL:
            self._quiet += 1
            return
        self._last, quiet, self._quiet = now, self._quiet, 0
        log.warning(message + " (%d more since the last report)", *args, quiet)


class ClientConnections:
    """One plane's client connections: how many are open against its cap (None: no cap), how many were closed by
    the forwarder and why, and its failed accepts by errno name. The metrics read it at scrape time."""

    __slots__ = ("_freed", "_warn_cap", "accept_errors", "cap", "closed", "open", "plane")

    def __init__(self, plane: str, cap: int | None = None) -> None:
        self.plane, self.cap = plane, cap
        self.open = 0
        self.closed: dict[str, int] = {}  # reason (cap, head_timeout) -> count
        self.accept_errors: dict[str, int] = {}  # errno name -> count
        self._freed: asyncio.Event | None = None
        self._warn_cap = _RateLimitedWarning()

    @property
    def at_cap(self) -> bool:
        return self.cap is not None and self.open >= self.cap

    def opened(self) -> None:
        self.open += 1

    def lost(self) -> None:
        self.open -= 1
        if self._freed is not None:
            self._freed.set()

    def count_closed(self, reason: str) -> None:
        self.closed[reason] = self.closed.get(reason, 0) + 1

    async def descriptor_freed(self, timeout: float) -> None:
        """Wait until one of this plane's connections closes, or `timeout` (a descriptor freed elsewhere)."""
        if self._freed is None:
            self._freed = asyncio.Event()
        self._freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._freed.wait(), timeout)

    def refuse(self, conn: socket.socket) -> None:
        """Close a connection past the cap at once (the client sees its connection closed, no answer)."""
        conn.close()
        self.count_closed("cap")
        self._warn_cap(
            "%s plane at its cap of %d client connections: new connections are closed at once", self.plane, self.cap
        )


class Listener(asyncio.AbstractServer):
    """Accepts on `sockets` and hands each connection to `factory`, within `connections`' cap."""

    def __init__(
        self, factory: Callable[[], asyncio.BaseProtocol], sockets: list[socket.socket], connections: ClientConnections
    ) -> None:
        self._factory, self._sockets, self.connections = factory, sockets, connections
        self._tasks: list[asyncio.Task[None]] = []
        self._warn_errors = _RateLimitedWarning()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def is_serving(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def start_serving(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._accept_loop(sock)) for sock in self._sockets]

    def close(self) -> None:
        """Stop accepting; each socket is closed by its task once its pending accept is withdrawn."""
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await asyncio.gather(*self._tasks)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        book = self.connections
        failed = 0
        try:
            while True:
                try:
                    conn, _ = await loop.sock_accept(sock)
                except OSError as exc:
                    if exc.errno in TRANSIENT:
                        continue
                    failed += 1  # out of descriptors or buffers (or an error never seen): wait, then try again
                    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    book.accept_errors[name] = book.accept_errors.get(name, 0) + 1
                    self._warn_errors(
                        "%s plane cannot accept connections: %s (%s); retrying as descriptors free up",
                        book.plane,
                        name,
                        exc.strerror,
                    )
                    await book.descriptor_freed(RETRY_DELAY)
                    continue
                if failed:
                    log.info("%s plane accepting again after %d failed accepts", book.plane, failed)
                    failed = 0
                if book.at_cap:
                    book.refuse(conn)
                    await asyncio.sleep(0)  # a flood of connections past the cap still lets the loop run
                    continue
                try:
                    await loop.connect_accepted_socket(self._factory, conn)
                except OSError:  # the client was gone already
                    conn.close()
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug: say so, with its traceback, once; the plane stops accepting
            log.exception("%s plane stopped accepting connections", book.plane)
        finally:
            sock.close()


def listening_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for HOST:PORT, one per address it resolves to (as asyncio does)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(
                    exc.errno, f"error while attempting to bind on address {address!r}: {exc.strerror}"
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class ListenSite(web.BaseSite):
    """An aiohttp site that accepts through a `Listener` (the runner's stop and drain work as with a TCPSite)."""

    __slots__ = ("_connections", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, connections: ClientConnections, *, backlog: int = 4096
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._connections = host, port, connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the first socket's), once started: port 0 asks for a free one."""
        if isinstance(self._server, Listener) and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        listener = Listener(server, listening_sockets(self._host, self._port, self._backlog), self._connections)
        self._server = listener
        await listener.start_serving()
