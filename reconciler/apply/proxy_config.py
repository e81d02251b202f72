"""Writing a models-config and getting it served: atomic file replace (mode 0600), then a reload.

Our forwarder reloads a changed file by itself; with its admin API (reconciler.observe.forwarder_admin) apply
also asks it to reload and confirms the served version hash. The proxy-router reloads through
`POST /config/models/reload` where it has that endpoint (a 404 means this router must be restarted by a person).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler import EndpointUnusable, FileUnusable
from reconciler.desired.modelsconfig import config_version
from reconciler.observe.destinations import TRUSTED_HOSTS_ENV, not_trusted, untrusted_host
from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin, UntrustedDestination


class ProxyWriteError(FileUnusable):
    """A models-config could not be written, or what is there is not JSON to keep (a local file, no endpoint)."""


class ProxyReloadError(EndpointUnusable):
    """A proxy's API refused the reload or did not answer, or serves another version (the message holds no key)."""


def unwritable(path: Path) -> str | None:
    """Why a models-config could not be written at `path` (a folder there, a file above it, no permission to
    write where it would be made), asked before any transaction is sent; None when nothing is known to stop it."""
    if path.is_dir():
        return f"{path} is a directory"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a directory"
            return None if os.access(parent, os.W_OK | os.X_OK) else f"no permission to write in {parent}"
    return None


def write_config_atomic(path: Path, doc: dict[str, Any]) -> str:
    """Write doc as JSON to path via a temp file in the same folder + fsync + rename; returns its version."""
    try:
        return _write_atomic(path, doc)
    except OSError as exc:
        raise ProxyWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_atomic(path: Path, doc: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return config_version(json.loads(text))


def read_existing(path: Path) -> Any:
    """The parsed current file (None when absent); a file that is not JSON is an error, never overwritten."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProxyWriteError(
            f"{path} exists but is not readable JSON ({type(exc).__name__}); fix or move it"
        ) from None


@dataclass(frozen=True)
class ReloadResult:
    confirmed: bool
    version: str | None
    message: str
    restart_required: bool = False


def untrusted_reload(what: str, host: str) -> str:
    """Why a reload was not asked: its credential would go to `host`, neither loopback nor trusted."""
    return (
        f"{what}: {not_trusted(host)}; its credential goes only to loopback or to a host the operator trusts "
        f"(--trust-host {host}, or {TRUSTED_HOSTS_ENV})"
    )


def reload_forwarder(
    admin_url: str, token: str, expect_version: str, timeout: float = 10.0, trusted: frozenset[str] = frozenset()
) -> ReloadResult:
    """Ask the forwarder to reload (its admin API), then confirm it serves `expect_version`."""
    try:
        answer = ForwarderAdmin(admin_url, token, trusted).reload(timeout)
    except UntrustedDestination as exc:
        raise ProxyReloadError(untrusted_reload(f"forwarder admin API {admin_url}", exc.host)) from None
    except AdminCallFailed as exc:
        raise ProxyReloadError(f"forwarder admin API {admin_url} unreachable ({exc.cause})") from None
    if answer.status != 200:
        detail = _error_text(answer.text)
        raise ProxyReloadError(f"forwarder refused the reload (HTTP {answer.status}): {detail}")
    version = answer.json().get("version")
    if version != expect_version:
        raise ProxyReloadError(
            f"forwarder serves version {str(version)[:12]}… after reload, expected {expect_version[:12]}…"
        )
    return ReloadResult(True, version, f"forwarder serves version {expect_version[:12]}…")


def reload_router(
    admin_url: str, basic_auth: str | None, timeout: float = 30.0, trusted: frozenset[str] = frozenset()
) -> ReloadResult:
    """POST {adminUrl}/config/models/reload with Basic auth `user:password` (a 404: restart needed); the auth
    goes only to loopback or a host in `trusted`."""
    auth = None
    if basic_auth and (host := untrusted_host(admin_url, trusted)) is not None:
        raise ProxyReloadError(untrusted_reload(f"router API {admin_url}", host))
    if basic_auth:
        user, _, password = basic_auth.partition(":")
        auth = httpx.BasicAuth(user, password)
    try:
        r = httpx.post(admin_url.rstrip("/") + "/config/models/reload", auth=auth, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ProxyReloadError(f"router API {admin_url} unreachable ({type(exc).__name__})") from None
    if r.status_code == 404:
        return ReloadResult(False, None, "this proxy-router has no reload endpoint: restart it", restart_required=True)
    if r.status_code != 200:
        raise ProxyReloadError(f"router refused the reload (HTTP {r.status_code}): {_error_text(r.text)}")
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return ReloadResult(True, None, f"router reloaded: added {body.get('added')}, removed {body.get('removed')}")


def _error_text(text: str) -> str:
    """What a refused reload said: its OpenAI-shaped error message (and errors), else the body's start."""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    errors = data.get("errors") if isinstance(data, dict) else None
    return "; ".join([str(msg)] + [str(e) for e in errors or []]) if msg else json.dumps(data)[:300]
