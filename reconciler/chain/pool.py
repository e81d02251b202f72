"""Several endpoints of one chain behind one web3 provider: agree on the chain, fail over, broadcast to all.

One endpoint down must not stop a provider, so `network.rpcUrls` may name several, and:
- before anything is read, every endpoint that answers must report the same chain id (an endpoint that did
  not answer is checked before its first use); a disagreement is an error, and nothing is read or sent;
- reads go to a healthy endpoint and fail over to the next on an error (the endpoint client has already
  retried what may be retried); a failed endpoint is skipped for a while, then tried again;
- an endpoint whose head lags the best one by more than `MAX_LAG` blocks is not used for reads, which are
  pinned to the head the reader was given (it may not have that block yet);
- a signed transaction goes to every healthy endpoint (the same bytes: a duplicate is impossible), and the
  nonce is the highest pending count any of them reports;
- `health` tells each endpoint's state by its label, never by its URL (it may embed an API key).
With one endpoint the pool adds no call: it is then the endpoint client with a health record (its head is
looked at only when asked: `status` and the watcher's metrics show it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from reconciler import EndpointUnusable
from reconciler.chain.endpoint import SEND_METHODS, EndpointProvider, Learned, RpcError, Stats

MAX_LAG = 3  # blocks behind the best head before an endpoint is left out of reads
HEAD_TTL = 10.0  # seconds between looks at every endpoint's head
DOWN_FOR = 15.0  # seconds a failed endpoint is skipped before it is tried again
CHAIN_ID_TIMEOUT = 10.0  # with others to read from, a hung endpoint's chain id is not waited for the full timeout

T = TypeVar("T")


class ChainMismatch(EndpointUnusable):
    """The endpoints of one network are not on one chain: nothing is read further and nothing is sent."""


@dataclass
class Health:
    """One endpoint as the pool sees it; what `status` and the watcher's metrics show (by label)."""

    label: str
    up: bool = True
    head: int | None = None
    lagging: bool = False
    failures: int = 0  # in a row
    error: str = ""  # the last one, already free of URLs
    down_until: float = 0.0
    chain_id: int | None = None

    @property
    def state(self) -> str:
        return "down" if not self.up else ("lagging" if self.lagging else "up")

    def as_dict(self) -> dict[str, Any]:
        """For `status --format json` and the watcher: the label, never the URL."""
        return {"endpoint": self.label, "state": self.state, "head": self.head, "error": self.error or None}

    def describe(self) -> str:
        if not self.up:
            return f"{self.label}: down ({self.error})"
        head = f" at block {self.head}" if self.head is not None else ""
        return f"{self.label}: {'lagging' if self.lagging else 'up'}{head}"


