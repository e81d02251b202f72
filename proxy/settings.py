"""Process-wide forwarder settings: timeouts, defaults, wait queue, failure budget.

They come from flags or the forwarder's own settings file (YAML or JSON), never from models-config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from proxy.exceptions import SettingsError


@dataclass(frozen=True, slots=True)
class Settings:
    """Tunables with defaults sized for LLM traffic (long generations, long streams)."""

    connect_timeout: float = 10.0  # TCP + TLS to the upstream
    ttfb_timeout: float = 300.0  # request sent -> first response byte (whole answer for non-streams)
    idle_timeout: float = 120.0  # max silence between two chunks of a response
    total_timeout: float = 900.0  # whole request, end to end
    keepalive_interval: float = 15.0  # SSE comment while a stream waits for its first token
    default_max_tokens: int = 4096  # claudeai requests without max_tokens (Anthropic requires one)
    anthropic_version: str = "2023-06-01"
    wait_queue: int = 0  # per model: requests that may wait for a slot (0 = answer 429 at once)
    wait_timeout: float = 2.0  # how long a queued request waits before its 429
    retry_after: int = 1  # seconds, in 429 answers
    failure_budget: int = 15  # upstream failures allowed per window per (upstream, key) ...
    failure_window: float = 30.0  # ... below Venice's lockout (20 failures in 30 s)
    drain_grace: float = 30.0  # SIGTERM: how long in-flight requests may take to finish
    watch_debounce_ms: int = 300  # file-change debounce for hot reload
    pool_limit: int = 0  # upstream connection pool size; 0 = no cap (slots are the bound)
    max_body_bytes: int = 64 * 1024 * 1024  # largest request body accepted (audio uploads)
    max_json_body_bytes: int = 16 * 1024 * 1024  # largest JSON request body (chat, embeddings, speech)
    request_read_timeout: float = 60.0  # reading a request body from the client, start to end
    first_head_timeout: float = 10.0  # a new client connection's first request head, counted from its accept
    max_connections: int = 0  # open client connections on the data plane; 0 = half the descriptor limit less 64
    max_response_bytes: int = 64 * 1024 * 1024  # a buffered (non-stream) upstream answer
    max_buffered_bytes: int = 1024 * 1024 * 1024  # all buffered answers held at once, every model together
    write_timeout: float = 120.0  # writing a buffered answer to the client, from when it is ready
    max_error_body_bytes: int = 64 * 1024  # an upstream error body: read this much, the rest dropped
    max_stream_bytes: int = 256 * 1024 * 1024  # a streamed answer (SSE, audio) relayed to the client, in all
    max_decoded_bytes: int = 16 * 1024 * 1024  # what a compressed upstream answer may inflate to
    upstream_keepalive_s: float = 4.0  # idle pooled upstream connections close after this (Keep-Alive: timeout= wins)
    offload_body_bytes: int = 1024 * 1024  # JSON bodies above this are prepared in a worker process (0 = never)
    offload_workers: int = 2  # worker processes preparing big bodies (started at the first one)
    offload_queue: int = 4  # big bodies prepared or waiting for a worker at a time; beyond, 503

    def __post_init__(self) -> None:
        problems = [f"{name}: {why}" for name, why in _out_of_range(self)]
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# Settings that must be above zero (a zero timeout fails every request, a zero cap refuses every body); every
# other number may be zero (0 = off, or no wait), none may be negative or infinite.
_POSITIVE = frozenset(
    {
        "connect_timeout",
        "ttfb_timeout",
        "idle_timeout",
        "total_timeout",
        "keepalive_interval",
        "default_max_tokens",
        "failure_window",
        "max_body_bytes",
        "max_json_body_bytes",
        "request_read_timeout",
        "first_head_timeout",
        "max_response_bytes",
        "max_buffered_bytes",
        "write_timeout",
        "max_error_body_bytes",
        "max_stream_bytes",
        "max_decoded_bytes",
        "offload_workers",
        "offload_queue",
    }
)


def _out_of_range(settings: Settings) -> list[tuple[str, str]]:
    """(name, why) of each number a forwarder cannot run with: caught at start, not as a spinning loop later."""
    out = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            out.append((f.name, f"must be a finite number (got {value})"))
        elif f.name in _POSITIVE and value <= 0:
            out.append((f.name, f"must be above 0 (got {value})"))
        elif value < 0:
            out.append((f.name, f"must be 0 or more (got {value})"))
    if settings.max_buffered_bytes < settings.max_response_bytes:  # one answer at the cap could never be held
        out.append(
            (
                "max_buffered_bytes",
                f"must be at least max_response_bytes ({settings.max_buffered_bytes} < {settings.max_response_bytes})",
            )
        )
    return out


def load_settings_file(path: str | Path) -> dict[str, Any]:
    """Read a settings file into a dict of known fields (dashes or underscores both accepted)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: settings must be a mapping")
    known = {f.name: f for f in dataclasses.fields(Settings)}
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in known:
            raise SettingsError(f"{path}: unknown setting {raw_key!r} (known: {', '.join(sorted(known))})")
        default = getattr(Settings(), key)
        try:
            out[key] = type(default)(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{path}: {raw_key}: expected {type(default).__name__}") from None
    return out
