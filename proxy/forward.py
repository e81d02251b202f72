"""The OpenAI endpoints: chat completions, embeddings, speech, transcriptions and the model list.

Each authenticates, reads the body within its deadline, parses it once (to route and to set `model`), routes,
and forwards through the hop (`proxy/hop.py`); claudeai chat goes to `proxy/anthropic/endpoint.py`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from proxy.anthropic.endpoint import ClaudeChat
from proxy.config import CHAT, EMBEDDINGS, SPEECH, TRANSCRIPTIONS, ModelRoute
from proxy.downstream import passed_on
from proxy.error_bodies import error_body, error_response
from proxy.exceptions import TooManyParts
from proxy.hop import Hop, Trip
from proxy.intake import Intake
from proxy.routing import check_bearer, resolve
from proxy.upstream import encode_multipart

# A transcription form has about ten fields; a body of a million empty parts kept a core busy past the read
# deadline (aiohttp parses each part's head in Python).
MAX_FORM_PARTS = 100
CLOSE = {"Connection": "close"}  # the rest of the body is not read
# A chat or embeddings answer up to this size is parsed whole (to check it and count its usage); a larger one
# only has its ends and its usage looked at (embeddings of a large batch take ~3x their size once parsed).
PARSED_ANSWER_BYTES = 1024 * 1024
_DECODER = json.JSONDecoder()


def _not_json(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json takes them, JSON does not; passed on, the upstream would get
    a body no strict parser reads (or, for claudeai, a NaN temperature)."""
    raise ValueError(f"{name} is not JSON")


