"""Wiring: the data plane (aiohttp's low-level server), the admin app, the upstream pool, hot reload, graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import watchfiles
from aiohttp import web

from proxy.admin import admin_app
from proxy.downstream import PREPARED
from proxy.error_bodies import error_response
from proxy.forward import Forwarder
from proxy.hop import Hop
from proxy.intake import Intake
from proxy.listener import ClientConnections, ListenSite, default_connection_cap
from proxy.metrics import Metrics
from proxy.relay import RELAY_PREFIX, Relay
from proxy.settings import Settings
from proxy.state import ProxyState
from proxy.upstream import UpstreamPool

log = logging.getLogger("morpheus_proxy")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


DataHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def data_handler(state: ProxyState) -> DataHandler:
    """The data plane: five fixed routes looked up in a dict, and the relay paths (`/v1/relay/<model id>`) of
    image, video and decisions models.

    aiohttp's Application, router and middleware chain took ~7% of a forwarded request's CPU here, and the data
    plane needs none of what they offer; the admin plane stays an Application. aiohttp's own HTTP errors (413
    from a body over max_body_bytes, ...), unknown paths and wrong methods answer in the OpenAI error shape; a
    crash is logged and answered with a plain 500.
    """
    hop, intake = Hop(state), Intake(state)
    fwd = Forwarder(hop, intake)
    relay = Relay(hop, intake)
    routes: dict[str, tuple[str, DataHandler]] = {
        "/v1/chat/completions": ("POST", fwd.chat),
        "/v1/embeddings": ("POST", fwd.embeddings),
        "/v1/audio/speech": ("POST", fwd.speech),
        "/v1/audio/transcriptions": ("POST", fwd.transcriptions),
        "/v1/models": ("GET", fwd.models),
    }

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if state.client_token is None:  # the browser rule (proxy/browsers.py): with a token, the token decides
            headers = request.headers
            if (refused := state.browsers.refusal(headers.get("Host"), headers.get("Origin"))) is not None:
                return intake.browser_refused(refused)
        found = routes.get(request.path)
        if found is not None:
            method, handler = found
            if request.method != method and not (method == "GET" and request.method == "HEAD"):
                return error_response(405, "Method Not Allowed", code="http_405", headers={"Allow": method})
        elif request.path.startswith(RELAY_PREFIX):
            handler = relay.handle  # checks its own methods (POST, or GET for a job poll)
        else:
            return error_response(404, "Not Found", code="http_404")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(exc.status, exc.reason, code=f"http_{exc.status}")
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)  # no body, no headers: no secrets
            if (started := request.get(PREPARED)) is not None:
                # The answer's head is out: a 500 now would be written into its body. Cut it instead.
                if request.transport is not None:
                    request.transport.close()
                return started
            return error_response(500, "internal error in morpheus-proxy", type_="api_error", code="internal_error")

    return handle


class _DataRequestHandler(web.RequestHandler):
    """aiohttp's connection handler with deadlines for request heads and its error answers in the OpenAI shape.

    A connection must complete its first request head within `first_head_timeout` of its accept: one that sends
    nothing was held for aiohttp's hour-long keep-alive timeout, so a few thousand idle sockets exhausted the
    descriptors. A head, once begun (a slow-loris client trickling one), has `head_timeout` from its first bytes
    (the first head: whichever deadline comes first); an idle kept-alive connection between requests keeps
    aiohttp's own timeout. A connection closed for either is counted (reason head_timeout).

    aiohttp answers a request it cannot parse (a malformed head, a header over its size limit, an HTTP/2
    preface) with text/plain quoting the offending bytes, and logs it at ERROR with a traceback: every port
    scanner would fill the log. A client's malformed request is logged at debug in one line; the answer is a
    fixed message. A 500 (a crash past `data_handler`) is still logged with its traceback.
    """

    head_timeout = 60.0  # set per server from request_read_timeout
    first_head_timeout = 10.0  # set per server from first_head_timeout
    client_connections: ClientConnections | None = None  # the data plane's count, set per server
    _head_timer: asyncio.TimerHandle | None = None
    _head_begun = False  # bytes of a request head that is not complete yet have arrived
    _counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.client_connections is not None:
            self.client_connections.opened()
            self._counted = True
        self._head_timer = asyncio.get_running_loop().call_later(self.first_head_timeout, self._head_deadline)

    def data_received(self, data: bytes) -> None:
        """A completed request head meets its deadline; bytes that complete none arm one (aiohttp internals, read
        defensively: without them only the first head's deadline is kept)."""
        before = getattr(self, "_request_count", None)
        super().data_received(data)
        if before is None:
            return
        if self._request_count != before:
            self._cancel_head_timer()
            self._head_begun = False
        elif data and not self._head_begun and not self._busy():
            self._head_begun = True  # the head's deadline: head_timeout from now, or the first head's if sooner
            due = asyncio.get_running_loop().time() + self.head_timeout
            if self._head_timer is None or due < self._head_timer.when():
                self._cancel_head_timer()
                self._head_timer = asyncio.get_running_loop().call_at(due, self._head_deadline)

    def _head_deadline(self) -> None:
        self._head_timer = None
        self._head_begun = False
        if not self._busy():
            log.debug("closing a connection whose request head did not arrive in time")
            if self.client_connections is not None:
                self.client_connections.count_closed("head_timeout")
            self.force_close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _busy(self) -> bool:
        """A request is being handled or queued (aiohttp internals, read defensively: unknown means busy)."""
        return bool(getattr(self, "_request_in_progress", True) or getattr(self, "_messages", True))

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        if self._counted and self.client_connections is not None:
            self._counted = False
            self.client_connections.lost()
        super().connection_lost(exc)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            log.debug("malformed request from %s: %s", request.remote, type(exc).__name__ if exc else status)
        if request.writer.output_size > 0:  # an answer already started: the connection is broken
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if status >= 500:
            resp = error_response(500, "internal error in morpheus-proxy", type_="api_error", code="internal_error")
        else:
            resp = error_response(status, "malformed HTTP request", code=f"http_{status}")
        resp.force_close()
        return resp


class _DataServer(web.Server):
    head_timeout = 60.0
    first_head_timeout = 10.0
    client_connections: ClientConnections | None = None

    def __call__(self) -> web.RequestHandler:
        handler = _DataRequestHandler(self, loop=asyncio.get_running_loop(), **self._kwargs)
        handler.head_timeout = self.head_timeout
        handler.first_head_timeout = self.first_head_timeout
        handler.client_connections = self.client_connections
        return handler


def data_server(state: ProxyState, connections: ClientConnections | None = None) -> web.Server:
    """aiohttp's low-level server around `data_handler`, with the request body caps (`max_body_bytes` for audio
    uploads, `max_json_body_bytes` for the rest) enforced while reading, and its open connections counted in
    `connections`."""
    loop = asyncio.get_running_loop()
    cap = state.settings.max_body_bytes
    json_cap = min(cap, state.settings.max_json_body_bytes)  # only audio uploads need the large cap

    def make_request(
        message: Any, payload: Any, protocol: Any, writer: Any, task: asyncio.Task[None]
    ) -> web.BaseRequest:
        size = cap if message.path == "/v1/audio/transcriptions" else json_cap
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=size)

    server = _DataServer(data_handler(state), request_factory=make_request, handler_cancellation=True, access_log=None)
    server.head_timeout = state.settings.request_read_timeout  # a request head, like a body, arrives in time
    server.first_head_timeout = state.settings.first_head_timeout
    server.client_connections = connections
    return server


