"""Loading and validating models-config.json into immutable routes.

The file is the Morpheus proxy-router's format (schemas/models-config.schema.json is the shared contract).
Validation is all-or-nothing so that a bad file can never replace a good one; unknown fields are tolerated
with a warning (the proxy-router accepts them too); an apiUrl the forwarder cannot serve for its apiType is
refused here, at load, never mis-forwarded later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from proxy.exceptions import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "models-config.schema.json"

# Built by the router's own adapters and relayed by path, unchanged but for the key (proxy/relay.py).
RELAYED_API_TYPES = frozenset({"prodia-sd", "prodia-sdxl", "prodia-v2", "hyperbolic-sd", "decisions"})
SUPPORTED_API_TYPES = frozenset({"openai", "claudeai"}) | RELAYED_API_TYPES
# Prodia's v1 image jobs: the router polls `GET {apiUrl}/job/{id}` until the job ends.
JOB_API_TYPES = frozenset({"prodia-sd", "prodia-sdxl"})

# Request kinds, named by the OpenAI endpoint a client calls.
CHAT = "chat"
EMBEDDINGS = "embeddings"
SPEECH = "speech"
TRANSCRIPTIONS = "transcriptions"
RELAY = "relay"  # image, video and decisions models, reached on /v1/relay/<model id>

_OPENAI_SUFFIXES = {
    "/chat/completions": CHAT,
    "/embeddings": EMBEDDINGS,
    "/audio/speech": SPEECH,
    "/audio/transcriptions": TRANSCRIPTIONS,
}
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def config_version(obj: Any) -> str:
    """sha256 hex of the canonical JSON (docs/architecture.md, "Stable interfaces"); the reconciler computes the same value independently."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def key_fingerprint(key: str | None) -> str | None:
    """First 12 hex digits of sha256(key): shows a rotation without showing the key."""
    if key is None:
        return None
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def normalize_model_id(text: str) -> str | None:
    """Lowercase 64-hex without 0x, or None when `text` is not a model id."""
    if not _HEX64.match(text):
        return None
    return text.lower().removeprefix("0x")


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """One models-config entry, ready to forward to."""

    model_id: str  # lowercase hex, no 0x
    model_name: str
    api_type: str
    api_url: str
    api_key: str | None = field(repr=False)
    slots: int  # 0 = unlimited
    kind: str  # the request kind the apiUrl serves
    upstream: str  # scheme://host:port, the failure-budget key together with the key fingerprint
    parameters: Mapping[str, str]
    raw: Mapping[str, Any] = field(repr=False)
    # Derived once here, not per request (the hot path used to hash the key several times per request).
    key_fingerprint: str | None = field(init=False, repr=False, compare=False)
    budget_key: tuple[str, str | None] = field(init=False, repr=False, compare=False)
    labels: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)  # model, model_id

    def __post_init__(self) -> None:
        # A non-string key is a schema error reported by parse_config; this route is then never used.
        fp = key_fingerprint(self.api_key) if isinstance(self.api_key, str) else None
        object.__setattr__(self, "key_fingerprint", fp)
        object.__setattr__(self, "budget_key", (self.upstream, fp))
        object.__setattr__(self, "labels", (("model", self.model_name), ("model_id", "0x" + self.model_id)))

    def public(self) -> dict[str, Any]:
        """The entry as in the file with its key replaced by its fingerprint (for the admin API)."""
        out = {k: v for k, v in self.raw.items() if k != "apiKey"}
        out["apiKeyFingerprint"] = self.key_fingerprint
        return out


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    """A validated models-config; immutable so in-flight requests keep the routes they started with."""

    version: str
    loaded_at: dt.datetime
    source: str
    routes: tuple[ModelRoute, ...]
    by_id: Mapping[str, ModelRoute]
    by_name: Mapping[str, tuple[ModelRoute, ...]]
    warnings: tuple[str, ...] = ()

    @property
    def total_slots(self) -> int:
        return sum(r.slots for r in self.routes)


def _schema_validator() -> jsonschema.protocols.Validator | None:
    try:
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except OSError:
        return None
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


_VALIDATOR = _schema_validator()


_SHOWN_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]{0,39}$")


def _name(key: Any) -> str:
    """A property name as it may be shown: identifier-like names only (an API key never looks like one)."""
    return key if isinstance(key, str) and _SHOWN_NAME.match(key) else "<name hidden>"


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{_name(p)}" if out else _name(p))
    return out or "(root)"


def _rule_broken(err: Any) -> str:
    """The schema rule an error breaks, told from the schema's side only: never the value found there."""
    rule, want = err.validator, err.validator_value
    if rule == "type":
        return f"expected {' or '.join(want) if isinstance(want, list) else want}"
    if rule == "required":
        have = err.instance if isinstance(err.instance, dict) else {}
        return "missing " + ", ".join(repr(n) for n in want if n not in have)
    if rule == "enum":
        return "must be one of " + ", ".join(str(v) for v in want)
    if rule == "pattern":
        return f"does not match the pattern {want}"
    if rule in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        return f"breaks {rule} {want}"
    return f"breaks the schema rule {rule!r}"


def _unknown_properties(err: Any) -> str:
    known = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    names = [k for k in err.instance if k not in known] if isinstance(err.instance, dict) else []
    return "unknown properties " + ", ".join(_name(k) for k in names)


def _kind_for(api_type: str, url: str) -> str | None:
    path = urlsplit(url).path.rstrip("/")
    if api_type in RELAYED_API_TYPES:
        return RELAY if path or api_type != "decisions" else None
    if api_type == "claudeai":
        return CHAT if path.endswith("/messages") else None
    for suffix, kind in _OPENAI_SUFFIXES.items():
        if path.endswith(suffix):
            return kind
    return None


