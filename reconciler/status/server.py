"""The watcher's HTTP surface on aiohttp: /metrics, /healthz, and the read-only status page.

Why a thread with its own event loop: the watcher's loop is synchronous (one run at a time, blocking on the
chain), and the page must answer while a run waits for a receipt. A page load only reads what the last run
left in memory (the page document is built by a pure function from it): no chain call, no history scan.

Routes: `/` the page (server-rendered HTML; a small same-origin script refreshes its body from `/fragment`
every few seconds), `/fragment`, `/api/status` (the page's data as JSON), `/page.js`, `/login` (a form that
sets an HttpOnly, SameSite=Strict cookie), `/metrics`, `/healthz`. With a token every route but /healthz and
/login needs it (reconciler.status.auth).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from reconciler.status import auth
from reconciler.status import html as page_html

if TYPE_CHECKING:
    from reconciler.watch.metrics import WatchMetrics

PageDoc = Callable[[], dict[str, Any]]
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


def _no_page() -> dict[str, Any]:
    return {}


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
    ) -> None:
        why = auth.refusal(host, token)
        if why is not None:
            raise PermissionError(why)
        self.metrics, self.token, self.page, self.refresh = metrics, token, page, refresh
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
            self._runner = web.AppRunner(self._app(), access_log=None)
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
        if not auth.authorized(request.path, request.headers, request.cookies, self.token):
            if request.method == "GET" and request.path == "/":
                raise web.HTTPSeeOther("/login", headers=SECURITY_HEADERS)
            return web.Response(status=401, text="unauthorized\n", headers=SECURITY_HEADERS)
        response: web.StreamResponse = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render().encode(), content_type="text/plain", charset="utf-8")

    def _doc(self) -> dict[str, Any]:
        return (self.page or _no_page)()

    async def _page(self, _request: web.Request) -> web.Response:
        body = page_html.render_page(self._doc(), script="/page.js", refresh=self.refresh)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def _fragment(self, _request: web.Request) -> web.Response:
        return web.Response(text=page_html.render_body(self._doc()), content_type="text/html", charset="utf-8")

    async def _status(self, _request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self._doc()), content_type="application/json")

    async def _script(self, _request: web.Request) -> web.Response:
        return web.Response(text=page_html.REFRESH_SCRIPT, content_type="text/javascript", charset="utf-8")

    async def _login_form(self, _request: web.Request) -> web.Response:
        return web.Response(text=page_html.render_login(), content_type="text/html", charset="utf-8")

    async def _login(self, request: web.Request) -> web.Response:
        if self.token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not auth.token_matches(given.strip(), self.token):
            await asyncio.sleep(0.5)  # slows guessing; the form never says more than "wrong"
            return web.Response(
                status=401, text=page_html.render_login(wrong=True), content_type="text/html", charset="utf-8"
            )
        response = web.HTTPSeeOther("/")
        response.set_cookie(
            auth.COOKIE, auth.cookie_value(self.token), httponly=True, samesite="Strict", path="/", max_age=30 * 86400
        )
        raise response
