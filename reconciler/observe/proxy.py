"""Read the forwarder's and the router's models-config: the files, and what the running processes serve.

Unreachable processes are not errors here: the plan then covers the chain and the files, and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from reconciler.desired.model import Desired
from reconciler.desired.modelsconfig import state_from_json
from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin, UntrustedDestination
from reconciler.observe.model import ForwarderState, ModelsConfigState, RouterState

_MODEL_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


def read_config_file(path: str) -> ModelsConfigState:
    p = Path(path)
    source = f"file:{path}"
    if not p.exists():
        return ModelsConfigState(source=source, exists=False)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ModelsConfigState(source=source, exists=True, error=f"cannot read it as JSON ({type(exc).__name__})")
    return state_from_json(source, obj)


def observe_proxy(desired: Desired, environ: Mapping[str, str] | None = None) -> ForwarderState:
    proxy = desired.proxy
    if proxy is None:
        return ForwarderState()
    file = read_config_file(proxy.models_config_path)
    admin = ForwarderAdmin.of(desired, environ)
    if admin is None:
        return ForwarderState(file=file)
    if admin.token is None:
        return ForwarderState(
            file=file, admin_configured=True, reachable=False, note=f"admin token {proxy.admin_token} has no value here"
        )
    try:
        served = admin.config()
    except UntrustedDestination as exc:
        return ForwarderState(file=file, admin_configured=True, reachable=False, note=str(exc), untrusted=exc.host)
    except AdminCallFailed as exc:
        note = exc.cause if exc.status is None else f"admin API answered {exc.status}"
        return ForwarderState(file=file, admin_configured=True, reachable=False, note=note)
    return ForwarderState(file=file, served=served, admin_configured=True, reachable=True)


def _model_ids(obj: Any) -> set[str]:
    if isinstance(obj, str):
        return {obj.lower()} if _MODEL_ID.match(obj) else set()
    if isinstance(obj, dict):
        return {i for k, v in obj.items() for i in _model_ids(k) | _model_ids(v)}
    if isinstance(obj, list):
        return {i for v in obj for i in _model_ids(v)}
    return set()


def observe_router(desired: Desired) -> RouterState:
    """The router's file and what its /healthcheck says is loaded, asked once: the plan reads the loaded models,
    the watcher and `status` judge the router's health from the same answer (observe.router_health.judge_router)."""
    router = desired.proxy.router if desired.proxy else None
    if router is None:
        return RouterState()
    file = read_config_file(router.models_config_path)
    if not router.url:
        return RouterState(file=file)
    try:
        r = httpx.get(router.url.rstrip("/") + "/healthcheck", timeout=5.0)
    except httpx.HTTPError as exc:
        return RouterState(file=file, note=f"router /healthcheck unreachable ({type(exc).__name__})", answered=False)
    if not r.is_success:
        return RouterState(file=file, note=f"router /healthcheck answered {r.status_code}", answered=False)
    try:
        loaded = frozenset(_model_ids(r.json()))
    except ValueError as exc:  # it answers (so it is up), but what it has loaded cannot be read
        return RouterState(
            file=file, note=f"router /healthcheck answer unreadable ({type(exc).__name__})", answered=True
        )
    return RouterState(file=file, loaded_model_ids=loaded, answered=True)
