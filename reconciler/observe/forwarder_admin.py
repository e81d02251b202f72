"""The forwarder's admin API, and the one client of it: the served config, `/metrics`, a reload, the served version.

Why one client: the observer, `reconcile status`, apply's reload confirmation, the watcher's poller and the
status page's sampler all ask the same API (proxy/admin.py) with the same bearer token. Here alone are its
routes, its headers and `proxy.adminToken` resolved; a call that gets no usable answer raises
`AdminCallFailed`, which names the HTTP status or what failed, never the token. The token goes only to a loopback
host or one the operator trusts (reconciler.observe.destinations); anywhere else nothing is sent
(`UntrustedDestination`), whichever command asks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler import EndpointUnusable
from reconciler.desired.model import Desired, ProxySpec
from reconciler.desired.modelsconfig import entry_from_json
from reconciler.desired.references import resolve
from reconciler.observe.destinations import not_trusted, trusted_hosts, untrusted_host
from reconciler.observe.model import ModelsConfigState
from reconciler.observe.prometheus import MetricSample, parse

CONFIG = "/admin/config"
RELOAD = "/admin/reload"
METRICS = "/metrics"
HEALTHZ = "/healthz"


class AdminCallFailed(EndpointUnusable):
    """No usable answer: `status` is the HTTP status the API answered (None: no answer, or not one to read), and
    `cause` names what failed (the transport error's or the decoding error's class). Every caller says what it
    means for its own purpose (a note, a refused reload)."""

    def __init__(self, path: str, status: int | None, cause: str) -> None:
        self.path, self.status, self.cause = path, status, cause
        answered = f"answered {status}" if status is not None else f"unreachable ({cause})"
        super().__init__(f"forwarder {path} {answered}")


class UntrustedDestination(AdminCallFailed):
    """Not asked: the token would go to `host`, neither loopback nor trusted by the operator; nothing was sent."""

    def __init__(self, path: str, host: str) -> None:
        super().__init__(path, None, "untrusted destination")
        self.host = host
        self.args = (not_trusted(host),)


@dataclass(frozen=True)
class ReloadAnswer:
    """What `POST /admin/reload` answered, whatever its status (the caller says what a refusal means)."""

    status: int
    text: str  # the body (the forwarder answers JSON, in UTF-8)

    def json(self) -> Any:
        return json.loads(self.text)


def admin_token(proxy: ProxySpec | None, environ: Mapping[str, str] | None = None) -> str | None:
    """`proxy.adminToken`'s value here; None when none is configured or it has no value in this environment."""
    if proxy is None or proxy.admin_token is None:
        return None
    return resolve(proxy.admin_token, environ)


@dataclass(frozen=True)
class ForwarderAdmin:
    """The admin API at `url`, asked with `token` as the bearer (None: without one, as on loopback); the token
    goes only to loopback or to a host in `trusted` (the operator's `--trust-host`, `RECONCILE_TRUSTED_HOSTS`)."""

    url: str
    token: str | None = None
    trusted: frozenset[str] = frozenset()

    @classmethod
    def of(cls, desired: Desired, environ: Mapping[str, str] | None = None) -> ForwarderAdmin | None:
        """The desired state's forwarder admin API (None: no `proxy.adminUrl`)."""
        proxy = desired.proxy
        if proxy is None or not proxy.admin_url:
            return None
        return cls(proxy.admin_url, admin_token(proxy, environ), trusted_hosts(environ))

    def _at(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def _headers(self, path: str) -> dict[str, str]:
        """The bearer header, where the token may go; else `UntrustedDestination` before anything is sent."""
        if not self.token:
            return {}
        if (host := untrusted_host(self.url, self.trusted)) is not None:
            raise UntrustedDestination(path, host)
        return {"Authorization": f"Bearer {self.token}"}

    def _get(self, path: str, timeout: float) -> httpx.Response:
        """GET `path` with the token; anything but a 2xx answer is AdminCallFailed."""
        headers = self._headers(path)
        try:
            r = httpx.get(self._at(path), headers=headers, timeout=timeout)
            r.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise AdminCallFailed(path, exc.response.status_code, type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise AdminCallFailed(path, None, type(exc).__name__) from None
        return r

    def _config_json(self, timeout: float) -> Any:
        try:
            return self._get(CONFIG, timeout).json()
        except ValueError as exc:  # not JSON
            raise AdminCallFailed(CONFIG, None, type(exc).__name__) from None

    def config(self, timeout: float = 5.0) -> ModelsConfigState:
        """GET /admin/config: {version, models: [entry without apiKey, with apiKeyFingerprint], lastReloadError}."""
        data = self._config_json(timeout)
        try:
            models = [m for m in data.get("models", []) if isinstance(m, dict)]
            return ModelsConfigState(
                source=f"admin:{self.url}",
                exists=True,
                version=data.get("version"),
                entries=tuple(entry_from_json(m) for m in models),
                error=data.get("lastReloadError"),
            )
        except ValueError as exc:  # an entry that is no models-config entry
            raise AdminCallFailed(CONFIG, None, type(exc).__name__) from None

    def served_version(self, timeout: float = 2.0) -> str | None:
        """The config version the forwarder serves now, or None when it cannot be asked."""
        try:
            v = self._config_json(timeout).get("version")
        except AdminCallFailed:
            return None
        return str(v) if v else None

    def healthz(self, timeout: float = 2.0) -> None:
        """GET /healthz: returns when the admin listener answers 2xx, else AdminCallFailed."""
        self._get(HEALTHZ, timeout)

    def metrics(self, timeout: float = 5.0) -> list[MetricSample]:
        """GET /metrics, parsed (the token is needed off loopback)."""
        return parse(self._get(METRICS, timeout).text)

    def reload(self, timeout: float = 10.0) -> ReloadAnswer:
        """POST /admin/reload: the forwarder re-reads its file and answers the version it serves."""
        headers = self._headers(RELOAD)
        try:
            r = httpx.post(self._at(RELOAD), headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise AdminCallFailed(RELOAD, None, type(exc).__name__) from None
        return ReloadAnswer(r.status_code, r.text)
