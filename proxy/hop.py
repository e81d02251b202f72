"""The hop every endpoint forwards through: take a slot, open the upstream, read or pipe its answer, answer a
failure as the client can still take it, release.

A thin pipe: SSE and binary answers are written through as they arrive, every exit path releases the slot
and the upstream's answer (`finally`), including a client that goes away (aiohttp cancels the handler) and an
upstream that goes silent (idle timeout). `Hop` is shared (slots, budget, failure log, the bytes of buffered
answers); a `Trip` is one request's exchange with its upstream, handed to the endpoint's code that reads and
answers.

A buffered (non-stream) answer is written inside the trip, in pieces, under the write deadline: its slot and
its bytes are held until the last byte has left for the kernel (or the client is gone, or cut), so a slow
reader holds a slot, not memory outside the slots' bound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from proxy.config import ModelRoute
from proxy.downstream import OVERHEAD_MS, PREPARED, SSEDownstream, passed_on
from proxy.error_bodies import error_response, upstream_error_body
from proxy.exceptions import (
    AnswerMemoryFull,
    ConnectError,
    TooLarge,
    UpstreamError,
    UpstreamRedirect,
    UpstreamTimeout,
)
from proxy.failure_log import FailureLog
from proxy.idle import IdleTimeout
from proxy.slots import AnswerBytes
from proxy.sse import DONE, encode_data
from proxy.state import ProxyState
from proxy.upstream import UpstreamResponse

# Upstream statuses that count against the failure budget (account-level trouble, not a buyer's bad request).
BUDGET_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504, 529})

Go = Callable[["Trip"], Awaitable[web.StreamResponse]]
# A buffered answer up to this size is written in one piece when the client's transport holds nothing: head
# and body stay under the transport's high-water mark (64 KiB), so the write cannot wait on the client.
SMALL_ANSWER = 32 * 1024
WRITE_PIECE = 64 * 1024  # larger answers are written in pieces of this size, each waiting for the client


def mask_key(route: ModelRoute, body: bytes) -> bytes:
    """An upstream error body with the route's key masked: some upstreams echo the key they were sent."""
    key = route.api_key
    if key:
        for form in {key.encode(), json.dumps(key)[1:-1].encode()}:
            if form in body:
                body = body.replace(form, b"[redacted]")
    return body


