"""The one JSON-RPC client every command uses: it adapts to what a hosted endpoint allows.

Hosted endpoints cap the calls in a batch, answer 429 when asked too often, and now and then fail (502, 504, a
dropped connection). A web3 provider that gives up on the first refusal fails a plan on any real endpoint, so:
- a batch the endpoint finds too large (HTTP 413, a JSON-RPC -32600 or a single error object instead of a list,
  or a "batch too large" message) is split, and the size that worked is remembered for the endpoint;
- 429 and 503 wait for `Retry-After` (else a bounded exponential backoff with jitter), then try again;
- 502, 504, other 5xx without a JSON-RPC answer and connection errors retry reads a bounded number of times; a
  timeout is retried once only (each costs the whole timeout: a hung endpoint must fail in a minute, not three,
  and a pool then reads from the next one). Sending a transaction is never retried on those (it may have
  arrived): the journal decides (`chain/sender.py`). Only a 429, which says the request was not processed,
  sends the same bytes again;
- every request has a timeout, and every long wait (a timeout retried, a long Retry-After) is said on stderr as
  it starts (a logging WARNING, which the command line prints as is);
- errors name the endpoint by its label (`network.rpcUrl` as written, e.g. `env:BASE_RPC_URL`), never its URL,
  which may embed an API key.
It also counts what it sends (HTTP requests, JSON-RPC calls, logical round trips), which is what a metered
endpoint bills. `eth_getLogs` ranges are split by the batch reader (`chain/rpc.py`), which knows the ranges.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import requests
from web3._utils.encoding import FriendlyJsonSerde, Web3JsonEncoder
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from reconciler import EndpointUnusable

BATCH_START = 1000  # calls per batch until the endpoint says less
LOG_RANGE_START = 10_000  # blocks per eth_getLogs until the endpoint says less
CONNECT_TIMEOUT = 5.0
READ_RETRIES = 5  # a read is tried at most 1 + READ_RETRIES times on 5xx and dropped connections
TIMEOUT_RETRIES = 1  # ...and at most twice when it timed out (each try costs the whole timeout)
LONG_WAIT = 5.0  # seconds: a rate-limit wait at least this long is said as it starts
REFUSED_RETRIES = 2  # a refused connection is rarely transient: nothing listens there
RATE_LIMIT_WAITS = 10  # at most this many 429/503 waits for one request
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is an outage, not a rate limit: say so instead of hanging
BACKOFF_BASE, BACKOFF_CAP = 0.25, 8.0
RATE_BACKOFF_BASE = 0.5  # a 429 without Retry-After
SEND_METHODS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})

_TOO_LARGE = re.compile(r"batch (is )?too (large|big)|batch size|too many (requests|calls) in (the |a )?batch", re.I)
_RATE = re.compile(
    r"rate.?limit|too many requests|exceeded .*(capacity|compute units|throughput)|requests? per sec", re.I
)
_MAX_NUMBER = re.compile(r"(?:max(?:imum)?|limit(?:ed)?(?: to)?|up to)\D{0,20}?(\d[\d,]*)\s?([kK]\b)?", re.I)


log = logging.getLogger(__name__)


class RpcError(EndpointUnusable):
    """A read failed; the message names the endpoint by its label, never by its URL (it may embed an API key)."""


@dataclass
class Learned:
    """What one endpoint turned out to allow; shared by every client of that endpoint in this process."""

    batch: int = BATCH_START
    log_range: int = LOG_RANGE_START


@dataclass
class Stats:
    round_trips: int = 0  # logical: one per batch or single call asked for, however it was split or retried
    http_requests: int = 0  # every POST, retries and refusals included
    calls: int = 0  # JSON-RPC calls in those POSTs
    retries: int = 0
    rate_limited: int = 0
    batch_splits: int = 0
    log_splits: int = 0


_LEARNED: dict[str, Learned] = {}


def learned_for(url: str) -> Learned:
    """The process-wide memory of an endpoint, keyed by a hash of its URL (the URL itself is kept nowhere)."""
    key = hashlib.sha256(url.encode()).hexdigest()
    return _LEARNED.setdefault(key, Learned())


def limit_in(message: str) -> int | None:
    """The number an endpoint's refusal names as its limit ("max 100 requests", "up to a 2,000 block range")."""
    m = _MAX_NUMBER.search(message)
    if m is None:
        return None
    n = int(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)
    return n if n > 0 else None


def is_rate_limit(error: Any) -> bool:
    """A JSON-RPC error object that says "slow down" (some endpoints answer 200 with it, or per batch item)."""
    if not isinstance(error, dict):
        return False
    message = str(error.get("message", ""))
    if error.get("code") == 3 or "revert" in message.lower():  # a contract's own words, not the endpoint's
        return False
    return error.get("code") == 429 or bool(_RATE.search(message))


