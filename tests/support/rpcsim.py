"""A hosted RPC endpoint, simulated: a loopback aiohttp front for anvil with the limits hosted providers publish.

Real endpoints cap the calls in one JSON-RPC batch and the blocks one `eth_getLogs` may span, answer 429 with
`Retry-After` when asked too often, now and then answer 502 or drop the connection, and many offer no `debug_`
methods. anvil does none of
that, so the tests and benches put this in front of it. Every limit is optional; failures are drawn from a
seeded generator so a run can be repeated. It counts what reached it (HTTP requests and JSON-RPC calls), which
is what a metered endpoint bills.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from eth_utils import keccak

from tests.support.ports import free_port


@dataclass
class Limits:
    """What the endpoint refuses. None: no limit."""

    max_batch: int | None = None
    batch_refusal: str = "error-object"  # or "http-413": how an oversized batch is refused
    max_log_range: int | None = None  # blocks in one eth_getLogs, both ends included
    max_log_results: int | None = None
    log_history: int | None = None  # logs only for the newest N blocks (some endpoints keep no older ones)
    rate: float | None = None  # requests per second (token bucket)
    burst: int | None = None  # bucket size; default: one second of `rate`
    fail_rate: float = 0.0  # fraction of requests that fail with one of `fail_kinds`
    fail_kinds: tuple[str, ...] = ("502", "cut")  # "502", "503", "504", "cut" (connection closed), "stall"
    stall_seconds: float = 2.0  # how long a "stall" keeps the request before answering
    drop_send_rate: float = 0.0  # fraction of eth_sendRawTransaction answered "accepted" but never forwarded
    chain_id: int | None = None  # answer eth_chainId with this (an endpoint of another chain)
    refused_methods: tuple[str, ...] = ()  # method name prefixes answered "does not exist" (e.g. "debug_")
    seed: int = 15


@dataclass
class Counts:
    http_requests: int = 0
    calls: int = 0
    rate_limited: int = 0
    failed: int = 0
    refused_batches: int = 0
    refused_log_ranges: int = 0
    log_blocks: int = 0  # blocks spanned by the eth_getLogs queries answered
    methods: Counter[str] = field(default_factory=Counter)
    dropped_sends: int = 0  # transactions answered as accepted and never forwarded (a mempool that lost them)

    def snapshot(self) -> Counts:
        return Counts(
            self.http_requests,
            self.calls,
            self.rate_limited,
            self.failed,
            self.refused_batches,
            self.refused_log_ranges,
            self.log_blocks,
            Counter(self.methods),
            self.dropped_sends,
        )


class EndpointSimulator:
    """`with EndpointSimulator(anvil_url, Limits(...)) as sim:` then point the client at `sim.url`."""

    def __init__(self, upstream: str, limits: Limits | None = None) -> None:
        self.upstream = upstream
        self.limits = limits or Limits()
        self.counts = Counts()
        self.port = free_port()
        self._rng = random.Random(self.limits.seed)
        self._lock = threading.Lock()
        self._tokens = float(self._burst())
        self._refilled = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_counts(self) -> Counts:
        """The counts so far, and start counting from zero."""
        with self._lock:
            done, self.counts = self.counts, Counts()
        return done

    def set_limits(self, limits: Limits) -> None:
        with self._lock:
            self.limits = limits
            self._rng = random.Random(limits.seed)
            self._tokens = float(self._burst())

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> EndpointSimulator:
        self._thread = threading.Thread(target=self._serve, name="rpcsim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the endpoint simulator did not start")
        return self

    def stop(self) -> None:
        """Stop serving (a killed endpoint: connections are refused from now on); stopping twice is fine."""
        if self._loop is not None and self._thread is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> EndpointSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)  # any path: hosted URLs carry their key in it
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        self._session = loop.run_until_complete(_client_session())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._session.close())
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    # --- the endpoint ------------------------------------------------------------------------------

    def _burst(self) -> int:
        lim = self.limits
        return lim.burst if lim.burst is not None else max(int(lim.rate or 1), 1)

    def _take_token(self) -> float:
        """0.0 when the request may pass, else the seconds until it could."""
        rate = self.limits.rate
        if not rate:
            return 0.0
        now = time.monotonic()
        self._tokens = min(self._burst(), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / rate

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError:
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        items = payload if isinstance(payload, list) else [payload]
        with self._lock:
            lim = self.limits
            self.counts.http_requests += 1
            self.counts.calls += len(items)
            self.counts.methods.update(str(i.get("method")) for i in items if isinstance(i, dict))
            fail = self._rng.random() < lim.fail_rate if lim.fail_rate else False
            kind = self._rng.choice(lim.fail_kinds) if fail else ""
            wait = 0.0 if fail else self._take_token()
            if fail:
                self.counts.failed += 1
            elif wait:
                self.counts.rate_limited += 1
        if kind == "cut":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if kind == "stall":
            await asyncio.sleep(lim.stall_seconds)
            kind = ""
        if kind:
            return web.Response(status=int(kind), text=f"{kind} from the simulated endpoint")
        if wait:
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": 429, "message": "Too Many Requests"}},
                status=429,
                headers={"Retry-After": f"{wait:.3f}"},
            )
        if isinstance(payload, list) and lim.max_batch is not None and len(payload) > lim.max_batch:
            with self._lock:
                self.counts.refused_batches += 1
            message = f"batch too large: max {lim.max_batch} requests"
            if lim.batch_refusal == "http-413":
                return web.Response(status=413, text=message)
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})
        answers = await self._answer(items)
        return web.json_response(answers if isinstance(payload, list) else answers[0])

    async def _answer(self, items: list[Any]) -> list[Any]:
        """Refuse the log queries past the caps, forward the rest to anvil as one batch, answer in order."""
        lim = self.limits
        refused: dict[int, Any] = {}
        head: int | None = None
        for k, item in enumerate(items):
            method = item.get("method")
            if any(str(method).startswith(prefix) for prefix in lim.refused_methods):
                # as geth and the hosted endpoints answer a method they do not offer
                refused[k] = _error(item, -32601, f"the method {method} does not exist/is not available")
                continue
            if method == "eth_chainId" and lim.chain_id is not None:
                refused[k] = {"jsonrpc": "2.0", "id": item.get("id"), "result": hex(lim.chain_id)}
                continue
            if method == "eth_sendRawTransaction" and lim.drop_send_rate:
                with self._lock:
                    drop = self._rng.random() < lim.drop_send_rate
                    self.counts.dropped_sends += drop
                if drop:
                    raw = bytes.fromhex(str((item.get("params") or ["0x"])[0]).removeprefix("0x"))
                    refused[k] = {"jsonrpc": "2.0", "id": item.get("id"), "result": "0x" + keccak(raw).hex()}
                    continue
            if method != "eth_getLogs":
                continue
            query = (item.get("params") or [{}])[0]
            tags = not all(str(query.get(e, "latest")).startswith("0x") for e in ("fromBlock", "toBlock"))
            if head is None and (tags or lim.log_history is not None):
                head = int(
                    (await self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"}))["result"], 16
                )
            lo, hi = (_block(query.get(e, "latest"), head) for e in ("fromBlock", "toBlock"))
            if lim.log_history is not None and head is not None and lo <= head - lim.log_history:
                refused[k] = _error(item, -32000, f"logs are kept for the newest {lim.log_history} blocks only")
            elif lim.max_log_range is not None and hi - lo + 1 > lim.max_log_range:
                with self._lock:
                    self.counts.refused_log_ranges += 1
                refused[k] = _error(item, -32005, f"block range too large: max {lim.max_log_range} blocks")
            else:
                with self._lock:
                    self.counts.log_blocks += max(hi - lo + 1, 0)
        passed = [item for k, item in enumerate(items) if k not in refused]
        forwarded: list[Any] = []
        if passed:
            got = await self._forward(passed)
            forwarded = got if isinstance(got, list) else [got]
        by_id = {json.dumps(a.get("id")): a for a in forwarded}
        out = []
        for k, item in enumerate(items):
            answer = refused.get(k) or by_id.get(json.dumps(item.get("id")))
            if answer is None:
                answer = _error(item, -32603, "no answer from the node")
            cap = lim.max_log_results
            if cap is not None and item.get("method") == "eth_getLogs" and len(answer.get("result") or []) > cap:
                answer = _error(item, -32005, f"query returned more than {cap} results")
            out.append(answer)
        return out

    async def _forward(self, payload: Any) -> Any:
        assert self._session is not None
        async with self._session.post(self.upstream, json=payload) as resp:
            return await resp.json(content_type=None)


async def _client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


def _block(tag: Any, head: int | None) -> int:
    text = str(tag)
    if text.startswith("0x"):
        return int(text, 16)
    if text == "earliest":
        return 0
    assert head is not None
    return head


def _error(item: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": item.get("id"), "error": {"code": code, "message": message}}
