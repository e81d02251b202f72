"""The watcher's HTTP surface on aiohttp: /metrics, /healthz, and the read-only status page.

Why a thread with its own event loop: the watcher's loop is synchronous (one run at a time, blocking on the
chain), and the page must answer while a run waits for a receipt. A page load only reads what the last run
left in memory (the page document is built by a pure function from it): no chain call, no history scan.

Routes: `/` the page (server-rendered HTML; a small same-origin script refreshes its body from `/fragment`
every few seconds), `/fragment`, `/api/status` (the page's data as JSON) -- these three hold the last 20 runs,
or with `?runs=all` every run the watcher keeps -- `/page.js`, `/login` (a form that sets an HttpOnly,
SameSite=Strict cookie that expires), `/metrics`, `/healthz`. With a token every route but
/healthz and /login needs it, and wrong tokens are limited for the whole server (reconciler.status.auth);
without one, only loopback names and the page's own origin are served (reconciler.status.browsers).

A hostile client's bytes are its mistake, never ours: an undecodable header or form is a 400, a head aiohttp
cannot parse (a URL over 8 KB) is logged in one line, and neither leaves a traceback in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from reconciler.status import auth
from reconciler.status import html as page_html
from reconciler.status.browsers import MISDIRECTED, BrowserRule

if TYPE_CHECKING:
    from reconciler.watch.metrics import WatchMetrics

PageDoc = Callable[..., dict[str, Any]]  # called with no argument, or with runs=None for every run kept
REFRESH_SECONDS = 2.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


WRONG_TOKEN_DELAY = 0.5  # a wrong login waits this long; the server-wide budget is what limits guessing
log = logging.getLogger(__name__)


def _no_page(**_runs: Any) -> dict[str, Any]:
    return {}


class _OneLineClientErrors(logging.LoggerAdapter):
    """aiohttp's connection log (its `logger`): a request head it cannot parse (a URL or header over 8 KB, a
    malformed line) is the client's mistake, said in one line at INFO without its bytes; a crash keeps its
    traceback at ERROR."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 500) < 500:
            peer = args[0] if args else "?"
            self.info("refused a malformed request from %s (%s)", peer, type(exc).__name__)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _undecodable_header(request: web.Request) -> str | None:
    """The name of a header whose value held bytes that are not UTF-8 (aiohttp keeps them as surrogates)."""
    for name, value in request.headers.items():
        try:
            value.encode()
        except UnicodeEncodeError:
            return name
    return None


def _login_token(body: bytes) -> str | None:
    """The `token` field of the login form's urlencoded body; None when it is absent. Raises ValueError (a
    UnicodeDecodeError included) when the body or a percent-escape in it is not UTF-8."""
    fields = urllib.parse.parse_qs(body.decode(), errors="strict", max_num_fields=10)
    values = fields.get("token")
    return values[0] if values else None


