"""A JSON request body from the client's bytes to the upstream's, as one pure function: parse, route, translate
(claudeai) and re-encode.

Bodies above `offload_body_bytes` go through it in a worker process (`proxy/offload.py`), so that a 16 MiB body
does not hold the event loop for seconds: it takes and gives plain picklable values (raw bytes in, encoded bytes
or the refusal's fields out) and answers every refusal with the words the event loop's path uses for a small
body (`proxy/forward.py`, `proxy/anthropic/endpoint.py`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from proxy.anthropic.options import ClaudeOptions
from proxy.anthropic.request import to_anthropic_request
from proxy.config import CHAT
from proxy.exceptions import TranslationError
from proxy.routing import NOT_READY, Unrouted, choose

INVALID_JSON = "the request body is not valid JSON"
NOT_AN_OBJECT = "the request body must be a JSON object"
TRANSLATION_REFUSED = "unsupported_parameter"  # the code of a request Anthropic cannot express


def not_json(name: str) -> NoReturn:
    """NaN, Infinity and -Infinity: Python's json takes them, JSON does not; passed on, the upstream would get
    a body no strict parser reads (or, for claudeai, a NaN temperature)."""
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class Target:
    """What a worker needs of a route: no key, no URL."""

    model_id: str
    kind: str
    model_name: str
    claude: tuple[int, ClaudeOptions] | None = None  # claudeai: (default max_tokens, the model's switches)


@dataclass(frozen=True, slots=True)
class Targets:
    """A config's routes as targets, indexed as `ModelsConfig` indexes them (None of these: no config loaded)."""

    by_id: Mapping[str, Target]
    by_name: Mapping[str, tuple[Target, ...]]


@dataclass(frozen=True, slots=True)
class Refused:
    """The OpenAI error a body gets, and the reason it is counted under (None: not counted, as for invalid JSON)."""

    status: int
    message: str
    code: str
    param: str | None
    reason: str | None
    pid: int  # the process that prepared it
    outcome = "refused"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A body ready to send to the route `model_id` names."""

    model_id: str
    data: bytes
    stream: bool
    include_usage: bool  # claudeai: the client asked for usage in its stream
    temperature: bool  # claudeai: the body holds a temperature (a model that refuses it gets it again without)
    pid: int  # the process that prepared it
    outcome = "prepared"


def prepare(raw: bytes, kind: str, targets: Targets | None) -> Prepared | Refused:
    """Parse `raw`, route its `model` among `targets`, translate it for a claudeai route and encode it."""
    pid = os.getpid()
    try:
        body = json.loads(raw, parse_constant=not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the recursion limit
        return Refused(400, INVALID_JSON, "invalid_json", None, None, pid)
    if not isinstance(body, dict):
        return Refused(400, NOT_AN_OBJECT, "invalid_json", None, None, pid)
    target = NOT_READY if targets is None else choose(targets.by_id, targets.by_name, body.get("model"), kind)
    if isinstance(target, Unrouted):
        return Refused(target.status, target.message, target.code, target.param, "routing", pid)
    stream = kind == CHAT and body.get("stream") is True
    if target.claude is None:
        body["model"] = target.model_name
        return Prepared(target.model_id, encode(body), stream, False, False, pid)
    max_tokens, options = target.claude
    try:
        out = to_anthropic_request(body, target.model_name, max_tokens, options)
    except TranslationError as exc:
        return Refused(400, str(exc), TRANSLATION_REFUSED, exc.param, "translation", pid)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
    return Prepared(target.model_id, encode(out), stream, include_usage, "temperature" in out, pid)


def encode(body: dict[str, Any]) -> bytes:
    """A body as the upstream gets it."""
    return json.dumps(body, ensure_ascii=False).encode()
