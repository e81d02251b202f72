"""Chat completions for claudeai models: the request translated, sent through the hop, the answer or its
stream translated back.

A model that refuses `temperature` gets the request once more without it (and its later requests go without
it until the config changes, `options.ClaudeModels`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from proxy.anthropic.options import ClaudeModels, ClaudeOptions, rejects_temperature
from proxy.anthropic.request import to_anthropic_request
from proxy.anthropic.response import to_openai_error, to_openai_response, usage_from_anthropic
from proxy.anthropic.stream import StreamTranslator
from proxy.config import ModelRoute
from proxy.downstream import SSEDownstream
from proxy.error_bodies import error_response
from proxy.exceptions import TranslationError, UpstreamTimeout
from proxy.hop import Hop, Trip, mask_key
from proxy.idle import IdleTimeout
from proxy.intake import Intake
from proxy.sse import SSEParser
from proxy.upstream import UpstreamResponse


class ClaudeChat:
    """The claudeai side of `/v1/chat/completions`, bound to the forwarder's hop and intake."""

    def __init__(self, hop: Hop, intake: Intake) -> None:
        self.hop = hop
        self.intake = intake
        self.settings = hop.settings
        self.models = ClaudeModels()

    async def chat(
        self, request: web.BaseRequest, route: ModelRoute, body: dict[str, Any], stream: bool, t0: float
    ) -> web.StreamResponse:
        """A parsed and routed chat request: translated (a request Anthropic cannot express is a 400), then
        forwarded under a slot."""
        config = self.hop.state.config
        version = config.version if config else ""
        options = self.models.options(route, version)
        try:
            upstream_body = to_anthropic_request(body, route.model_name, self._max_tokens(route), options)
        except TranslationError as exc:
            return self.intake.rejected(
                error_response(400, str(exc), param=exc.param, code="unsupported_parameter"), "translation"
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
        return await self.hop.forward(
            request,
            route,
            t0,
            lambda trip: self._forward(trip, upstream_body, include_usage, version, options),
            stream=stream,
        )

    def _max_tokens(self, route: ModelRoute) -> int:
        """The entry's max_tokens parameter when it is a positive decimal number, else default_max_tokens (a
        "0" would be refused as the client's max_tokens; "²" passes isdigit but not int())."""
        raw = route.parameters.get("max_tokens") or route.parameters.get("maxTokens")
        if raw and raw.isascii() and raw.isdigit() and int(raw) > 0:
            return int(raw)
        return self.settings.default_max_tokens

    def _headers(self, route: ModelRoute) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if route.api_key:
            headers["x-api-key"] = route.api_key
        headers["anthropic-version"] = self.settings.anthropic_version
        return headers

    async def _forward(
        self, trip: Trip, body: dict[str, Any], include_usage: bool, version: str, options: ClaudeOptions
    ) -> web.StreamResponse:
        route, sse = trip.route, trip.sse
        error_cap = self.settings.max_error_body_bytes
        headers = self._headers(route)
        resp = await trip.open(json.dumps(body, ensure_ascii=False).encode(), headers)
        raw = await trip.read(resp, error_cap, truncate=True) if resp.status >= 400 else b""
        if "temperature" in body and rejects_temperature(resp.status, raw):
            # The model takes no temperature at all: once more without it, and not again under this config.
            self.models.refused_temperature(route, version)
            del body["temperature"]
            resp = await trip.open(json.dumps(body, ensure_ascii=False).encode(), headers)  # the refusal released
            raw = await trip.read(resp, error_cap, truncate=True) if resp.status >= 400 else b""
        trip.answered()
        if resp.status >= 400:
            trip.failed_status(resp.status)
            status, err = to_openai_error(resp.status, mask_key(route, raw))
            return await trip.error_out(status, json.dumps(err).encode(), resp.headers.get("Retry-After"))
        if sse is None:
            answer_raw = await trip.read_answer(resp)
            try:
                message = json.loads(answer_raw)
                if not isinstance(message, dict) or message.get("type") != "message":
                    # Any other JSON (an error object a gateway sends with 200, `{}`) would become an
                    # empty completion: the client would take it for the model's answer.
                    raise ValueError("not an Anthropic message")
                answer = to_openai_response(message, options.reasoning)
            except (ValueError, AttributeError, TypeError, RecursionError):
                trip.failed("bad_body")
                return error_response(502, "the upstream sent an unreadable answer", code="upstream_bad_response")
            trip.count_usage(answer["usage"])
            out = json.dumps(answer).encode()
            del answer_raw, message, answer  # only the answer's bytes are held while the client reads them
            return await trip.plain_out(200, out, "application/json; charset=utf-8")
        trip.check_stream_length(resp)
        return await self._translate_stream(trip, resp, sse, StreamTranslator(include_usage, options.reasoning))

    async def _translate_stream(
        self, trip: Trip, resp: UpstreamResponse, sse: SSEDownstream, tr: StreamTranslator
    ) -> web.StreamResponse:
        parser = SSEParser()
        out = await sse.start()
        chunk = await trip.first_chunk(resp, sse)
        total = 0
        try:
            async with IdleTimeout(self.settings.idle_timeout) as idle:
                while chunk:
                    total = trip.streamed(total, chunk)
                    frames = [f for event, data in parser.feed(chunk) for f in tr.feed(event, data)]
                    if frames:
                        await out.write(b"".join(frames))
                    if tr.done:
                        break
                    chunk = await resp.readany()
                    idle.touch()
        except TimeoutError:
            raise UpstreamTimeout("idle") from None
        if not tr.done:
            trip.failed("stream_cut")
            await out.write(b"".join(tr.fail("the upstream ended the stream early", "upstream_error")))
        trip.count_usage(usage_from_anthropic(tr.usage))
        await out.write_eof()
        return out