class Hop:
    """What every forwarded request shares, bound to one ProxyState: slots, failure budget, failure log."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.settings = state.settings
        self.failure_log = FailureLog()
        self.answer_bytes = AnswerBytes(state.settings.max_buffered_bytes)
        gauge = state.metrics.buffered_bytes
        state.metrics.collectors.append(lambda: gauge.set((), self.answer_bytes.held))

    async def forward(
        self, request: web.BaseRequest, route: ModelRoute, t0: float, go: Go, *, stream: bool = False
    ) -> web.StreamResponse:
        """Take a slot of the route's model and make the trip (`go`); the slot is released however it ends,
        after a buffered answer's last byte is written. `stream`: the client asked for SSE (keep-alives while
        the upstream is slow, errors as events)."""
        state = self.state
        budget_key = route.budget_key
        if not state.budget.allow(budget_key):
            wait = state.budget.retry_after(budget_key)
            state.metrics.rejections.inc((("reason", "failure_budget"),))
            return error_response(
                503,
                "the upstream failed too often recently; pausing requests to it to protect the account",
                code="upstream_failure_budget",
                headers={"Retry-After": str(wait)},
            )
        gate = state.slots.gate(route.model_id, route.slots)
        if not await gate.acquire(self.settings.wait_queue, self.settings.wait_timeout):
            state.metrics.rejections.inc((("reason", "slots_full"),))
            return error_response(
                429,
                f"all {gate.limit} slots of this model are busy; retry shortly",
                code="slots_full",
                headers={"Retry-After": str(self.settings.retry_after)},
            )
        status = 499
        labels = route.labels
        try:
            response = await self.trip(request, route, t0, go, stream=stream)
            status = response.status
            return response
        finally:
            gate.release()
            m = state.metrics
            m.requests.inc((*labels, ("status", str(status))))
            m.latency.observe(labels, asyncio.get_running_loop().time() - t0)

    async def trip(
        self, request: web.BaseRequest, route: ModelRoute, t0: float, go: Go, *, stream: bool = False
    ) -> web.StreamResponse:
        """`go` under the total timeout, without a slot of its own (an image job's poll); a failure of the
        upstream (or of a client that went away) is answered, the upstream's answer released."""
        trip = Trip(
            self, request, route, t0, SSEDownstream(request, self.settings.keepalive_interval) if stream else None
        )
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                return await go(trip)
        except (UpstreamError, AnswerMemoryFull, ConnectionResetError, TimeoutError) as exc:
            return await trip.fail(exc)
        finally:
            trip.release()
            trip.end()


class Trip:
    """One request's exchange with its upstream: it holds one upstream answer at a time (released when the
    trip ends, or when another is opened) and answers the client, through SSE once that has started."""

    __slots__ = (
        "cut_reason", "delivering", "held", "hop", "opened", "request", "response", "route", "settings", "sse", "t0",
    )  # fmt: skip

    def __init__(
        self, hop: Hop, request: web.BaseRequest, route: ModelRoute, t0: float, sse: SSEDownstream | None
    ) -> None:
        self.hop = hop
        self.settings = hop.settings
        self.request = request
        self.route = route
        self.t0 = t0
        self.sse = sse
        self.response: UpstreamResponse | None = None
        self.held = 0  # bytes taken from the hop's AnswerBytes, given back when the trip ends
        self.delivering = False  # a buffered answer is being written to the client
        self.cut_reason: str | None = None  # why that answer was not written in full
        self.opened = 0.0  # loop time the first upstream request was sent (0: none was)

    # ---- upstream -------------------------------------------------------------------------------

    async def open(
        self, data: bytes, headers: dict[str, str], method: str = "POST", url: str | None = None
    ) -> UpstreamResponse:
        """Send (a POST to the route's apiUrl unless told otherwise), waiting at most ttfb for the answer; SSE
        clients get keep-alive comments while they wait. A redirect is refused, never followed."""
        self.release()
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + self.settings.ttfb_timeout
        overhead = now - self.t0
        if not self.opened:
            self.opened = now
        self.hop.state.metrics.overhead.observe((), overhead)
        self.request[OVERHEAD_MS] = f"{overhead * 1000:.3f}"
        try:
            if self.sse is None:
                resp = await self._send(data, headers, deadline, method, url)
            else:
                resp = await self.sse.keepalive_while(self._send(data, headers, deadline, method, url))
        except TimeoutError:
            raise UpstreamTimeout("ttfb") from None
        if 300 <= resp.status < 400:
            resp.release()  # its body unread: the connection is closed, not reused
            raise UpstreamRedirect(resp.status)
        self.response = resp
        return resp

    async def _send(
        self, data: bytes, headers: dict[str, str], deadline: float, method: str, url: str | None
    ) -> UpstreamResponse:
        """Retry once only when the connection was never made (nothing was sent)."""
        state = self.hop.state
        pool = state.upstream
        assert pool is not None
        key = self.route.budget_key
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(deadline):
                    return await pool.request(method, url or self.route.api_url, headers, data)
            except ConnectError:
                state.budget.record_failure(key)
                if attempt == 2 or not state.budget.allow(key):
                    raise
        raise AssertionError("unreachable")

    def release(self) -> None:
        """Hand the held answer's connection back (a released connection may carry another request at once:
        never twice)."""
        if self.response is not None:
            self.response.release()
            self.response = None

    def end(self) -> None:
        """The trip is over: its buffered answer's bytes go back, an answer cut short is counted, and the time
        an upstream request was open is added to the model's seconds served."""
        if self.held:
            self.hop.answer_bytes.give(self.held)
            self.held = 0
        if self.cut_reason is not None:
            labels = (("model", self.route.model_name), ("reason", self.cut_reason))
            self.hop.state.metrics.answers_cut.inc(labels)
        if self.opened:
            served = asyncio.get_running_loop().time() - self.opened
            self.hop.state.metrics.served_seconds.inc(self.route.labels, served)
            self.opened = 0.0

    async def _hold(self, n: int) -> None:
        """Count `n` more bytes of a buffered answer against `max_buffered_bytes`, waiting at most
        `wait_timeout` for room; AnswerMemoryFull if there is none."""
        gate = self.hop.answer_bytes
        if not gate.try_take(n) and not await gate.take(n, self.settings.wait_timeout):
            raise AnswerMemoryFull(f"no room for {n} more bytes of buffered answers")
        self.held += n

    def answered(self) -> None:
        """The upstream answered: its time to first byte goes to the ttfb histogram."""
        elapsed = asyncio.get_running_loop().time() - self.t0
        self.hop.state.metrics.ttfb.observe((("model", self.route.model_name),), elapsed)

    async def read(self, resp: UpstreamResponse, cap: int, *, truncate: bool = False) -> bytes:
        """The whole body, each read bounded by the idle timeout, and the whole by `cap`: above it, TooLarge
        (a declared length at once), or with `truncate` the first `cap` bytes (error bodies). For small
        bodies (errors, job answers): it is copied once more into `bytes`."""
        return bytes(await self._read(resp, cap, truncate))

    async def read_answer(self, resp: UpstreamResponse) -> bytearray:
        """The buffered answer (at most `max_response_bytes`) in the one buffer it was read into: an answer
        near the cap is never held twice."""
        return await self._read(resp, self.settings.max_response_bytes, False)

    async def _read(self, resp: UpstreamResponse, cap: int, truncate: bool) -> bytearray:
        """The body into one growing buffer, its bytes counted against `max_buffered_bytes` as they come."""
        declared = resp.length
        if declared is not None and declared > cap and not truncate:
            raise TooLarge(f"the upstream declared an answer of {declared} bytes, above {cap}")
        if declared is not None:
            await self._hold(min(declared, cap))  # counted whole before reading: it arrives at the upstream's pace
        buf = bytearray()
        total = 0
        try:
            async with IdleTimeout(self.settings.idle_timeout) as idle:
                while chunk := await resp.readany():
                    total += len(chunk)
                    if total > cap:
                        if not truncate:
                            raise TooLarge(f"the upstream's answer exceeds {cap} bytes")
                        chunk = chunk[: len(chunk) - (total - cap)]
                        if declared is None:
                            await self._hold(len(chunk))
                        buf += chunk
                        break
                    if declared is None:
                        await self._hold(len(chunk))
                    buf += chunk
                    idle.touch()
        except TimeoutError:
            buf.clear()
            raise UpstreamTimeout("idle") from None
        except BaseException:
            buf.clear()  # a traceback keeps this frame alive for a while: not the body read so far with it
            raise
        return buf

    def check_stream_length(self, resp: UpstreamResponse) -> None:
        declared = resp.length
        if declared is not None and declared > self.settings.max_stream_bytes:
            raise TooLarge(
                f"the upstream declared a stream of {declared} bytes, above {self.settings.max_stream_bytes}"
            )

    def streamed(self, total: int, chunk: bytes) -> int:
        """`total` bytes of a stream so far with `chunk`; TooLarge past the streamed-answer cap."""
        total += len(chunk)
        if total > self.settings.max_stream_bytes:
            raise TooLarge(f"the upstream's stream exceeds {self.settings.max_stream_bytes} bytes")
        return total

    async def first_chunk(self, resp: UpstreamResponse, sse: SSEDownstream) -> bytes:
        try:
            async with asyncio.timeout(self.settings.ttfb_timeout):
                return await sse.keepalive_while(resp.readany())
        except TimeoutError:
            raise UpstreamTimeout("ttfb") from None

    async def pipe(self, resp: UpstreamResponse) -> web.StreamResponse:
        """Write the upstream body through as it arrives (SSE or binary), bounded by the idle timeout."""
        request, sse = self.request, self.sse
        if sse is not None:
            sse.extra_headers = passed_on(resp.headers)
            out = await sse.start()  # headers out now, so they are not on the first token's path
            first = await self.first_chunk(resp, sse)
            if first:
                await out.write(first)
                self._scan_usage(first)
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
            total = len(first) if sse is not None else 0
            try:
                async with IdleTimeout(self.settings.idle_timeout) as idle:
                    while chunk := await resp.readany():
                        total = self.streamed(total, chunk)
                        await out.write(chunk)
                        idle.touch()
                        if sse is not None and b'"usage"' in chunk:
                            self._scan_usage(chunk)
            except TimeoutError:
                raise UpstreamTimeout("idle") from None
        await out.write_eof()
        return out

    # ---- accounting -----------------------------------------------------------------------------

    def failed(self, what: str, status: int | None = None, reason: str | None = None, detail: str = "") -> None:
        """Count a failure (budget, metrics by kind and reason) and log it, rate-limited, in our own words."""
        hop, route = self.hop, self.route
        if status is None or status in BUDGET_STATUSES:
            hop.state.budget.record_failure(route.budget_key)
        reason = reason or what
        hop.state.metrics.upstream_errors.inc((*route.labels, ("kind", what), ("reason", reason)))
        hop.failure_log.record(route.model_name, reason, detail or what)

    def failed_status(self, status: int) -> None:
        """The upstream answered an error status (or a redirect): a failure of kind http_<status>."""
        self.failed(f"http_{status}", status, detail=f"answered {status}")

    def count_usage(self, usage: Any) -> None:
        """Count an answer's usage (OpenAI's shape; a claudeai answer's is translated to it first): prompt and
        completion tokens, and of the prompt tokens those read from (`cached`) and written to (`cache_write`)
        the upstream's prompt cache."""
        if not isinstance(usage, dict):
            return
        tokens, labels = self.hop.state.metrics.tokens, self.route.labels
        for key, kind in (("prompt_tokens", "prompt"), ("completion_tokens", "completion")):
            n = usage.get(key)
            if type(n) is int and n > 0:
                tokens.inc((*labels, ("type", kind)), n)
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict):
            for key, kind in (("cached_tokens", "cached"), ("cache_write_tokens", "cache_write")):
                n = details.get(key)
                if type(n) is int and n > 0:
                    tokens.inc((*labels, ("type", kind)), n)

    def _scan_usage(self, chunk: bytes) -> None:
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
                    self.count_usage(json.loads(line[6:]).get("usage"))
                except (ValueError, AttributeError, RecursionError):
                    pass

    # ---- answers --------------------------------------------------------------------------------

    async def pass_on_error(
        self, resp: UpstreamResponse, sanitized: Callable[[int], bytes] | None = None
    ) -> web.StreamResponse:
        """An upstream's error answer, counted and passed on: its status, Retry-After and rate-limit headers,
        its body with the key masked (in the OpenAI shape), or `sanitized(status)` instead of the body."""
        raw = await self.read(resp, self.settings.max_error_body_bytes, truncate=True)
        self.failed_status(resp.status)
        body = sanitized(resp.status) if sanitized else upstream_error_body(resp.status, mask_key(self.route, raw))
        return await self.error_out(resp.status, body, resp.headers.get("Retry-After"), passed_on(resp.headers))

    async def error_out(
        self,
        status: int,
        body: bytes,
        retry_after: str | None = None,
        upstream_headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        sse = self.sse
        if sse is not None and sse.response is not None:  # headers already went out with keep-alives
            await sse.write(b"data: " + body + b"\n\n" + DONE)
            return sse.response
        headers = {
            **(upstream_headers or {}),
            "Content-Type": "application/json",
            "x-proxy-overhead-ms": self.request.get(OVERHEAD_MS, "0"),
        }
        if retry_after:
            headers["Retry-After"] = retry_after  # an upstream 429/503 tells the client when to come back
        return await self.deliver(status, body, CIMultiDict(headers))

    async def plain_out(
        self, status: int, body: bytes | bytearray, ctype: str, upstream_headers: dict[str, str] | None = None
    ) -> web.StreamResponse:
        sse = self.sse
        if sse is not None and sse.response is not None:
            return await self._finish(sse.response, b"data: ", body, b"\n\n" + DONE)
        headers = CIMultiDict(
            {
                **(upstream_headers or {}),
                "Content-Type": ctype or "application/json",
                "x-proxy-overhead-ms": self.request.get(OVERHEAD_MS, "0"),
            }
        )
        return await self.deliver(status, body, headers)

    async def deliver(self, status: int, body: bytes | bytearray, headers: CIMultiDict[str]) -> web.StreamResponse:
        """Write a buffered answer to the client now, inside the trip (so under its slot and the total
        timeout): a small one in one write when nothing is waiting in the client's transport, a larger one
        in pieces under the write deadline."""
        request = self.request
        transport = request.transport
        self.delivering = True  # from here a failure is the client's (a reset, a deadline), not the upstream's
        if transport is not None and len(body) <= SMALL_ANSWER and not transport.get_write_buffer_size():
            small = web.Response(status=status, body=body, headers=headers)
            await small.prepare(request)
            await small.write_eof()  # below the transport's high-water mark: never waits on the client
            if not transport.get_write_buffer_size():
                self.delivering = False
                return small
            request[PREPARED] = small
            return await self._finish(small)  # the kernel took only part: wait for the rest, under the deadline
        out = web.StreamResponse(status=status, headers=headers)
        out.content_length = len(body)
        return await self._finish(out, body)

    async def _finish(self, out: web.StreamResponse, *parts: bytes | bytearray) -> web.StreamResponse:
        """Write `parts` (in pieces, each waiting for the client) and the end of `out`, then wait until the
        transport has handed the last byte to the kernel; all within the write deadline, past which the
        connection is cut."""
        request = self.request
        self.delivering = True
        try:
            async with asyncio.timeout(self.settings.write_timeout):
                if not out.prepared:
                    await out.prepare(request)
                    request[PREPARED] = out
                for part in parts:
                    view = memoryview(part)
                    for start in range(0, len(view), WRITE_PIECE):
                        await out.write(view[start : start + WRITE_PIECE])
                await out.write_eof()
                await _flushed(request)
        except TimeoutError:
            self.cut("write_timeout")
            return out
        except (asyncio.CancelledError, ConnectionResetError):
            self.cut_reason = self.cut_reason or "client_gone"  # or the total timeout: fail() says so
            raise
        self.delivering = False
        return out

    def cut(self, reason: str) -> None:
        """End a client's connection in the middle of its answer: the bytes waiting for it are dropped."""
        self.cut_reason = reason
        if self.request.transport is not None:
            self.request.transport.abort()

    async def fail(self, exc: BaseException) -> web.StreamResponse:
        """A failure answered as the client can still take it: an error answer, an error event in a started
        stream, or a cut binary stream; a client that went away gets nothing."""
        request, sse = self.request, self.sse
        prepared = request.get(PREPARED)
        if self.delivering:  # writing a buffered answer: the client's side failed, not the upstream
            self.cut("total_timeout" if isinstance(exc, TimeoutError) else "client_gone")
            return prepared if prepared is not None else web.Response(status=499)
        if isinstance(exc, TimeoutError):  # only the total timeout reaches here as a bare TimeoutError
            exc = UpstreamTimeout("total")
        if isinstance(exc, ConnectionResetError) and prepared is not None:
            return prepared  # the client went away while we wrote to it: not the upstream's failure
        err = self._failure_response(exc)
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

    def _failure_response(self, exc: BaseException) -> web.Response:
        if isinstance(exc, AnswerMemoryFull):
            self.hop.state.metrics.rejections.inc((("reason", "answer_memory_full"),))
            return error_response(
                503,
                "the forwarder holds as many buffered answers as it may; retry shortly",
                code="answer_memory_full",
                headers={"Retry-After": str(self.settings.retry_after)},
            )
        if isinstance(exc, UpstreamTimeout):
            self.failed(f"timeout_{exc.which}", detail=f"no answer within the {exc.which} timeout")
            return error_response(
                504, f"the upstream did not answer in time ({exc.which} timeout)", code=f"upstream_timeout_{exc.which}"
            )
        if isinstance(exc, UpstreamRedirect):
            self.failed_status(exc.status)
            return error_response(
                502, f"the upstream answered a redirect ({exc.status}), which is not followed", code="upstream_redirect"
            )
        if isinstance(exc, ConnectError):
            self.failed("connect", reason=exc.reason, detail=str(exc))
            return error_response(502, "cannot connect to the upstream", code="upstream_unreachable")
        if isinstance(exc, TooLarge):
            self.failed("too_large", reason=exc.reason, detail=str(exc))
            return error_response(502, "the upstream's answer is too large", code="upstream_response_too_large")
        if isinstance(exc, UpstreamError):
            self.failed("disconnect", reason=exc.reason, detail=str(exc))
        else:
            self.failed("disconnect", reason="closed", detail=type(exc).__name__)
        return error_response(502, "the upstream connection failed", code="upstream_connection_error")


async def _flushed(request: web.BaseRequest) -> None:
    """Wait until the client's transport has handed every byte to the kernel, not only until it is below its
    high-water mark: the answer's last bytes are not left in memory once the slot is given back."""
    transport = request.transport
    if transport is None or not transport.get_write_buffer_size():
        return
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0)  # pauses the writer while a byte is buffered
    try:
        await request.writer.drain()
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)
