"""Loopback upstreams speaking the OpenAI and Anthropic wire formats, with knobs for latency, errors,
429s, dropped connections and hangs. The Anthropic one checks every request against the `anthropic` SDK's
request types and builds its answers from the SDK's response types."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic.types as at
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

UPSTREAM_KEY = "sk-upstream-SECRET-1234"
_MESSAGE_PARAMS = TypeAdapter(at.MessageCreateParams)
# Sampling fields the Messages HTTP API still takes but the anthropic SDK (1.0 on) no longer lists in its
# request types: checked here by hand (range and type), the rest of the body against the SDK's types.
_SAMPLING_RANGES = {"temperature": (0.0, 1.0), "top_p": (0.0, 1.0), "top_k": (0, None)}
PAIR_REJECTED = "temperature and top_p cannot both be specified for this model. Please use only one."
TEMPERATURE_REJECTED = "temperature is deprecated for this model."
# Headers an OpenAI upstream sends that a client uses (rate limits, request id), and one it must not see.
OPENAI_HEADERS = {
    "x-request-id": "req_stub_42",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-remaining-tokens": "29000",
    "openai-organization": "org-stub-private",
}


@dataclass
class Knobs:
    latency: float = 0.0  # before the response headers
    first_token_delay: float = 0.0  # after the headers, before the first event
    delta_gap: float = 0.0
    deltas: int = 4
    status: int | None = None  # answer this error status
    fail_times: int = 0  # answer `status` to the first N requests only (0 = all)
    drop_after: int | None = None  # close the connection after N deltas
    hang: bool = False  # never answer
    reply: str = "text"  # anthropic: text | tool | thinking (a thinking block, then the text)
    reply_text: str | None = None  # anthropic: the answer's text instead of "tok0 tok1 ..."
    non_json_error: bool = False
    error_message: str | None = None  # the message of the `status` error instead of "stub error N"
    reject_temperature: bool = False  # anthropic: a model that takes no temperature (400, as Opus 4.7 does)
    cache_write: int = 0  # anthropic: usage.cache_creation_input_tokens
    thinking_tokens: int = 0  # anthropic: usage.output_tokens_details.thinking_tokens
    cached: int = 0  # openai: usage.prompt_tokens_details.cached_tokens (of the 3 prompt tokens)


@dataclass
class Upstream:
    knobs: Knobs = field(default_factory=Knobs)
    requests: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    active: int = 0
    cancelled: int = 0
    completed: int = 0
    url: str = ""
    peers: set[tuple[str, int]] = field(default_factory=set)  # client connections seen (pool reuse)

    def _should_fail(self) -> bool:
        k = self.knobs
        if k.status is None:
            return False
        return k.fail_times == 0 or len(self.requests) <= k.fail_times


def _deep_list(value: Any) -> Any:
    """Consume pydantic's lazy iterators so every nested item is validated."""
    if isinstance(value, dict):
        return {k: _deep_list(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ValidatorIterator":
        return [_deep_list(v) for v in value]
    return value


def _unknown_keys(given: Any, validated: Any, path: str = "") -> list[str]:
    """Keys the SDK's types dropped (TypedDicts ignore extras): fields Anthropic does not define."""
    out: list[str] = []
    if isinstance(given, dict) and isinstance(validated, dict):
        for k, v in given.items():
            if k not in validated:
                out.append(f"{path}.{k}")
            else:
                out.extend(_unknown_keys(v, validated[k], f"{path}.{k}"))
    elif isinstance(given, list) and isinstance(validated, list):
        for i, (a, b) in enumerate(zip(given, validated, strict=False)):
            out.extend(_unknown_keys(a, b, f"{path}[{i}]"))
    return out


def _sampling_problems(body: dict[str, Any]) -> list[str]:
    out = []
    for name, (low, high) in _SAMPLING_RANGES.items():
        value = body.get(name)
        if name in body and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < low
            or (high is not None and value > high)
        ):
            out.append(f"{name}: {value!r} is not a number in range")
    return out


def _empty_text_blocks(body: dict[str, Any]) -> list[str]:
    """Anthropic refuses text blocks that are empty or only whitespace, wherever they are."""
    out = []
    system = body.get("system")
    blocks = [("system", b) for b in system] if isinstance(system, list) else []
    if isinstance(system, str) and not system.strip():
        out.append("system: text content blocks must contain non-whitespace text")
    for i, msg in enumerate(body.get("messages") or []):
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str) and not content.strip():
            out.append(f"messages.{i}: text content blocks must contain non-whitespace text")
        for j, block in enumerate(content if isinstance(content, list) else []):
            blocks.append((f"messages.{i}.content.{j}", block))
            inner = block.get("content") if isinstance(block, dict) and block.get("type") == "tool_result" else None
            for k, sub in enumerate(inner if isinstance(inner, list) else []):
                blocks.append((f"messages.{i}.content.{j}.content.{k}", sub))
    for where, block in blocks:
        if isinstance(block, dict) and block.get("type") == "text" and not str(block.get("text", "")).strip():
            out.append(f"{where}: text content blocks must contain non-whitespace text")
    return out


