"""Who may call, and which config entry a request's `model` names (hex id or unique name)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from proxy.config import CHAT, EMBEDDINGS, RELAY, SPEECH, TRANSCRIPTIONS, ModelRoute, ModelsConfig, normalize_model_id
from proxy.error_bodies import error_response

_KIND_PATHS = {
    CHAT: "/v1/chat/completions",
    EMBEDDINGS: "/v1/embeddings",
    SPEECH: "/v1/audio/speech",
    TRANSCRIPTIONS: "/v1/audio/transcriptions",
    RELAY: "/v1/relay/<model id>",
}


def check_bearer(request: web.BaseRequest, token: str | None) -> bool:
    """True when no token is configured or the request carries it as a bearer token (constant-time compare; the
    scheme in any case, as RFC 9110 has it).

    aiohttp hands over undecodable header bytes as surrogates; "surrogatepass" encodes any str, so a non-UTF-8
    bearer is simply a wrong token (a 401), never an encoding error (a 500).
    """
    if token is None:
        return True
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and _same(credentials.lstrip(" "), token)  # RFC 9110: any case, 1+ spaces


def check_token_in(request: web.BaseRequest, token: str | None, header: str) -> bool:
    """True when no token is configured or `header` (a Prodia-style key header) carries it as its whole value."""
    return token is None or _same(request.headers.get(header, ""), token)


def _same(got: str, token: str) -> bool:
    return hmac.compare_digest(got.encode("utf-8", "surrogatepass"), token.encode())


class Routed(Protocol):
    """What routing reads of a route: a ModelRoute, or a worker's picture of one (`proxy.prepare.Target`)."""

    @property
    def model_id(self) -> str: ...
    @property
    def kind(self) -> str: ...


R = TypeVar("R", bound=Routed)


@dataclass(frozen=True, slots=True)
class Unrouted:
    """Why a body's `model` names no route here, as the fields of the OpenAI error that says so."""

    status: int
    message: str
    code: str
    param: str | None = "model"


NOT_READY = Unrouted(503, "no models-config is loaded", "not_ready", None)


def resolve(cfg: ModelsConfig | None, model: Any, kind: str) -> ModelRoute | web.Response:
    """The route for the body's `model` (hex id or unique name) or the 4xx that explains why not."""
    route = NOT_READY if cfg is None else choose(cfg.by_id, cfg.by_name, model, kind)
    if isinstance(route, Unrouted):
        return error_response(route.status, route.message, param=route.param, code=route.code)
    return route


def choose(by_id: Mapping[str, R], by_name: Mapping[str, tuple[R, ...]], model: Any, kind: str) -> R | Unrouted:
    """The route `model` names among these (by hex id, else by unique name), or why there is none: one rule for
    the event loop and for the worker processes that prepare big bodies."""
    if not isinstance(model, str) or not model:
        return Unrouted(400, "the request needs a 'model' (a model id or name)", "missing_model")
    model_id = normalize_model_id(model)
    route = by_id.get(model_id) if model_id else None
    if route is None:
        named = by_name.get(model)
        if not named:
            return Unrouted(404, f"model {model!r} is not served here", "model_not_found")
        if len(named) > 1:
            ids = ", ".join("0x" + r.model_id for r in named)
            return Unrouted(
                400, f"model name {model!r} is ambiguous here; use one of the model ids: {ids}", "ambiguous_model"
            )
        route = named[0]
    if route.kind != kind:
        return Unrouted(
            400, f"model {model!r} serves {_KIND_PATHS[route.kind]}, not {_KIND_PATHS[kind]}", "wrong_endpoint"
        )
    return route
