"""Who may call, and which config entry a request's `model` names (hex id or unique name)."""

from __future__ import annotations

import hmac
from typing import Any

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


def resolve(cfg: ModelsConfig | None, model: Any, kind: str) -> ModelRoute | web.Response:
    """The route for the body's `model` (hex id or unique name) or the 4xx that explains why not."""
    if cfg is None:
        return error_response(503, "no models-config is loaded", code="not_ready")
    if not isinstance(model, str) or not model:
        return error_response(
            400, "the request needs a 'model' (a model id or name)", param="model", code="missing_model"
        )
    model_id = normalize_model_id(model)
    route = cfg.by_id.get(model_id) if model_id else None
    if route is None:
        named = cfg.by_name.get(model)
        if not named:
            return error_response(404, f"model {model!r} is not served here", param="model", code="model_not_found")
        if len(named) > 1:
            ids = ", ".join("0x" + r.model_id for r in named)
            return error_response(
                400,
                f"model name {model!r} is ambiguous here; use one of the model ids: {ids}",
                param="model",
                code="ambiguous_model",
            )
        route = named[0]
    if route.kind != kind:
        return error_response(
            400,
            f"model {model!r} serves {_KIND_PATHS[route.kind]}, not {_KIND_PATHS[kind]}",
            param="model",
            code="wrong_endpoint",
        )
    return route
