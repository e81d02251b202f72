"""OpenAI-shaped error bodies: every failure a client sees has this shape, never a traceback."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    421: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


def error_body(
    message: str, status: int, *, type_: str | None = None, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type_ or _TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type_: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    body = error_body(message, status, type_=type_, code=code, param=param)
    if extra:
        body.update(extra)
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers)


def upstream_error_body(status: int, body: bytes) -> bytes:
    """An upstream's error body as is when it is JSON with an `error`, else wrapped (as the proxy-router does)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the recursion limit
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return body
    text = body.decode("utf-8", "replace")[:2000] if body else f"upstream answered {status}"
    if isinstance(parsed, dict):
        msg = parsed.get("message") or parsed.get("detail") or parsed.get("error") or text
        text = msg if isinstance(msg, str) else json.dumps(msg)
    return json.dumps(error_body(text, status, type_="upstream_error")).encode()