class WatchServer:
    """Serve the watcher's HTTP surface on host:port (port 0: any free one) until `stop()`."""

    def __init__(
        self,
        metrics: WatchMetrics,
        host: str,
        port: int,
        token: str | None = None,
        page: PageDoc | None = None,
        refresh: float = REFRESH_SECONDS,
        *,
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
        cookie_max_age: float = auth.COOKIE_MAX_AGE,
        guesses_per_second: float = auth.GUESSES_PER_SECOND,
        guess_burst: int = auth.GUESS_BURST,
    ) -> None:
        if token is not None and (weak := auth.token_refusal(token)) is not None:
            raise ValueError(weak)
        why = auth.refusal(host, token)
        if why is not None:
            raise PermissionError(why)
        self.metrics, self.token, self.page, self.refresh = metrics, token, page, refresh
        self.browsers = BrowserRule(allow_hosts, allow_origins)  # applies without a token only
        self.cookie_max_age = cookie_max_age
        self.guesses = auth.GuessBudget(guesses_per_second, guess_burst)
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host.strip("[]"), port))
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="watch-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self) -> WatchServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._sock.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            clients = _OneLineClientErrors(logging.getLogger("aiohttp.server"), {})
            self._runner = web.AppRunner(self._app(), access_log=None, logger=clients)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.SockSite(self._runner, self._sock).start())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

    # --- the application --------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        if self.page is not None:
            app.router.add_get("/", self._page)
            app.router.add_get("/fragment", self._fragment)
            app.router.add_get("/api/status", self._status)
            app.router.add_get("/page.js", self._script)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if (name := _undecodable_header(request)) is not None:
            log.info("refused a request from %s: its %s header is not UTF-8", request.remote, name)
            return _plain(400, "a header is not UTF-8\n")
        if self.token is None:
            refused = self.browsers.refusal(request.headers.get("Host"), request.headers.get("Origin"))
            if refused == MISDIRECTED:
                return _plain(421, "this server answers only to loopback names and --allow-host\n")
            if refused is not None:
                return _plain(403, "a request from another site's page (its Origin is not this server's)\n")
        verdict = auth.verdict(
            request.path, request.headers, request.cookies, self.token, time.time(), self.cookie_max_age
        )
        if verdict is auth.Verdict.WRONG and not self.guesses.take(time.monotonic()):
            return _too_many()
        if verdict is not auth.Verdict.ALLOWED:
            if request.method == "GET" and request.path == "/":
                raise web.HTTPSeeOther("/login", headers=SECURITY_HEADERS)
            return _plain(401, "unauthorized\n")
        response: web.StreamResponse = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render().encode(), content_type="text/plain", charset="utf-8")

    def _doc(self, request: web.Request) -> dict[str, Any]:
        """The page document; `?runs=all` asks for every run the watcher keeps instead of the last 20."""
        page = self.page or _no_page
        return page(runs=None) if request.query.get("runs") == "all" else page()

    async def _page(self, request: web.Request) -> web.Response:
        body = page_html.render_page(self._doc(request), script="/page.js", refresh=self.refresh)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def _fragment(self, request: web.Request) -> web.Response:
        return web.Response(text=page_html.render_body(self._doc(request)), content_type="text/html", charset="utf-8")

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self._doc(request)), content_type="application/json")

    async def _script(self, _request: web.Request) -> web.Response:
        return web.Response(text=page_html.REFRESH_SCRIPT, content_type="text/javascript", charset="utf-8")

    async def _login_form(self, _request: web.Request) -> web.Response:
        return web.Response(text=page_html.render_login(), content_type="text/html", charset="utf-8")

    async def _login(self, request: web.Request) -> web.Response:
        """The right token gets a fresh cookie at once; anything else is a guess, spent from the server's
        budget (429 at once when it is empty), answered after a short delay: an undecodable body too."""
        if self.token is None:
            raise web.HTTPSeeOther("/")
        try:
            given = _login_token(await request.read())
        except ValueError:  # UnicodeDecodeError included
            given, undecodable = None, True
        else:
            undecodable = False
        if given is not None and auth.token_matches(given.strip(), self.token):
            response = web.HTTPSeeOther("/")
            response.set_cookie(
                auth.COOKIE,
                auth.cookie_value(self.token, int(time.time())),
                httponly=True,
                samesite="Strict",
                path="/",
                max_age=int(self.cookie_max_age),
            )
            raise response
        if not self.guesses.take(time.monotonic()):
            return _too_many()
        await asyncio.sleep(WRONG_TOKEN_DELAY)  # the form never says more than "wrong"
        if undecodable:
            log.info("refused a login from %s: its form is not UTF-8", request.remote)
            return _plain(400, "the form is not UTF-8\n")
        return web.Response(
            status=401, text=page_html.render_login(wrong=True), content_type="text/html", charset="utf-8"
        )


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, headers=SECURITY_HEADERS)


def _too_many() -> web.Response:
    return web.Response(
        status=429,
        text="too many wrong tokens: try again in a few seconds\n",
        headers={**SECURITY_HEADERS, "Retry-After": "1"},
    )
