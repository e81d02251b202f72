"""The data plane: authenticate, route, take a slot, forward, stream back, release.

A thin pipe: the request body is parsed once (to route and to set `model`), SSE and binary answers are
written through as they arrive, and every exit path releases the slot (`finally`), including a client
that goes away (aiohttp cancels the handler) and an upstream that goes silent (idle timeout).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from proxy.anthropic.options import ClaudeModels, ClaudeOptions, rejects_temperature
from proxy.anthropic.request import to_anthropic_request
from proxy.anthropic.response import to_openai_error, to_openai_response, usage_from_anthropic
from proxy.anthropic.stream import StreamTranslator
from proxy.config import CHAT, EMBEDDINGS, SPEECH, TRANSCRIPTIONS, ModelRoute
from proxy.downstream import OVERHEAD_MS, PREPARED, SSEDownstream, passed_on
from proxy.error_bodies import error_body, error_response, upstream_error_body
from proxy.exceptions import (
    ConnectError,
    TooLarge,
    TooManyParts,
    TranslationError,
    UpstreamError,
    UpstreamRedirect,
    UpstreamTimeout,
)
from proxy.failure_log import FailureLog
from proxy.idle import IdleTimeout
from proxy.routing import check_bearer, resolve
from proxy.sse import DONE, SSEParser, encode_data
from proxy.state import ProxyState
from proxy.upstream import UpstreamResponse, encode_multipart

log = logging.getLogger("morpheus_proxy")
T = TypeVar("T")

# What ends a forwarded request early: answered by `Forwarder._fail` (an error answer, an error event, or a cut).
FORWARD_FAILURES = (UpstreamError, ConnectionResetError, TimeoutError)

# Upstream statuses that count against the failure budget (account-level trouble, not a buyer's bad request).
BUDGET_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504, 529})


# A transcription form has about ten fields; a body of a million empty parts kept a core busy past the read
# deadline (aiohttp parses each part's head in Python).
MAX_FORM_PARTS = 100
CLOSE = {"Connection": "close"}  # the rest of the body is not read


def _not_json(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json takes them, JSON does not; passed on, the upstream would get
    a body no strict parser reads (or, for claudeai, a NaN temperature)."""
    raise ValueError(f"{name} is not JSON")