def _first_turn_problems(body: dict[str, Any]) -> list[str]:
    """Anthropic combines consecutive turns of one role, but refuses a conversation that starts with the assistant."""
    messages = body.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    if isinstance(first, dict) and first.get("role") != "user":
        return ['messages: first message must use the "user" role']
    return []


def validate_anthropic_request(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body is not an object"]
    sampling = {k: body[k] for k in _SAMPLING_RANGES if k in body}
    rest = {k: v for k, v in body.items() if k not in sampling}
    try:
        validated = _deep_list(_MESSAGE_PARAMS.validate_python(rest))
    except ValidationError as exc:
        return [str(exc)]
    problems = [f"unknown field {p}" for p in _unknown_keys(rest, validated)]
    return problems + _first_turn_problems(body) + _sampling_problems(body) + _empty_text_blocks(body)


async def _sleep(seconds: float) -> None:
    if seconds:
        await asyncio.sleep(seconds)


def _openai_app(up: Upstream) -> web.Application:
    async def track(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.transport is not None:
            up.peers.add(request.transport.get_extra_info("peername"))
        up.active += 1
        try:
            resp = await handler(request)
            up.completed += 1
            return resp
        except asyncio.CancelledError:
            up.cancelled += 1
            raise
        finally:
            up.active -= 1

    async def error_or_none(request: web.Request) -> web.Response | None:
        k = up.knobs
        if k.hang:
            await asyncio.sleep(3600)
        await _sleep(k.latency)
        if up._should_fail():
            assert k.status is not None
            if k.non_json_error:
                return web.Response(status=k.status, text="upstream exploded")
            err = {"error": {"message": f"stub error {k.status}", "type": "stub_error", "param": None, "code": "stub"}}
            headers = {**OPENAI_HEADERS, "Retry-After": "1"} if k.status == 429 else OPENAI_HEADERS
            return web.json_response(err, status=k.status, headers=headers)
        return None

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        up.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if (err := await error_or_none(request)) is not None:
            return err
        k = up.knobs
        words = [f"tok{i} " for i in range(k.deltas)]
        base = {"id": "chatcmpl-stub", "created": 1, "model": body["model"]}
        usage: dict[str, Any] = {"prompt_tokens": 3, "completion_tokens": k.deltas, "total_tokens": 3 + k.deltas}
        if k.cached:
            usage["prompt_tokens_details"] = {"cached_tokens": k.cached}
        if not body.get("stream"):
            msg = {"role": "assistant", "content": "".join(words)}
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                    "usage": usage,
                },
                headers=OPENAI_HEADERS,
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **OPENAI_HEADERS})
        await resp.prepare(request)
        await _sleep(k.first_token_delay)
        for i, w in enumerate(words):
            if k.drop_after is not None and i == k.drop_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            chunk = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
            }
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await _sleep(k.delta_gap)
        end = {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await resp.write(b"data: " + json.dumps(end).encode() + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(
                b"data: "
                + json.dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}).encode()
                + b"\n\n"
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def embeddings(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        up.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if (err := await error_or_none(request)) is not None:
            return err
        return web.json_response(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 1.0]}],
                "model": body["model"],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
        )

    async def speech(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        up.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if (err := await error_or_none(request)) is not None:
            return err
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await resp.prepare(request)
        for i in range(up.knobs.deltas):
            if up.knobs.drop_after is not None and i == up.knobs.drop_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(bytes([i % 256]) * 1024)
            await _sleep(up.knobs.delta_gap)
        await resp.write_eof()
        return resp

    async def transcriptions(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        f = form["file"]
        assert isinstance(f, web.FileField)
        data = f.file.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        up.requests.append({"path": request.path, "headers": dict(request.headers), "body": fields})
        if (err := await error_or_none(request)) is not None:
            return err
        return web.json_response({"text": f"model={form['model']} file={f.filename} bytes={len(data)}"})

    app = web.Application(middlewares=[web.middleware(track)])
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    return app


def _sse(event: Any) -> bytes:
    return f"event: {event.type}\ndata: {event.model_dump_json(exclude_none=True)}\n\n".encode()


def _anthropic_error(status: int, type_: str, message: str) -> web.Response:
    if type_ == "request_too_large":  # no class for it in the SDK's types: the documented shape by hand
        body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_stub"}
        return web.json_response(body, status=status)
    classes = {
        "invalid_request_error": at.InvalidRequestErrorObject,
        "authentication_error": at.AuthenticationErrorObject,
        "rate_limit_error": at.RateLimitErrorObject,
        "overloaded_error": at.OverloadedErrorObject,
        "api_error": at.APIErrorObject,
        "not_found_error": at.NotFoundErrorObject,
        "billing_error": at.BillingErrorObject,
        "permission_error": at.PermissionErrorObject,
    }
    err = at.ErrorResponse(type="error", error=classes[type_](type=type_, message=message), request_id="req_stub")  # type: ignore[arg-type]
    return web.Response(status=status, body=err.model_dump_json(exclude_none=True), content_type="application/json")


def _anthropic_app(up: Upstream) -> web.Application:
    async def messages(request: web.Request) -> web.StreamResponse:
        up.active += 1
        try:
            return await _messages(request)
        except asyncio.CancelledError:
            up.cancelled += 1
            raise
        finally:
            up.active -= 1

    async def _messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        up.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if request.headers.get("x-api-key") != UPSTREAM_KEY or not request.headers.get("anthropic-version"):
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        problems = validate_anthropic_request(body)
        if problems:
            up.invalid.extend(problems)
            return _anthropic_error(400, "invalid_request_error", "; ".join(problems)[:500])
        k = up.knobs
        if "temperature" in body and "top_p" in body:  # what models that take sampling answer to the pair
            up.invalid.append(PAIR_REJECTED)
            return _anthropic_error(400, "invalid_request_error", PAIR_REJECTED)
        if k.reject_temperature and "temperature" in body:
            return _anthropic_error(400, "invalid_request_error", TEMPERATURE_REJECTED)
        if k.hang:
            await asyncio.sleep(3600)
        await _sleep(k.latency)
        if up._should_fail():
            status = k.status or 500
            kind = {
                429: "rate_limit_error",
                529: "overloaded_error",
                400: "invalid_request_error",
                413: "request_too_large",
                404: "not_found_error",
                402: "billing_error",
                403: "permission_error",
                401: "authentication_error",
            }.get(status, "api_error")
            return _anthropic_error(status, kind, k.error_message or f"stub error {status}")
        words = [f"tok{i} " for i in range(k.deltas)] if k.reply_text is None else [k.reply_text]
        details = at.OutputTokensDetails(thinking_tokens=k.thinking_tokens) if k.thinking_tokens else None
        usage = at.Usage(
            input_tokens=11,
            output_tokens=k.deltas,
            cache_read_input_tokens=2,
            cache_creation_input_tokens=k.cache_write or None,
            output_tokens_details=details,
        )
        tool_args = {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}
        thoughts = ["Let me think", " about Paris."] if k.reply == "thinking" else []
        if not body.get("stream"):
            content: list[Any] = []
            if thoughts:
                content.append(at.ThinkingBlock(type="thinking", thinking="".join(thoughts), signature="sig_stub"))
            content.append(at.TextBlock(type="text", text="".join(words)))
            stop = "end_turn"
            if k.reply == "tool":
                content.append(at.ToolUseBlock(type="tool_use", id="toolu_01", name="get_weather", input=tool_args))
                stop = "tool_use"
            msg = at.Message(
                id="msg_01",
                type="message",
                role="assistant",
                model=body["model"],
                content=content,
                stop_reason=stop,
                stop_sequence=None,
                usage=usage,
            )
            return web.Response(body=msg.model_dump_json(exclude_none=True), content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        start_usage = at.Usage(
            input_tokens=11,
            output_tokens=1,
            cache_read_input_tokens=2,
            cache_creation_input_tokens=k.cache_write or None,
        )
        start_msg = at.Message(
            id="msg_01", type="message", role="assistant", model=body["model"], content=[], stop_reason=None, stop_sequence=None,
            usage=start_usage,
        )  # fmt: skip
        await resp.write(_sse(at.RawMessageStartEvent(type="message_start", message=start_msg)))
        await _sleep(k.first_token_delay)
        await resp.write(b'event: ping\ndata: {"type": "ping"}\n\n')
        text_index = 0
        if thoughts:
            text_index = 1
            start = at.ThinkingBlock(type="thinking", thinking="", signature="")
            await resp.write(
                _sse(at.RawContentBlockStartEvent(type="content_block_start", index=0, content_block=start))
            )
            for t in thoughts:
                delta: Any = at.ThinkingDelta(type="thinking_delta", thinking=t)
                await resp.write(_sse(at.RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=delta)))
            delta = at.SignatureDelta(type="signature_delta", signature="sig_stub")
            await resp.write(_sse(at.RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=delta)))
            await resp.write(_sse(at.RawContentBlockStopEvent(type="content_block_stop", index=0)))
        await resp.write(
            _sse(
                at.RawContentBlockStartEvent(
                    type="content_block_start", index=text_index, content_block=at.TextBlock(type="text", text="")
                )
            )
        )
        for i, w in enumerate(words):
            if k.drop_after is not None and i == k.drop_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(
                _sse(
                    at.RawContentBlockDeltaEvent(
                        type="content_block_delta", index=text_index, delta=at.TextDelta(type="text_delta", text=w)
                    )
                )
            )
            await _sleep(k.delta_gap)
        await resp.write(_sse(at.RawContentBlockStopEvent(type="content_block_stop", index=text_index)))
        stop = "end_turn"
        if k.reply == "tool":
            stop = "tool_use"
            block = at.ToolUseBlock(type="tool_use", id="toolu_01", name="get_weather", input={})
            await resp.write(
                _sse(at.RawContentBlockStartEvent(type="content_block_start", index=1, content_block=block))
            )
            args = json.dumps(tool_args)
            for j in range(0, len(args), 7):  # arguments split at arbitrary points, as Anthropic does
                delta = at.InputJSONDelta(type="input_json_delta", partial_json=args[j : j + 7])
                await resp.write(_sse(at.RawContentBlockDeltaEvent(type="content_block_delta", index=1, delta=delta)))
            await resp.write(_sse(at.RawContentBlockStopEvent(type="content_block_stop", index=1)))
        delta_event = at.RawMessageDeltaEvent(
            type="message_delta",
            delta={"stop_reason": stop, "stop_sequence": None},
            usage=at.MessageDeltaUsage(  # type: ignore[call-arg]
                output_tokens=k.deltas, cache_creation_input_tokens=k.cache_write or None, output_tokens_details=details
            ),
        )
        await resp.write(_sse(delta_event))
        await resp.write(_sse(at.RawMessageStopEvent(type="message_stop")))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


@contextlib.asynccontextmanager
async def serve_upstream(kind: str) -> AsyncIterator[Upstream]:
    """An upstream stub on a free loopback port; always stopped."""
    up = Upstream()
    app = _openai_app(up) if kind == "openai" else _anthropic_app(up)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    up.url = f"http://127.0.0.1:{port}"
    try:
        yield up
    finally:
        await runner.cleanup()