def new_pool(state: ProxyState) -> UpstreamPool:
    """One pooled keep-alive client for all upstreams; a set pool_limit is raised to the sum of all slots."""
    st = state.settings
    pool = UpstreamPool(
        limit=0,
        connect_timeout=st.connect_timeout,
        keepalive_timeout=st.upstream_keepalive_s,
        max_decoded=st.max_decoded_bytes,
    )
    state.upstream = pool
    state.size_pool()
    return pool


@dataclass
class Running:
    """A started forwarder: both planes listening; `stop()` drains and closes everything."""

    state: ProxyState
    data_runner: web.BaseRunner
    admin_runner: web.AppRunner
    data_port: int
    admin_port: int
    watcher: asyncio.Task[None] | None
    connections: ClientConnections  # the data plane's

    async def stop(self) -> None:
        self.state.draining = True
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        await self.data_runner.cleanup()  # stop accepting, wait up to drain_grace for in-flight requests
        await self.admin_runner.cleanup()
        await self.state.offload.close()
        if self.state.upstream is not None:
            await self.state.upstream.close()


async def _start_site(runner: web.BaseRunner, host: str, port: int, connections: ClientConnections) -> int:
    site = ListenSite(runner, host, port, connections, backlog=4096)
    await site.start()
    return site.port


