"""models-config.json: the proxy-router's format, for our forwarder and (optionally) the router itself.

The planner compares entries (keys as fingerprints); `build_config` makes the real file (keys resolved)
only where it is written. The version is the stable one of docs/architecture.md: the sha256 hex of the
canonical JSON of the parsed file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from reconciler import DesiredStateInvalid
from reconciler.desired.apitypes import API_TYPES, RELAY_PATH
from reconciler.desired.model import ENDPOINT_PATHS, Desired, ModelSpec
from reconciler.desired.references import Reference, fingerprint, resolve
from reconciler.desired.schema import load_schema
from reconciler.observe.model import ModelsConfigState, ProxyEntry

SCHEMA_REF = "./internal/config/models-config-schema.json"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def config_version(obj: Any) -> str:
    """sha256 hex of the canonical JSON of a parsed models-config (nothing added or defaulted)."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def entry_from_json(raw: Mapping[str, Any]) -> ProxyEntry:
    """An entry from a file (apiKey -> fingerprint) or from the admin API (apiKeyFingerprint given)."""
    key = raw.get("apiKey")
    fp = fingerprint(key) if isinstance(key, str) and key else raw.get("apiKeyFingerprint")
    params = raw.get("parameters") or {}
    slots = raw.get("concurrentSlots")
    return ProxyEntry(
        model_id=_norm_id(str(raw.get("modelId", ""))),
        model_name=str(raw.get("modelName", "")),
        api_type=str(raw.get("apiType", "")),
        api_url=str(raw.get("apiUrl", "")),
        api_key_fingerprint=fp if isinstance(fp, str) else None,
        concurrent_slots=slots if isinstance(slots, int) else None,
        capacity_policy=raw.get("capacityPolicy"),
        parameters=tuple(sorted((str(k), str(v)) for k, v in params.items())) if isinstance(params, dict) else (),
        api_stack=raw.get("apiStack"),
        model_family=raw.get("modelFamily"),
    )


def state_from_json(source: str, obj: Any) -> ModelsConfigState:
    """A parsed models-config (v2 `models` array, or the legacy object keyed by model id)."""
    if isinstance(obj, dict) and isinstance(obj.get("models"), list):
        items = [m for m in obj["models"] if isinstance(m, dict)]
    elif isinstance(obj, dict):
        items = [{"modelId": k, **v} for k, v in obj.items() if isinstance(v, dict) and k != "$schema"]
    else:
        return ModelsConfigState(source=source, exists=True, error="not a models-config object")
    return ModelsConfigState(
        source=source, exists=True, version=config_version(obj), entries=tuple(entry_from_json(m) for m in items)
    )


def _norm_id(model_id: str) -> str:
    return "0x" + model_id.lower().removeprefix("0x")


def api_url(base_url: str, model: ModelSpec) -> str:
    """The real upstream URL: the model's full `upstreamUrl`, else the baseUrl plus its apiType's path."""
    if model.upstream_url:
        return model.upstream_url
    return base_url.rstrip("/") + API_TYPES[model.api_type].paths[model.endpoint]


def _fp(ref: Reference | None, fingerprints: Mapping[str, str | None]) -> str | None:
    return fingerprints.get(str(ref)) if ref is not None else None


def forwarder_entries(desired: Desired, fingerprints: Mapping[str, str | None]) -> list[ProxyEntry]:
    """The forwarder's entries for every declared model that is not absent (real upstream URL and key)."""
    out = []
    for m in desired.models:
        if m.absent:
            continue
        up = desired.upstream(m.upstream)
        assert up is not None and m.upstream_model is not None
        out.append(
            ProxyEntry(
                model_id=m.model_id,
                model_name=m.upstream_model,
                api_type=m.api_type,
                api_url=api_url(up.base_url, m),
                api_key_fingerprint=_fp(up.api_key, fingerprints),
                concurrent_slots=m.concurrent_slots,
                capacity_policy=m.capacity_policy,
                parameters=m.parameters,
                api_stack=up.api_stack,
            )
        )
    return out