MAX_DEPTH = 32  # a models-config nests 4 levels; the schema validator recurses per level (C stack included)


def _too_deep(obj: Any) -> bool:
    """True when `obj` nests deeper than MAX_DEPTH (walked with a list, not recursion)."""
    todo: list[tuple[Any, int]] = [(obj, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return False


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _text_too_deep(text: str) -> bool:
    """The same depth check on JSON text, before json.loads: its C decoder recurses per level and, in a process
    that raised the recursion limit, overflows the C stack (a segfault) before any RecursionError."""
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif tok in "]}":
            depth -= 1
    return False


def parse_config(obj: Any, source: str) -> ModelsConfig:
    """Validate a parsed models-config; raise ConfigError listing every problem."""
    if _too_deep(obj):
        raise ConfigError(source, [f"nested deeper than {MAX_DEPTH} levels"])
    errors: list[str] = []
    warnings: list[str] = []
    if _VALIDATOR is not None:
        # Messages are built from the path and the rule, never from jsonschema's message: that quotes the value
        # found, and a misplaced or mistyped entry quotes its api key with it.
        for err in sorted(_VALIDATOR.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
            where = _path(err.absolute_path)
            if err.validator == "additionalProperties":
                warnings.append(f"{where}: {_unknown_properties(err)} (ignored)")
            elif err.validator == "enum" and list(err.absolute_path)[-1:] == ["apiType"]:
                continue  # reported below with a clearer message
            else:
                errors.append(f"{where}: {_rule_broken(err)}")
    if not isinstance(obj, dict) or not isinstance(obj.get("models"), list):
        raise ConfigError(source, errors or ["(root): expected an object with a 'models' array"])

    routes: list[ModelRoute] = []
    seen: set[str] = set()
    for i, entry in enumerate(obj["models"]):
        where = f"models[{i}]"
        if not isinstance(entry, dict):
            continue  # schema error already recorded
        api_type = entry.get("apiType")
        if not isinstance(api_type, str):
            continue  # schema error already recorded (a list or an object here is not even hashable)
        if api_type not in SUPPORTED_API_TYPES:
            # the value: never shown
            errors.append(f"{where}.apiType: unknown apiType (supported: {', '.join(sorted(SUPPORTED_API_TYPES))})")
            continue
        model_id = normalize_model_id(str(entry.get("modelId", "")))
        url = entry.get("apiUrl")
        if model_id is None or not isinstance(url, str) or not isinstance(entry.get("modelName"), str):
            continue  # schema error already recorded
        if model_id in seen:
            errors.append(f"{where}.modelId: duplicate model id 0x{model_id}")
            continue
        seen.add(model_id)
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of 0-65535 or not a number, a broken [IPv6] host
            errors.append(f"{where}.apiUrl: not a valid URL (check the host and the port)")
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append(f"{where}.apiUrl: not an http(s) URL")
            continue
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            errors.append(f"{where}.apiUrl: holds whitespace or a control character")
            continue
        if parts.username is not None or parts.password is not None:
            # Never sent upstream (the key goes in apiKey), and /admin/config would show them; never echoed.
            errors.append(f"{where}.apiUrl: holds credentials (user:password@); put the key in apiKey")
            continue
        key = entry.get("apiKey")
        if isinstance(key, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
            # It would break the upstream request's header block; the value itself is never shown.
            errors.append(f"{where}.apiKey: holds a line break or another control character")
            continue
        kind = _kind_for(api_type, url)
        if kind is None and api_type == "decisions":
            errors.append(f"{where}.apiUrl: a decisions URL needs its path (the router posts to it as it is)")
            continue
        if kind is None:
            wanted = "/v1/messages" if api_type == "claudeai" else ", ".join(_OPENAI_SUFFIXES)
            errors.append(f"{where}.apiUrl: the path must end with {wanted} for apiType {api_type}")
            continue
        if api_type in JOB_API_TYPES and (parts.query or parts.fragment):
            errors.append(
                f"{where}.apiUrl: a {api_type} URL may not hold a query (its jobs are polled at <apiUrl>/job/<id>)"
            )
            continue
        slots = entry.get("concurrentSlots", 0)
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 0:
            continue  # schema error already recorded
        params = entry.get("parameters") or {}
        routes.append(
            ModelRoute(
                model_id=model_id,
                model_name=entry["modelName"],
                api_type=api_type,
                api_url=url,
                api_key=entry.get("apiKey"),
                slots=slots,
                kind=kind,
                upstream=f"{parts.scheme}://{parts.hostname}:{port}",
                parameters={str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {},
                raw=entry,
            )
        )
    if errors:
        raise ConfigError(source, errors)
    by_name: dict[str, list[ModelRoute]] = {}
    for r in routes:
        by_name.setdefault(r.model_name, []).append(r)
    return ModelsConfig(
        version=config_version(obj),
        loaded_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        source=source,
        routes=tuple(routes),
        by_id={r.model_id: r for r in routes},
        by_name={k: tuple(v) for k, v in by_name.items()},
        warnings=tuple(warnings),
    )


def load_config(path: str | Path) -> ModelsConfig:
    """Read, parse and validate the file at `path`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"not UTF-8 text (byte {exc.start})"]) from None
    if _text_too_deep(text):
        raise ConfigError(source, [f"nested deeper than {MAX_DEPTH} levels"])
    try:
        obj = json.loads(text)
        return parse_config(obj, source)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, [f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]) from None
    except RecursionError:  # json.loads recurses per nesting level (parse_config refuses depth before validating)
        raise ConfigError(source, [f"nested deeper than {MAX_DEPTH} levels"]) from None