class Forwarder:
    """Request handlers bound to one ProxyState."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.settings = state.settings
        self.claude_models = ClaudeModels()
        self.failure_log = FailureLog()
        self.json_cap = min(self.settings.max_json_body_bytes, self.settings.max_body_bytes)

    # ---- handlers -------------------------------------------------------------------------------

    async def chat(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, CHAT)

    async def embeddings(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, EMBEDDINGS)

    async def speech(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._json_endpoint(request, SPEECH)

    async def models(self, request: web.BaseRequest) -> web.StreamResponse:
        if not check_bearer(request, self.state.client_token):
            return self._unauthorized()
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
            return self._unauthorized()
        if not request.content_type.startswith("multipart/"):
            return error_response(400, "transcriptions take multipart/form-data", code="invalid_content_type")
        if (declared := request.content_length) is not None and declared > self.settings.max_body_bytes:
            return self._body_too_large(self.settings.max_body_bytes)
        try:
            read = await self._within_read_deadline(request, self._read_multipart(request))
        except TooManyParts:
            return error_response(
                400, f"the form has more than {MAX_FORM_PARTS} parts", code="invalid_multipart", headers=CLOSE
            )
        except (ValueError, RuntimeError, HttpProcessingError):  # aiohttp's words for a malformed multipart body
            return error_response(400, "the multipart/form-data body is malformed", code="invalid_multipart")
        if read is None:
            return self._read_timed_out()
        model, fields = read
        route = resolve(self.state.config, model, TRANSCRIPTIONS)
        if isinstance(route, web.Response):
            return self._rejected(route, "routing")

        ctype, data = encode_multipart([("model", route.model_name, None, None), *fields])
        return await self._with_slot(
            request, route, t0, lambda: self._forward_openai(request, route, data, False, t0, ctype)
        )

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

    # ---- request bounds ---------------------------------------------------------------------------

    async def _within_read_deadline(self, request: web.BaseRequest, reading: Awaitable[T]) -> T | None:
        """Read a request body within request_read_timeout (None when it ran out); a body that has already
        arrived whole (the common case: small bodies come with the head) is read without arming a timer.

        A client that sent `Expect: 100-continue` waits for a `100 Continue` before sending the body (curl for
        uploads over 1 MiB, .NET, Java clients): it gets one here, after the checks that refuse the request
        from its head alone (token, declared length), as aiohttp's Application would send it.
        """
        if request.content.is_eof():
            return await reading
        if request.version >= HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer itself has not started
        try:
            async with asyncio.timeout(self.settings.request_read_timeout):
                return await reading
        except TimeoutError:
            return None

    def _body_too_large(self, cap: int) -> web.Response:
        return self._rejected(
            error_response(413, f"the request body exceeds {cap} bytes", code="http_413"), "too_large"
        )

    def _read_timed_out(self) -> web.Response:
        return self._rejected(
            error_response(
                408,
                f"the request body did not arrive within {self.settings.request_read_timeout:g} s",
                code="request_timeout",
                headers={"Connection": "close"},
            ),
            "read_timeout",
        )

    # ---- shared paths ---------------------------------------------------------------------------

    async def _json_endpoint(self, request: web.BaseRequest, kind: str) -> web.StreamResponse:
        t0 = asyncio.get_running_loop().time()
        if not check_bearer(request, self.state.client_token):
            return self._unauthorized()
        if (declared := request.content_length) is not None and declared > self.json_cap:
            return self._body_too_large(self.json_cap)
        raw = await self._within_read_deadline(request, request.read())
        if raw is None:
            return self._read_timed_out()
        try:
            body = json.loads(raw, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the recursion limit
            return error_response(400, "the request body is not valid JSON", code="invalid_json")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object", code="invalid_json")
        route = resolve(self.state.config, body.get("model"), kind)
        if isinstance(route, web.Response):
            return self._rejected(route, "routing")
        stream = kind == CHAT and body.get("stream") is True
        if route.api_type == "claudeai":
            version = self.state.config.version if self.state.config else ""
            options = self.claude_models.options(route, version)
            try:
                upstream_body = to_anthropic_request(body, route.model_name, self._max_tokens(route), options)
            except TranslationError as exc:
                return self._rejected(
                    error_response(400, str(exc), param=exc.param, code="unsupported_parameter"), "translation"
                )
            include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
            return await self._with_slot(
                request,
                route,
                t0,
                lambda: self._forward_claude(
                    request, route, upstream_body, stream, include_usage, t0, version, options
                ),
            )
        body["model"] = route.model_name
        data = json.dumps(body, ensure_ascii=False).encode()
        return await self._with_slot(request, route, t0, lambda: self._forward_openai(request, route, data, stream, t0))

    def _max_tokens(self, route: ModelRoute) -> int:
        """The entry's max_tokens parameter when it is a positive decimal number, else default_max_tokens (a
        "0" would be refused as the client's max_tokens; "²" passes isdigit but not int())."""
        raw = route.parameters.get("max_tokens") or route.parameters.get("maxTokens")
        if raw and raw.isascii() and raw.isdigit() and int(raw) > 0:
            return int(raw)
        return self.settings.default_max_tokens

    def _unauthorized(self) -> web.Response:
        self.state.metrics.rejections.inc((("reason", "unauthorized"),))
        return error_response(
            401, "missing or wrong bearer token", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )

    def _rejected(self, response: web.Response, reason: str) -> web.Response:
        self.state.metrics.rejections.inc((("reason", reason),))
        return response

    async def _with_slot(
        self,
        request: web.BaseRequest,
        route: ModelRoute,
        t0: float,
        forward: Callable[[], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        state = self.state
        budget_key = route.budget_key
        if not state.budget.allow(budget_key):
            wait = state.budget.retry_after(budget_key)
            return self._rejected(
                error_response(
                    503,
                    "the upstream failed too often recently; pausing requests to it to protect the account",
                    code="upstream_failure_budget",
                    headers={"Retry-After": str(wait)},
                ),
                "failure_budget",
            )
        gate = state.slots.gate(route.model_id, route.slots)
        if not await gate.acquire(self.settings.wait_queue, self.settings.wait_timeout):
            return self._rejected(
                error_response(
                    429,
                    f"all {gate.limit} slots of this model are busy; retry shortly",
                    code="slots_full",
                    headers={"Retry-After": str(self.settings.retry_after)},
                ),
                "slots_full",
            )
        status = 499
        labels = route.labels
        try:
            response: web.StreamResponse = await forward()
            status = response.status
            return response
        finally:
            gate.release()
            m = state.metrics
            m.requests.inc((*labels, ("status", str(status))))
            m.latency.observe(labels, asyncio.get_running_loop().time() - t0)

    # ---- upstream calls -------------------------------------------------------------------------

    async def _send(
        self,
        route: ModelRoute,
        data: bytes,
        headers: dict[str, str],
        deadline: float,
        method: str = "POST",
        url: str | None = None,
    ) -> UpstreamResponse:
        """Send upstream (a POST to the route's apiUrl unless told otherwise); retry once only when the
        connection was never made (nothing was sent)."""
        pool = self.state.upstream
        assert pool is not None
        key = route.budget_key
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(deadline):
                    return await pool.request(method, url or route.api_url, headers, data)
            except ConnectError:
                self.state.budget.record_failure(key)
                if attempt == 2 or not self.state.budget.allow(key):
                    raise
        raise AssertionError("unreachable")

    async def _open(
        self,
        request: web.BaseRequest,
        route: ModelRoute,
        data: bytes,
        headers: dict[str, str],
        t0: float,
        sse: SSEDownstream | None,
        method: str = "POST",
        url: str | None = None,
    ) -> UpstreamResponse:
        """Send, waiting at most ttfb for the answer; SSE clients get keep-alive comments while they wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ttfb_timeout
        overhead = loop.time() - t0
        self.state.metrics.overhead.observe((), overhead)
        request[OVERHEAD_MS] = f"{overhead * 1000:.3f}"
        try:
            if sse is None:
                resp = await self._send(route, data, headers, deadline, method, url)
            else:
                resp = await sse.keepalive_while(self._send(route, data, headers, deadline, method, url))
        except TimeoutError:
            raise UpstreamTimeout("ttfb") from None
        if 300 <= resp.status < 400:
            resp.release()  # its body unread: the connection is closed, not reused
            raise UpstreamRedirect(resp.status)
        return resp

    def _headers(self, route: ModelRoute, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if route.api_type == "claudeai":
            if route.api_key:
                headers["x-api-key"] = route.api_key
            headers["anthropic-version"] = self.settings.anthropic_version
        elif route.api_key:
            headers["Authorization"] = "Bearer " + route.api_key
        return headers

    def _upstream_failed(
        self, route: ModelRoute, what: str, status: int | None = None, reason: str | None = None, detail: str = ""
    ) -> None:
        """Count a failure (budget, metrics by kind and reason) and log it, rate-limited, in our own words."""
        if status is None or status in BUDGET_STATUSES:
            self.state.budget.record_failure(route.budget_key)
        reason = reason or what
        self.state.metrics.upstream_errors.inc((("model", route.model_name), ("kind", what), ("reason", reason)))
        self.failure_log.record(route.model_name, reason, detail or what)

    def _failure_response(self, route: ModelRoute, exc: BaseException) -> web.Response:
        if isinstance(exc, UpstreamTimeout):
            self._upstream_failed(route, f"timeout_{exc.which}", detail=f"no answer within the {exc.which} timeout")
            return error_response(
                504, f"the upstream did not answer in time ({exc.which} timeout)", code=f"upstream_timeout_{exc.which}"
            )
        if isinstance(exc, UpstreamRedirect):
            self._upstream_failed(route, f"http_{exc.status}", exc.status, detail=f"answered {exc.status}")
            return error_response(
                502, f"the upstream answered a redirect ({exc.status}), which is not followed", code="upstream_redirect"
            )
        if isinstance(exc, ConnectError):
            self._upstream_failed(route, "connect", reason=exc.reason, detail=str(exc))
            return error_response(502, "cannot connect to the upstream", code="upstream_unreachable")
        if isinstance(exc, TooLarge):
            self._upstream_failed(route, "too_large", reason=exc.reason, detail=str(exc))
            return error_response(502, "the upstream's answer is too large", code="upstream_response_too_large")
        if isinstance(exc, UpstreamError):
            self._upstream_failed(route, "disconnect", reason=exc.reason, detail=str(exc))
        else:
            self._upstream_failed(route, "disconnect", reason="closed", detail=type(exc).__name__)
        return error_response(502, "the upstream connection failed", code="upstream_connection_error")

    def _mask_key(self, route: ModelRoute, body: bytes) -> bytes:
        """An upstream error body with the route's key masked: some upstreams echo the key they were sent."""
        key = route.api_key
        if key:
            for form in {key.encode(), json.dumps(key)[1:-1].encode()}:
                if form in body:
                    body = body.replace(form, b"[redacted]")
        return body

    def _count_usage(self, route: ModelRoute, usage: Any) -> None:
        if isinstance(usage, dict):
            for kind in ("prompt_tokens", "completion_tokens"):
                n = usage.get(kind)
                if isinstance(n, int) and n > 0:
                    self.state.metrics.tokens.inc((("model", route.model_name), ("type", kind.split("_")[0])), n)

    async def _read_all(self, resp: UpstreamResponse, cap: int, *, truncate: bool = False) -> bytes:
        """The whole body, each read bounded by the idle timeout, and the whole by `cap`: above it, TooLarge
        (a declared length at once), or with `truncate` the first `cap` bytes (error bodies)."""
        declared = resp.length
        if declared is not None and declared > cap and not truncate:
            raise TooLarge(f"the upstream declared an answer of {declared} bytes, above {cap}")
        chunks: list[bytes] = []
        total = 0
        try:
            async with IdleTimeout(self.settings.idle_timeout) as idle:
                while chunk := await resp.readany():
                    total += len(chunk)
                    if total > cap:
                        if not truncate:
                            raise TooLarge(f"the upstream's answer exceeds {cap} bytes")
                        chunks.append(chunk[: len(chunk) - (total - cap)])
                        break
                    chunks.append(chunk)
                    idle.touch()
        except TimeoutError:
            chunks.clear()
            raise UpstreamTimeout("idle") from None
        except BaseException:
            chunks.clear()  # a traceback keeps this frame alive for a while: not the body read so far with it
            raise
        return b"".join(chunks)

    def _json_answer(self, route: ModelRoute, body: bytes) -> bool:
        """Whether a chat or embeddings answer is a JSON object (its usage counted); an HTML page or an empty
        body sent with 200 (a captive portal, a gateway's challenge) is not, and the client's SDK would fail
        on it with a decode error the forwarder never saw. JSON nested too deep to parse here passes on."""
        try:
            parsed = json.loads(body)
        except RecursionError:
            return True
        except ValueError:  # UnicodeDecodeError too
            return False
        if not isinstance(parsed, dict):
            return False
        self._count_usage(route, parsed.get("usage"))
        return True

    def _check_stream_length(self, resp: UpstreamResponse) -> None:
        declared = resp.length
        if declared is not None and declared > self.settings.max_stream_bytes:
            raise TooLarge(
                f"the upstream declared a stream of {declared} bytes, above {self.settings.max_stream_bytes}"
            )

    async def _forward_openai(
        self,
        request: web.BaseRequest,
        route: ModelRoute,
        data: bytes,
        stream: bool,
        t0: float,
        content_type: str = "application/json",
    ) -> web.StreamResponse:
        sse = SSEDownstream(request, self.settings.keepalive_interval) if stream else None
        resp: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                resp = await self._open(request, route, data, self._headers(route, content_type), t0, sse)
                self.state.metrics.ttfb.observe((("model", route.model_name),), asyncio.get_running_loop().time() - t0)
                if resp.status >= 400:
                    body = await self._read_all(resp, self.settings.max_error_body_bytes, truncate=True)
                    self._upstream_failed(route, f"http_{resp.status}", resp.status, detail=f"answered {resp.status}")
                    return await self._error_out(
                        request,
                        sse,
                        resp.status,
                        upstream_error_body(resp.status, self._mask_key(route, body)),
                        resp.headers.get("Retry-After"),
                        passed_on(resp.headers),
                    )
                ctype = resp.headers.get("Content-Type", "")
                if ctype.startswith("text/event-stream") or route.kind == SPEECH:
                    self._check_stream_length(resp)
                    return await self._pipe(request, route, resp, sse)
                body = await self._read_all(resp, self.settings.max_response_bytes)
                if route.kind in (CHAT, EMBEDDINGS) and not self._json_answer(route, body):
                    self._upstream_failed(route, "bad_body")
                    return await self._error_out(
                        request,
                        sse,
                        502,
                        json.dumps(
                            error_body("the upstream sent an unreadable answer", 502, code="upstream_bad_response")
                        ).encode(),
                    )
                if route.kind == TRANSCRIPTIONS and ctype.startswith("application/json") and b'"usage"' in body:
                    try:
                        self._count_usage(route, json.loads(body).get("usage"))
                    except (ValueError, AttributeError, RecursionError):  # best effort: the body passes on as is
                        pass
                return await self._plain_out(request, sse, resp.status, body, ctype, passed_on(resp.headers))
        except FORWARD_FAILURES as exc:
            return await self._fail(request, route, sse, exc)
        finally:
            if resp is not None:
                resp.release()

    async def _fail(
        self, request: web.BaseRequest, route: ModelRoute, sse: SSEDownstream | None, exc: BaseException
    ) -> web.StreamResponse:
        if isinstance(exc, TimeoutError):  # only the total timeout reaches here as a bare TimeoutError
            exc = UpstreamTimeout("total")
        prepared = request.get(PREPARED)
        if isinstance(exc, ConnectionResetError) and prepared is not None:
            return prepared  # the client went away while we wrote to it: not the upstream's failure
        err = self._failure_response(route, exc)
        if sse is not None and sse.response is not None:
            await sse.write(encode_data(json.loads(err.body)) + DONE)  # type: ignore[arg-type]
            return sse.response
        if isinstance(prepared, web.StreamResponse):
            # A binary stream already started: cut the connection so the client sees a truncated body.
            if request.transport is not None:
                request.transport.close()
            return prepared
        err.headers["x-proxy-overhead-ms"] = request.get(OVERHEAD_MS, "0")
        return err

    async def _error_out(
        self,
        request: web.BaseRequest,
        sse: SSEDownstream | None,
        status: int,
        body: bytes,
        retry_after: str | None = None,
        upstream_headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        if sse is not None and sse.response is not None:  # headers already went out with keep-alives
            await sse.write(b"data: " + body + b"\n\n" + DONE)
            return sse.response
        headers = {**(upstream_headers or {}), "x-proxy-overhead-ms": request.get(OVERHEAD_MS, "0")}
        if retry_after:
            headers["Retry-After"] = retry_after  # an upstream 429/503 tells the client when to come back
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    async def _plain_out(
        self,
        request: web.BaseRequest,
        sse: SSEDownstream | None,
        status: int,
        body: bytes,
        ctype: str,
        upstream_headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        if sse is not None and sse.response is not None:
            await sse.write(b"data: " + body + b"\n\n" + DONE)
            return sse.response
        headers = CIMultiDict(
            {
                **(upstream_headers or {}),
                "Content-Type": ctype or "application/json",
                "x-proxy-overhead-ms": request.get(OVERHEAD_MS, "0"),
            }
        )
        return web.Response(status=status, body=body, headers=headers)

    async def _pipe(
        self, request: web.BaseRequest, route: ModelRoute, resp: UpstreamResponse, sse: SSEDownstream | None
    ) -> web.StreamResponse:
        """Write the upstream body through as it arrives (SSE or binary), bounded by the idle timeout."""
        if sse is not None:
            sse.extra_headers = passed_on(resp.headers)
            out = await sse.start()  # headers out now, so they are not on the first token's path
            first = await self._first_chunk(resp, sse)
            if first:
                await out.write(first)
                self._scan_usage(route, first)
        else:
            headers = {
                **passed_on(resp.headers),
                "Content-Type": resp.headers.get("Content-Type", "application/octet-stream"),
                "x-proxy-overhead-ms": request.get(OVERHEAD_MS, "0"),
            }
            out = web.StreamResponse(status=resp.status, headers=headers)
            await out.prepare(request)
            request[PREPARED] = out
            first = b"x"
        if first:
            cap = self.settings.max_stream_bytes
            total = len(first) if sse is not None else 0
            try:
                async with IdleTimeout(self.settings.idle_timeout) as idle:
                    while chunk := await resp.readany():
                        total += len(chunk)
                        if total > cap:
                            raise TooLarge(f"the upstream's stream exceeds {cap} bytes")
                        await out.write(chunk)
                        idle.touch()
                        if sse is not None and b'"usage"' in chunk:
                            self._scan_usage(route, chunk)
            except TimeoutError:
                raise UpstreamTimeout("idle") from None
        await out.write_eof()
        return out

    def _scan_usage(self, route: ModelRoute, chunk: bytes) -> None:
        """Count the usage an OpenAI stream reports (best effort: a frame split across reads is missed)."""
        if b'"usage"' not in chunk:
            return
        for line in chunk.split(b"\n"):
            if (
                line.startswith(b"data: {")
                and b'"usage"' in line
                and b'"usage":null' not in line
                and b'"usage": null' not in line
            ):
                try:
                    self._count_usage(route, json.loads(line[6:]).get("usage"))
                except (ValueError, AttributeError, RecursionError):
                    pass

    async def _first_chunk(self, resp: UpstreamResponse, sse: SSEDownstream) -> bytes:
        try:
            async with asyncio.timeout(self.settings.ttfb_timeout):
                return await sse.keepalive_while(resp.readany())
        except TimeoutError:
            raise UpstreamTimeout("ttfb") from None

    async def _forward_claude(
        self,
        request: web.BaseRequest,
        route: ModelRoute,
        body: dict[str, Any],
        stream: bool,
        include_usage: bool,
        t0: float,
        version: str,
        options: ClaudeOptions,
    ) -> web.StreamResponse:
        sse = SSEDownstream(request, self.settings.keepalive_interval) if stream else None
        resp: UpstreamResponse | None = None
        headers = self._headers(route, "application/json")
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                resp = await self._open(request, route, json.dumps(body, ensure_ascii=False).encode(), headers, t0, sse)
                raw = (
                    await self._read_all(resp, self.settings.max_error_body_bytes, truncate=True)
                    if resp.status >= 400
                    else b""
                )
                if "temperature" in body and rejects_temperature(resp.status, raw):
                    # The model takes no temperature at all: once more without it, and not again under this config.
                    self.claude_models.refused_temperature(route, version)
                    del body["temperature"]
                    resp.release()
                    resp = None
                    data = json.dumps(body, ensure_ascii=False).encode()
                    resp = await self._open(request, route, data, headers, t0, sse)
                    raw = (
                        await self._read_all(resp, self.settings.max_error_body_bytes, truncate=True)
                        if resp.status >= 400
                        else b""
                    )
                self.state.metrics.ttfb.observe((("model", route.model_name),), asyncio.get_running_loop().time() - t0)
                if resp.status >= 400:
                    self._upstream_failed(route, f"http_{resp.status}", resp.status, detail=f"answered {resp.status}")
                    status, err = to_openai_error(resp.status, self._mask_key(route, raw))
                    return await self._error_out(
                        request, sse, status, json.dumps(err).encode(), resp.headers.get("Retry-After")
                    )
                if sse is None:
                    raw = await self._read_all(resp, self.settings.max_response_bytes)
                    try:
                        message = json.loads(raw)
                        if not isinstance(message, dict) or message.get("type") != "message":
                            # Any other JSON (an error object a gateway sends with 200, `{}`) would become an
                            # empty completion: the client would take it for the model's answer.
                            raise ValueError("not an Anthropic message")
                        answer = to_openai_response(message, options.reasoning)
                    except (ValueError, AttributeError, TypeError, RecursionError):
                        self._upstream_failed(route, "bad_body")
                        return error_response(
                            502, "the upstream sent an unreadable answer", code="upstream_bad_response"
                        )
                    self._count_usage(route, answer["usage"])
                    return web.json_response(answer, headers={"x-proxy-overhead-ms": request.get(OVERHEAD_MS, "0")})
                self._check_stream_length(resp)
                return await self._translate_stream(
                    route, resp, sse, StreamTranslator(include_usage, options.reasoning)
                )
        except FORWARD_FAILURES as exc:
            return await self._fail(request, route, sse, exc)
        finally:
            if resp is not None:
                resp.release()

    async def _translate_stream(
        self, route: ModelRoute, resp: UpstreamResponse, sse: SSEDownstream, tr: StreamTranslator
    ) -> web.StreamResponse:
        parser = SSEParser()
        out = await sse.start()
        chunk = await self._first_chunk(resp, sse)
        cap, total = self.settings.max_stream_bytes, 0
        try:
            async with IdleTimeout(self.settings.idle_timeout) as idle:
                while chunk:
                    total += len(chunk)
                    if total > cap:
                        raise TooLarge(f"the upstream's stream exceeds {cap} bytes")
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
            self._upstream_failed(route, "stream_cut")
            await out.write(b"".join(tr.fail("the upstream ended the stream early", "upstream_error")))
        self._count_usage(route, usage_from_anthropic(tr.usage))
        await out.write_eof()
        return out
