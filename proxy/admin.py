"""The control plane: health, readiness, Prometheus metrics, config inspection and reload."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy.error_bodies import error_response
from proxy.routing import check_bearer
from proxy.state import ProxyState


def _rfc3339(state: ProxyState) -> str | None:
    cfg = state.config
    return cfg.loaded_at.strftime("%Y-%m-%dT%H:%M:%SZ") if cfg else None


class Admin:
    """Admin handlers; every /admin call needs the admin token, and is refused when none is configured."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state

    def _guard(self, request: web.Request) -> web.Response | None:
        if self.state.admin_token is None:
            return error_response(403, "the admin API is disabled: no admin token is configured", code="admin_disabled")
        if not check_bearer(request, self.state.admin_token):
            return error_response(
                401,
                "missing or wrong admin bearer token",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        cfg = self.state.config
        if self.state.draining:
            return web.json_response({"status": "draining"}, status=503)
        if cfg is None:
            return web.json_response({"status": "no config loaded"}, status=503)
        return web.json_response({"status": "ready", "version": cfg.version})

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.state.metrics_open and (denied := self._guard(request)) is not None:
            return denied
        return web.Response(
            text=self.state.metrics.render(), content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
        )

    async def config(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        cfg = self.state.config
        return web.json_response(
            {
                "version": cfg.version if cfg else None,
                "loadedAt": _rfc3339(self.state),
                "source": cfg.source if cfg else str(self.state.config_path),
                "models": [r.public() for r in cfg.routes] if cfg else [],
                "lastReloadError": self.state.last_reload_error,
            }
        )

    async def reload(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        outcome = self.state.reload("admin")  # in the loop thread: slot gates are not thread-safe
        if not outcome.ok:
            return error_response(
                422,
                "the models-config is invalid; the previous config keeps serving",
                code="invalid_config",
                extra={"errors": outcome.errors},
            )
        return web.json_response({"version": outcome.version, "changed": outcome.changed})


@web.middleware
async def _openai_shaped_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 404 and 405 (a wrong path or method) answer in the OpenAI error shape, as the data plane's do."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, exc.reason, code=f"http_{exc.status}", headers=headers)


def admin_app(state: ProxyState) -> web.Application:
    admin = Admin(state)
    app = web.Application(middlewares=[_openai_shaped_errors])
    app.router.add_get("/healthz", admin.healthz)
    app.router.add_get("/readyz", admin.readyz)
    app.router.add_get("/metrics", admin.metrics)
    app.router.add_get("/admin/config", admin.config)
    app.router.add_post("/admin/reload", admin.reload)
    return app