class EndpointPool(JSONBaseProvider):
    """A web3 provider over one or more `EndpointProvider`s of one chain (see the module doc)."""

    def __init__(self, endpoints: Sequence[EndpointProvider], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        if not endpoints:
            raise EndpointUnusable("network: no RPC endpoint given")
        self.endpoints = list(endpoints)
        self.health = [Health(e.label) for e in self.endpoints]
        self._clock = clock
        self._current = 0
        self._checked = len(self.endpoints) == 1  # one endpoint: the reader checks its chain id
        self._heads_at = float("-inf")

    def __repr__(self) -> str:
        return f"EndpointPool({', '.join(e.label for e in self.endpoints)})"

    __str__ = __repr__

    # --- what the reader and the commands ask of an endpoint ------------------------------------------

    @property
    def current(self) -> EndpointProvider:
        return self.endpoints[self._current]

    @property
    def label(self) -> str:
        return self.current.label

    @property
    def learned(self) -> Learned:
        return self.current.learned

    @property
    def stats(self) -> Stats:
        """What was sent, summed over the endpoints (one endpoint: its own record)."""
        if len(self.endpoints) == 1:
            return self.endpoints[0].stats
        total = Stats()
        for e in self.endpoints:
            for name in Stats.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(e.stats, name))
        return total

    def is_connected(self, show_traceback: bool = False) -> bool:
        return any(e.is_connected(show_traceback) for e in self.endpoints)

    # --- web3's entry points ---------------------------------------------------------------------------

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.check_chain()
        if len(self.endpoints) > 1:
            if method in SEND_METHODS:
                return self._broadcast(method, params)
            if method == "eth_getTransactionCount" and list(params or [])[-1:] == ["pending"]:
                return self._highest(method, params)
        return self._read(lambda e: e.make_request(method, params))

    def make_batch_request(self, requests_: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        self.check_chain()
        return self._read(lambda e: e.make_batch_request(requests_))

    # --- the chain check --------------------------------------------------------------------------------

    def check_chain(self) -> None:
        """Every endpoint that answers reports one chain id; one not answering is checked before its use."""
        if self._checked:
            return
        for i, e in enumerate(self.endpoints):
            self._chain_id(i, e)
        self._checked = True
        self._agree()

    def _chain_id(self, i: int, e: EndpointProvider) -> int | None:
        h = self.health[i]
        if h.chain_id is None:
            try:
                answer = (
                    e.ask_within("eth_chainId", CHAIN_ID_TIMEOUT)
                    if len(self.endpoints) > 1
                    else e.make_request(RPCEndpoint("eth_chainId"), [])
                )
                if "result" not in answer:
                    raise RpcError(f"{e.label}: eth_chainId: {answer.get('error')}")
                h.chain_id = int(str(answer["result"]), 16)
            except RpcError as exc:
                self._failed(i, exc)
        return h.chain_id

    def _agree(self) -> None:
        seen = {h.chain_id for h in self.health if h.chain_id is not None}
        if len(seen) > 1:
            said = ", ".join(f"{h.label} on chain {h.chain_id}" for h in self.health if h.chain_id is not None)
            raise ChainMismatch(
                f"network.rpcUrls are not one chain ({said}); refusing: nothing was read further or sent"
            )

    # --- choosing an endpoint ---------------------------------------------------------------------------

    def _order(self) -> list[int]:
        """Healthy endpoints first (the current one leading), then lagging ones, then those marked down."""
        now = self._clock()
        n = len(self.endpoints)
        rotation = [(self._current + k) % n for k in range(n)]
        healthy = [i for i in rotation if self.health[i].down_until <= now and not self.health[i].lagging]
        lagging = [i for i in rotation if self.health[i].down_until <= now and self.health[i].lagging]
        down = [i for i in rotation if self.health[i].down_until > now]
        return healthy + lagging + down

    def refresh_heads(self, force: bool = False) -> None:
        """Look at every endpoint's head (one quick call each) at most every HEAD_TTL seconds; `force`: now, even
        the head of a lone endpoint (which reads never need: there is nothing to compare it with)."""
        if len(self.endpoints) == 1 and not force:
            return
        now = self._clock()
        if not force and now - self._heads_at < HEAD_TTL:
            return
        self._heads_at = now
        for i, e in enumerate(self.endpoints):
            if self.health[i].down_until > now:
                continue
            try:
                self.health[i].head = int(str(e.probe("eth_blockNumber")), 16)
                self._ok(i)
            except RpcError as exc:
                self._failed(i, exc)
        heads = [h.head for h in self.health if h.head is not None and h.up]
        best = max(heads) if heads else None
        for h in self.health:
            h.lagging = best is not None and h.head is not None and best - h.head > MAX_LAG

    def _read(self, call: Callable[[EndpointProvider], T]) -> T:
        self.refresh_heads()
        errors: list[RpcError] = []
        for i in self._order():
            e = self.endpoints[i]
            if len(self.endpoints) > 1 and self.health[i].chain_id is None:
                if self._chain_id(i, e) is None:
                    errors.append(RpcError(self.health[i].error))
                    continue
                self._agree()
            try:
                answer = call(e)
            except RpcError as exc:
                self._failed(i, exc)
                errors.append(exc)
                continue
            self._ok(i)
            self._current = i
            return answer
        if len(errors) == 1:
            raise errors[0]
        raise RpcError("no RPC endpoint answered: " + "; ".join(str(x) for x in errors))

    def _ok(self, i: int) -> None:
        h = self.health[i]
        h.up, h.failures, h.down_until = True, 0, 0.0

    def _failed(self, i: int, exc: Exception) -> None:
        h = self.health[i]
        h.up, h.failures, h.error = False, h.failures + 1, str(exc)
        h.down_until = self._clock() + DOWN_FOR

    # --- writes and nonces --------------------------------------------------------------------------------

    def _healthy(self) -> list[int]:
        now = self._clock()
        healthy = [i for i in range(len(self.endpoints)) if self.health[i].down_until <= now]
        return healthy or list(range(len(self.endpoints)))

    def _broadcast(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """The same signed bytes to every healthy endpoint; the first acceptance is the answer."""
        answers: list[RPCResponse] = []
        errors: list[RpcError] = []
        for i in self._healthy():
            if self.health[i].chain_id is None and self._chain_id(i, self.endpoints[i]) is None:
                continue
            try:
                answers.append(self.endpoints[i].make_request(method, params))
                self._ok(i)
            except RpcError as exc:
                self._failed(i, exc)
                errors.append(exc)
        self._agree()
        accepted = [a for a in answers if "result" in a]
        if accepted:
            return accepted[0]
        if answers:
            return answers[0]
        raise errors[0] if errors else RpcError("no RPC endpoint to send to")

    def _highest(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """The highest pending transaction count any healthy endpoint reports (one may not know a tx yet)."""
        best: RPCResponse | None = None
        errors: list[RpcError] = []
        for i in self._healthy():
            try:
                answer = self.endpoints[i].make_request(method, params)
            except RpcError as exc:
                self._failed(i, exc)
                errors.append(exc)
                continue
            self._ok(i)
            if "result" in answer and (best is None or int(str(answer["result"]), 16) > int(str(best["result"]), 16)):
                best = answer
        if best is not None:
            return best
        return self._read(lambda e: e.make_request(method, params)) if not errors else _raise(errors)


def _raise(errors: list[RpcError]) -> RPCResponse:
    if len(errors) == 1:
        raise errors[0]
    raise RpcError("no RPC endpoint answered: " + "; ".join(str(x) for x in errors))


def pool_of(provider: Any) -> EndpointPool | None:
    return provider if isinstance(provider, EndpointPool) else None