def backoff(attempt: int, base: float | None = None, cap: float = BACKOFF_CAP) -> float:
    """Exponential with full jitter in its upper half: spreads clients that failed together."""
    base = BACKOFF_BASE if base is None else base
    return min(cap, base * 2 ** max(attempt - 1, 0)) * random.uniform(0.5, 1.0)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number (fractions accepted) or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _TooLarge(EndpointUnusable):
    """The endpoint refused a batch or an answer as too large; caught here, where the batch is split."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.limit = limit_in(message)


class EndpointProvider(JSONBaseProvider):
    """A web3 provider over `requests` with the endpoint rules above. `label` is what errors call it."""

    def __init__(
        self,
        url: str,
        label: str,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self._url = url
        self.label = label or "the RPC endpoint"
        self.timeout = timeout
        self.learned = learned_for(url)
        self.stats = Stats()
        self._sleep = sleep
        self._session = requests.Session()
        self._ids = itertools.count(1)
        self.quick = False  # True: one try, no retry and no wait (a pool's health probe)

    def __repr__(self) -> str:  # web3 and tracebacks print providers: never the URL
        return f"EndpointProvider({self.label})"

    __str__ = __repr__

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            return "result" in self.make_request(RPCEndpoint("eth_chainId"), [])
        except RpcError:
            if show_traceback:
                raise
            return False

    # --- web3's entry points ----------------------------------------------------------------------

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.stats.round_trips += 1
        call = self._call(str(method), params)
        answer = self._exchange([call], writes=method in SEND_METHODS, batch=False)
        if isinstance(answer, list):  # a few endpoints wrap a single answer
            answer = answer[0] if answer else {"id": call["id"], "error": {"code": -32603, "message": "empty answer"}}
        return cast(RPCResponse, answer)

    def make_batch_request(self, requests_: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        """Every call answered, in order, however many HTTP requests the endpoint's limits take."""
        self.stats.round_trips += 1
        calls = [self._call(str(m), p) for m, p in requests_]
        answers: dict[int, Any] = {}
        todo = calls
        waits = 0
        while todo:
            limited = self._send_chunks(todo, answers)
            if not limited:
                break
            waits += 1
            if waits > RATE_LIMIT_WAITS:
                raise RpcError(f"{self.label}: still rate limited after {RATE_LIMIT_WAITS} waits")
            self.stats.rate_limited += 1
            self._sleep(backoff(waits, RATE_BACKOFF_BASE))
            todo = limited
        return [cast(RPCResponse, answers[c["id"]]) for c in calls]

    # --- batches ------------------------------------------------------------------------------------

    def _send_chunks(self, calls: list[dict[str, Any]], answers: dict[int, Any]) -> list[dict[str, Any]]:
        """Send `calls` in chunks the endpoint accepts; returns those it answered with a rate-limit error."""
        limited: list[dict[str, Any]] = []
        i = 0
        while i < len(calls):
            chunk = calls[i : i + self.learned.batch]
            try:
                got = self._exchange(chunk, writes=False, batch=True)
                if not isinstance(got, list):
                    raise _TooLarge(_message(got))
                if len(chunk) > 1 and got and all(_TOO_LARGE.search(_message(a)) for a in got):
                    raise _TooLarge(_message(got[0]))  # refused item by item
            except _TooLarge as exc:
                if len(chunk) == 1:
                    raise RpcError(f"{self.label}: the endpoint refused a batch of one call: {exc}") from None
                smaller = exc.limit if exc.limit and exc.limit < len(chunk) else len(chunk) // 2
                self.learned.batch = max(min(smaller, self.learned.batch), 1)
                self.stats.batch_splits += 1
                continue
            by_id = {a.get("id"): a for a in got if isinstance(a, dict)}
            for c in chunk:
                a = by_id.get(c["id"])
                if a is None:
                    a = {"id": c["id"], "error": {"code": -32603, "message": "the endpoint left this call unanswered"}}
                if "error" in a and is_rate_limit(a["error"]):
                    limited.append(c)
                else:
                    answers[c["id"]] = a
            i += len(chunk)
        return limited

    # --- one HTTP request -----------------------------------------------------------------------------

    def _call(self, method: str, params: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": params or [], "id": next(self._ids)}

    def _exchange(self, calls: list[dict[str, Any]], writes: bool, batch: bool) -> Any:
        """POST one request until it is answered or the rules say stop; returns the decoded JSON."""
        body = self._encode(calls if batch else calls[0])
        what = "a transaction" if writes else ("a batch" if batch else calls[0]["method"])
        failures = waits = 0
        while True:
            self.stats.http_requests += 1
            self.stats.calls += len(calls)
            try:
                resp = self._session.post(
                    self._url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=(CONNECT_TIMEOUT, self.timeout),
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                refused = "refused" in str(exc).lower()  # str(exc) holds the URL: only looked at, never shown
                kind = (
                    "timed out"
                    if isinstance(exc, requests.Timeout)
                    else ("connection refused" if refused else "connection failed")
                )
                timed_out = isinstance(exc, requests.Timeout)
                retries = TIMEOUT_RETRIES if timed_out else REFUSED_RETRIES if refused else READ_RETRIES
                failures = self._after_failure(failures, writes, kind, what, retries)
                if timed_out:
                    log.warning(
                        "%s: no answer to %s within %g s; trying again (%d of %d)",
                        self.label,
                        what,
                        self.timeout,
                        failures,
                        retries,
                    )
                continue
            status = resp.status_code
            if status in (401, 403):  # a wrong or missing key: no retry, no split will help
                raise RpcError(f"{self.label}: HTTP {status}, the endpoint refuses this client (check the URL's key)")
            if status == 413:
                if not batch:
                    raise RpcError(f"{self.label}: HTTP 413, the request for {what} is too large for the endpoint")
                raise _TooLarge(resp.text[:200] or "HTTP 413")
            data = _json(resp)
            limited = status in (429, 503) or (isinstance(data, dict) and is_rate_limit(data.get("error")))
            if limited and not (writes and status == 503):
                if self.quick:
                    raise RpcError(f"{self.label}: rate limited (HTTP {status})")
                waits += 1
                self.stats.rate_limited += 1
                wait = retry_after(resp.headers.get("Retry-After"))
                if waits > RATE_LIMIT_WAITS:
                    raise RpcError(f"{self.label}: rate limited (HTTP {status}) {waits} times in a row; try later")
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise RpcError(f"{self.label}: the endpoint asks to wait {wait:.0f}s (HTTP {status}); try later")
                pause = wait if wait is not None else backoff(waits, RATE_BACKOFF_BASE)
                if pause >= LONG_WAIT:
                    log.warning("%s: rate limited (HTTP %s); waiting %.0f s as it asks", self.label, status, pause)
                self._sleep(pause)
                continue
            if status >= 500 and data is None:
                failures = self._after_failure(failures, writes, f"HTTP {status}", what, READ_RETRIES)
                continue
            if data is None:
                raise RpcError(f"{self.label}: HTTP {status} without a JSON-RPC answer")
            return data

    def ask_within(self, method: str, timeout: float, params: Any = None) -> RPCResponse:
        """One call with a shorter timeout (and the usual retries, unless `quick`): a cheap question (the chain id)
        whose slow answer means a hung endpoint, which a pool should leave for the next one sooner."""
        saved = self.timeout
        self.timeout = min(timeout, saved)
        try:
            return self.make_request(RPCEndpoint(method), params or [])
        finally:
            self.timeout = saved

    def probe(self, method: str, params: Any = None, timeout: float = 3.0) -> Any:
        """One try of one call, no retry or wait (a pool's health check); the result, or RpcError."""
        quick, self.quick = self.quick, True
        try:
            answer = self.ask_within(method, timeout, params)
        finally:
            self.quick = quick
        if "error" in answer or "result" not in answer:
            raise RpcError(f"{self.label}: {method}: {_message(answer)}")
        return answer["result"]

    def _after_failure(self, failures: int, writes: bool, why: str, what: str, retries: int) -> int:
        if self.quick:
            raise RpcError(f"{self.label} did not answer {what} ({why})")
        if writes:
            raise RpcError(
                f"{self.label} did not answer while sending {what} ({why}); not retried (it may have arrived): "
                "the journal finds it on the next run"
            )
        failures += 1
        if failures > retries:
            raise RpcError(f"{self.label} did not answer {what} ({why}, {failures} tries)")
        self.stats.retries += 1
        self._sleep(backoff(failures))
        return failures

    @staticmethod
    def _encode(payload: Any) -> bytes:
        return FriendlyJsonSerde().json_encode(payload, Web3JsonEncoder).encode()


def _json(resp: requests.Response) -> Any:
    try:
        data = json.loads(resp.content)
    except ValueError:
        return None
    if isinstance(data, dict) and ("result" in data or "error" in data):
        return data
    if isinstance(data, list):
        return data
    return None


def _message(answer: Any) -> str:
    if isinstance(answer, dict):
        err = answer.get("error")
        if isinstance(err, dict):
            return str(err.get("message", "error"))
        return str(err or "no answer")
    return "not a JSON-RPC answer"