def connection_cap(settings: Settings) -> int | None:
    """The data plane's cap: `max_connections`, or by default what the descriptor limit leaves (None: no cap)."""
    default = default_connection_cap()
    if not settings.max_connections:
        return default
    if default is not None and settings.max_connections > default:
        log.warning(
            "max_connections %d is above %d (half the descriptor limit less a reserve): at the limit, the admin "
            "plane and upstream connections may find no descriptor",
            settings.max_connections,
            default,
        )
    return settings.max_connections


def _collect_connections(metrics: Metrics, planes: tuple[ClientConnections, ...]) -> Callable[[], None]:
    def collect() -> None:
        data = planes[0]
        metrics.client_connections.set((), data.open)
        metrics.client_connections_cap.set((), data.cap or 0)
        metrics.client_connections_at_cap.set((), int(data.at_cap))
        for reason, count in data.closed.items():
            metrics.client_connections_closed.set((("reason", reason),), count)
        for plane in planes:
            for name, count in plane.accept_errors.items():
                metrics.accept_errors.set((("plane", plane.plane), ("reason", name)), count)

    return collect


async def watch_config(state: ProxyState) -> None:
    """Reload when the file changes: its folder is watched (so atomic renames are seen too), not subfolders,
    and only events on the file itself count. A reload that fails unexpectedly is logged and the watch goes on."""
    path = state.config_path.resolve()

    def relevant(change: watchfiles.Change, changed: str) -> bool:
        return Path(changed) == path

    try:
        async for _ in watchfiles.awatch(
            path.parent, watch_filter=relevant, debounce=state.settings.watch_debounce_ms, step=50, recursive=False
        ):
            try:
                state.reload("file")
            except Exception as exc:  # never the message: it could quote the file
                log.error(
                    "reload (file) failed unexpectedly (%s); the previous config keeps serving", type(exc).__name__
                )
    except Exception:
        log.exception("the config file watcher stopped; SIGHUP and POST /admin/reload still reload")


async def start(
    state: ProxyState,
    listen: tuple[str, int],
    admin_listen: tuple[str, int],
    *,
    watch: bool = True,
    prestart_offload: bool = False,
) -> Running:
    """Start both planes (port 0 picks a free port); the config must already be loaded. `prestart_offload`: also
    start the big-body workers, in the background once both planes listen (`morpheus-proxy` does)."""
    new_pool(state)
    data_connections = ClientConnections("data", connection_cap(state.settings))
    admin_connections = ClientConnections("admin")
    state.metrics.collectors.append(_collect_connections(state.metrics, (data_connections, admin_connections)))
    data_runner = web.ServerRunner(data_server(state, data_connections), shutdown_timeout=state.settings.drain_grace)
    admin_runner = web.AppRunner(admin_app(state), access_log=None, shutdown_timeout=1.0)
    await data_runner.setup()
    await admin_runner.setup()
    try:
        data_port = await _start_site(data_runner, *listen, data_connections)
        admin_port = await _start_site(admin_runner, *admin_listen, admin_connections)
    except BaseException:
        await data_runner.cleanup()
        await admin_runner.cleanup()
        raise
    watcher = asyncio.create_task(watch_config(state)) if watch else None
    if prestart_offload:
        state.offload.prestart()
    return Running(state, data_runner, admin_runner, data_port, admin_port, watcher, data_connections)


@contextlib.asynccontextmanager
async def running(
    state: ProxyState,
    listen: tuple[str, int] = ("127.0.0.1", 0),
    admin_listen: tuple[str, int] = ("127.0.0.1", 0),
    *,
    watch: bool = True,
    prestart_offload: bool = False,
) -> AsyncIterator[Running]:
    """In-process forwarder for tests and embedding; always stopped on exit. Its big-body workers start at the
    first big body unless `prestart_offload` (a test's forwarder seldom sees one)."""
    r = await start(state, listen, admin_listen, watch=watch, prestart_offload=prestart_offload)
    try:
        yield r
    finally:
        await r.stop()


async def serve(
    state: ProxyState, listen: tuple[str, int], admin_listen: tuple[str, int], *, watch: bool = True
) -> None:
    """Run until SIGTERM/SIGINT, reloading on SIGHUP; then drain and exit."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    r = await start(state, listen, admin_listen, watch=watch)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: state.reload("sighup"))
    log.info("listening on %s:%d (admin %s:%d)", listen[0], r.data_port, admin_listen[0], r.admin_port)
    print(f"morpheus-proxy listening on {listen[0]}:{r.data_port} admin {admin_listen[0]}:{r.admin_port}", flush=True)
    await stop.wait()
    log.info("draining (grace %.0fs)", state.settings.drain_grace)
    await r.stop()
    log.info("stopped")