class Forwarder:
    """The OpenAI endpoints' handlers, bound to the shared hop and intake."""

    def __init__(self, hop: Hop, intake: Intake) -> None:
        self.hop, self.intake = hop, intake
        self.state, self.settings = hop.state, hop.settings
        self.claude = ClaudeChat(hop, intake)  # claudeai chat: translated to Anthropic's Messages API

    # ---- handlers -------------------------------------------------------------------------------

    async def chat(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, CHAT)

    async def embeddings(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, EMBEDDINGS)

    async def speech(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, SPEECH)

    async def models(self, request: web.BaseRequest) -> web.StreamResponse:
        if not check_bearer(request, self.state.client_token):
            return self.intake.unauthorized()
        cfg = self.state.config
        data = [
            {
                "id": "0x" + r.model_id,
                "object": "model",
                "created": 0,
                "owned_by": "morpheus-proxy",
                "name": r.model_name,
            }
            for r in (cfg.routes if cfg else ())
        ]
        return web.json_response({"object": "list", "data": data})

    async def transcriptions(self, request: web.BaseRequest) -> web.StreamResponse:
        t0 = asyncio.get_running_loop().time()
        if not check_bearer(request, self.state.client_token):
            return self.intake.unauthorized()
        if not request.content_type.startswith("multipart/"):
            return error_response(400, "transcriptions take multipart/form-data", code="invalid_content_type")
        if (declared := request.content_length) is not None and declared > self.settings.max_body_bytes:
            return self.intake.body_too_large(self.settings.max_body_bytes)
        try:
            read = await self.intake.within_read_deadline(request, self._read_multipart(request))
        except TooManyParts:
            return error_response(
                400, f"the form has more than {MAX_FORM_PARTS} parts", code="invalid_multipart", headers=CLOSE
            )
        except (ValueError, RuntimeError, HttpProcessingError):  # aiohttp's words for a malformed multipart body
            return error_response(400, "the multipart/form-data body is malformed", code="invalid_multipart")
        if read is None:
            return self.intake.read_timed_out()
        model, fields = read
        route = resolve(self.state.config, model, TRANSCRIPTIONS)
        if isinstance(route, web.Response):
            return self.intake.rejected(route, "routing")

        ctype, data = encode_multipart([("model", route.model_name, None, None), *fields])
        return await self.hop.forward(request, route, t0, lambda trip: self._forward_openai(trip, data, ctype))

    async def _read_multipart(
        self, request: web.BaseRequest
    ) -> tuple[str | None, list[tuple[str, bytes | str, str | None, str | None]]]:
        fields: list[tuple[str, bytes | str, str | None, str | None]] = []
        model: str | None = None
        reader = await request.multipart()
        for _ in range(MAX_FORM_PARTS + 1):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            data = await part.read()
            if part.name == "model" and part.filename is None:
                model = data.decode("utf-8", "replace")
                continue
            ctype = part.headers.get("Content-Type")
            fields.append((part.name, data if part.filename else data.decode("utf-8", "replace"), part.filename, ctype))
        else:
            raise TooManyParts
        return model, fields

    async def _json_endpoint(self, request: web.BaseRequest, kind: str) -> web.StreamResponse:
        t0 = asyncio.get_running_loop().time()
        if not check_bearer(request, self.state.client_token):
            return self.intake.unauthorized()
        if (declared := request.content_length) is not None and declared > self.intake.json_cap:
            return self.intake.body_too_large(self.intake.json_cap)
        raw = await self.intake.within_read_deadline(request, request.read())
        if raw is None:
            return self.intake.read_timed_out()
        try:
            body = json.loads(raw, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the recursion limit
            return error_response(400, "the request body is not valid JSON", code="invalid_json")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object", code="invalid_json")
        route = resolve(self.state.config, body.get("model"), kind)
        if isinstance(route, web.Response):
            return self.intake.rejected(route, "routing")
        stream = kind == CHAT and body.get("stream") is True
        if route.api_type == "claudeai":
            return await self.claude.chat(request, route, body, stream, t0)
        body["model"] = route.model_name
        data = json.dumps(body, ensure_ascii=False).encode()
        return await self.hop.forward(request, route, t0, lambda trip: self._forward_openai(trip, data), stream=stream)

    def _headers(self, route: ModelRoute, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if route.api_key:
            headers["Authorization"] = "Bearer " + route.api_key
        return headers

    async def _forward_openai(
        self, trip: Trip, data: bytes, content_type: str = "application/json"
    ) -> web.StreamResponse:
        route = trip.route
        resp = await trip.open(data, self._headers(route, content_type))
        trip.answered()
        if resp.status >= 400:
            return await trip.pass_on_error(resp)
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/event-stream") or route.kind == SPEECH:
            trip.check_stream_length(resp)
            return await trip.pipe(resp)
        body = await trip.read_answer(resp)
        if route.kind in (CHAT, EMBEDDINGS) and not _json_answer(trip, body):
            trip.failed("bad_body")
            return await trip.error_out(
                502,
                json.dumps(
                    error_body("the upstream sent an unreadable answer", 502, code="upstream_bad_response")
                ).encode(),
            )
        if route.kind == TRANSCRIPTIONS and ctype.startswith("application/json") and b'"usage"' in body:
            if len(body) > PARSED_ANSWER_BYTES:
                trip.count_usage(_usage_near_end(body))
            else:
                try:
                    trip.count_usage(json.loads(body).get("usage"))
                except (ValueError, AttributeError, RecursionError):  # best effort: the body passes on as is
                    pass
        return await trip.plain_out(resp.status, body, ctype, passed_on(resp.headers))


def _json_answer(trip: Trip, body: bytearray) -> bool:
    """Whether a chat or embeddings answer is a JSON object (its usage counted); an HTML page or an empty
    body sent with 200 (a captive portal, a gateway's challenge) is not, and the client's SDK would fail
    on it with a decode error the forwarder never saw. JSON nested too deep to parse here passes on.

    An answer above PARSED_ANSWER_BYTES is not parsed (its objects would take several times its size, on
    the event loop): it is an object when it begins with `{` and ends with `}`, and its usage is read from
    the last `"usage":` key."""
    if len(body) > PARSED_ANSWER_BYTES:
        if not (bytes(body[:16]).lstrip().startswith(b"{") and bytes(body[-16:]).rstrip().endswith(b"}")):
            return False
        trip.count_usage(_usage_near_end(body))
        return True
    try:
        parsed = json.loads(body)
    except RecursionError:
        return True
    except ValueError:  # UnicodeDecodeError too
        return False
    if not isinstance(parsed, dict):
        return False
    trip.count_usage(parsed.get("usage"))
    return True


def _usage_near_end(body: bytearray) -> Any:
    """The value of an answer's last `"usage":` key (OpenAI-compatible servers put it last), or None. An
    unescaped `"usage"` followed by a colon is a key: inside a JSON string its quotes would be escaped."""
    at = body.rfind(b'"usage"')
    if at < 0:
        return None
    text = bytes(body[at + 7 : at + 7 + 4096]).decode("utf-8", "replace").lstrip()
    if not text.startswith(":"):
        return None
    try:
        return _DECODER.raw_decode(text[1:].lstrip())[0]
    except (ValueError, RecursionError):
        return None