def router_entries(desired: Desired, fingerprints: Mapping[str, str | None]) -> list[ProxyEntry]:
    """The proxy-router's entries: every model points at the forwarder, whose client token is its only key.

    Chat models are named by their on-chain id (the forwarder routes on the body's `model`) and typed
    `openai` (the forwarder translates). Image, video and decisions models keep their real apiType, upstream
    model name and parameters, because the router's adapter builds the upstream request from them; their URL
    is the forwarder's relay path naming the model, so the forwarder routes on the path whatever the body,
    including a Prodia job poll (`GET <apiUrl>/job/<id>`).
    """
    proxy = desired.proxy
    assert proxy is not None and proxy.forwarder_url is not None
    base = proxy.forwarder_url.rstrip("/") + "/v1"
    out = []
    for m in desired.models:
        if m.absent:
            continue
        if API_TYPES[m.api_type].relayed:
            assert m.upstream_model is not None
            out.append(
                ProxyEntry(
                    model_id=m.model_id,
                    model_name=m.upstream_model,
                    api_type=m.api_type,
                    api_url=proxy.forwarder_url.rstrip("/") + RELAY_PATH + m.model_id,
                    api_key_fingerprint=_fp(proxy.client_token, fingerprints),
                    concurrent_slots=m.concurrent_slots,
                    capacity_policy=m.capacity_policy,
                    parameters=m.parameters,
                )
            )
            continue
        out.append(
            ProxyEntry(
                model_id=m.model_id,
                model_name=m.model_id,
                api_type="openai",
                api_url=base + ENDPOINT_PATHS[m.endpoint],
                api_key_fingerprint=_fp(proxy.client_token, fingerprints),
                concurrent_slots=m.concurrent_slots,
                capacity_policy=m.capacity_policy,
            )
        )
    return out


class ConfigBuildError(DesiredStateInvalid):
    """A key needed to write the file has no value (the message names the reference, never a value)."""


def build_config(
    entries: list[ProxyEntry],
    keys: Mapping[str, Reference | None],
    kept: list[dict[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The file to write: `entries` with keys resolved from `keys` (model id -> reference), then `kept`
    raw entries (undeclared ones kept as they are), validated against schemas/models-config.schema.json."""
    models: list[dict[str, Any]] = []
    for e in entries:
        item = e.comparable()
        ref = keys.get(e.model_id)
        if ref is not None:
            value = resolve(ref, environ)
            if value is None:
                raise ConfigBuildError(f"model {e.model_id}: the key reference {ref} has no value here")
            item["apiKey"] = value
        models.append(item)
    models += kept or []
    doc = {"$schema": SCHEMA_REF, "models": models}
    jsonschema.validate(doc, load_schema("models-config.schema.json"))
    return doc


def forwarder_key_refs(desired: Desired) -> dict[str, Reference | None]:
    out: dict[str, Reference | None] = {}
    for m in desired.models:
        up = desired.upstream(m.upstream)
        out[m.model_id] = up.api_key if up else None
    return out


def forwarder_file(
    desired: Desired,
    existing: Any,
    remove_ids: set[str] | frozenset[str] = frozenset(),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The forwarder's file to write now (keys resolved here, nowhere earlier).

    Declared models come from the desired state; every other entry of the `existing` parsed file is kept as
    it is (undeclared ones with prune off, and absent ones still draining), except those in `remove_ids`:
    the model ids of the plan's pending `proxy.remove:forwarder:<id>` actions, which apply passes only after
    their bids are deleted. So apply writes it twice when a plan both adds and removes: first with
    `remove_ids` empty (before bids are posted), then with the removals (after bids are deleted).
    """
    entries = forwarder_entries(desired, {})
    return build_config(entries, forwarder_key_refs(desired), _kept(existing, entries, remove_ids), environ)


def router_file(
    desired: Desired,
    existing: Any,
    remove_ids: set[str] | frozenset[str] = frozenset(),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The proxy-router's own file: like `forwarder_file`, every key being the forwarder's client token."""
    assert desired.proxy is not None
    entries = router_entries(desired, {})
    keys = {e.model_id: desired.proxy.client_token for e in entries}
    return build_config(entries, keys, _kept(existing, entries, remove_ids), environ)


def _kept(existing: Any, entries: list[ProxyEntry], remove_ids: set[str] | frozenset[str]) -> list[dict[str, Any]]:
    if not isinstance(existing, dict):
        return []
    items = existing.get("models") if isinstance(existing.get("models"), list) else None
    if items is None:  # legacy shape keyed by model id
        items = [{"modelId": k, **v} for k, v in existing.items() if isinstance(v, dict) and k != "$schema"]
    declared = {e.model_id for e in entries}
    removed = {_norm_id(i) for i in remove_ids}
    return [
        m
        for m in items
        if isinstance(m, dict)
        and _norm_id(str(m.get("modelId", ""))) not in declared
        and _norm_id(str(m.get("modelId", ""))) not in removed
    ]
