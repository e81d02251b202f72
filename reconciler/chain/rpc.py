"""Batched reads: queue the reads of one step, send them as one JSON-RPC batch, decode each answer.

The chain reader queues every read of one step into a batch, so the number of round trips does not grow
with the number of models and bids. The endpoint client (`chain/endpoint.py`) splits a batch the endpoint
finds too large and retries what may be retried; this module splits `eth_getLogs` ranges, which only the
reader of a range can do: windows no wider than the endpoint allows, halved again when it refuses a range or
a result count. `connect()` is the one way every command reaches a chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak
from eth_utils.abi import get_abi_input_types, get_abi_output_types
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from reconciler.chain.endpoint import EndpointProvider, Learned, RpcError, limit_in
from reconciler.chain.pool import EndpointPool

__all__ = ["Batch", "RpcError", "UndecodableAnswer", "connect", "connect_all", "value"]

_LOG_REFUSAL = re.compile(
    r"block range|range (is )?too (large|wide|big)|blocks? range|more than \d+ results|too many results|"
    r"query timeout|timed? ?out|response size|limit exceeded|exceed(s|ed)? .*range",
    re.I,
)


class UndecodableAnswer(RpcError):
    """The node answered a read, but not as the ABI says: no transport failure, so "is the devnet running?" is
    not the question to ask (what others wrote is read by `chain/structs.py`, which never fails this way)."""


def connect(url: str, label: str, timeout: float = 30.0) -> Web3:
    """A Web3 on the adaptive endpoint client; `label` (never the URL) is what its errors name."""
    return connect_all([(url, label)], timeout)


def connect_all(endpoints: Sequence[tuple[str, str]], timeout: float = 30.0) -> Web3:
    """A Web3 on a pool of one or more endpoints of one chain, given as (URL, label) (`chain/pool.py`)."""
    return Web3(EndpointPool([EndpointProvider(url, label, timeout) for url, label in endpoints]))


def endpoint_of(w3: Web3) -> EndpointPool | EndpointProvider | None:
    p = w3.provider
    return p if isinstance(p, (EndpointPool, EndpointProvider)) else None


_SIGNATURES: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}


def _signature(contract: Contract, fn: str) -> tuple[bytes, list[str], list[str]]:
    """(selector, input types, output types) of a function, computed once (web3's encode_abi re-validates
    the whole ABI on every call, which dominated planning time)."""
    key = (str(contract.address), fn)
    if key not in _SIGNATURES:
        fn_abi = contract.get_function_by_name(fn).abi
        ins = get_abi_input_types(fn_abi)
        selector = keccak(text=f"{fn}({','.join(ins)})")[:4]
        _SIGNATURES[key] = (selector, ins, get_abi_output_types(fn_abi))
    return _SIGNATURES[key]


@dataclass
class _Item:
    method: str
    params: list[Any]
    decode: Callable[[Any], Any]
    label: str
    span: tuple[int, int] | None = None  # eth_getLogs: the blocks asked for, both ends included


@dataclass
class Batch:
    """Queue reads, then `run()` sends them as one JSON-RPC batch (the endpoint client splits it if needed)."""

    w3: Web3
    items: list[_Item] = field(default_factory=list)
    defer_errors: bool = False  # True: failed reads come back as RpcError values, checked by `value()`

    def add(self, method: str, params: list[Any], decode: Callable[[Any], Any] = lambda r: r, label: str = "") -> int:
        self.items.append(_Item(method, params, decode, label or method))
        return len(self.items) - 1

    def logs(self, query: dict[str, Any], lo: int, hi: int, label: str = "") -> int:
        """eth_getLogs over blocks [lo, hi]: one result (every log, in order), however the range is split."""
        self.items.append(_Item("eth_getLogs", [query], lambda r: r, label or f"logs {lo}..{hi}", (lo, hi)))
        return len(self.items) - 1

    def call(
        self, contract: Contract, fn: str, args: list[Any], block: int | str, label: str = "", raw: bool = False
    ) -> int:
        """An eth_call of `fn`, decoded by the ABI, or (`raw`) its answer's bytes for a lenient reader of what
        others wrote (`chain/structs.py`)."""
        selector, in_types, types = _signature(contract, fn)
        codec = self.w3.codec
        data = "0x" + (selector + codec.encode(in_types, args)).hex()

        def decode(result: Any) -> Any:
            data = bytes.fromhex(str(result).removeprefix("0x"))
            if not data:
                raise RpcError(f"{label or fn}: empty answer (no contract code, or it does not implement {fn})")
            if raw:
                return data
            values = codec.decode(types, data)
            return values[0] if len(values) == 1 else values

        block_param = hex(block) if isinstance(block, int) else block
        return self.add("eth_call", [{"to": contract.address, "data": data}, block_param], decode, label or fn)

    def run(self) -> list[Any]:
        if not self.items:
            return []
        items, self.items = self.items, []
        answers = _fetch(self.w3, items)
        out = [_decode(item, resp) for item, resp in zip(items, answers, strict=True)]
        failed = next((x for x in out if isinstance(x, RpcError)), None)
        if failed is not None and not self.defer_errors:
            raise failed
        return out


def _fetch(w3: Web3, items: list[_Item]) -> list[Any]:
    """The raw answer of every item; a log item's answer gathers its windows' logs (or its first error)."""
    provider = w3.provider
    learned = provider.learned if isinstance(provider, (EndpointPool, EndpointProvider)) else Learned()
    # every request of a round: (item index, window); plain items have window None
    windows: dict[int, list[tuple[int, int]]] = {
        k: _windows(item.span, learned.log_range) for k, item in enumerate(items) if item.span is not None
    }
    got: dict[tuple[int, tuple[int, int] | None], Any] = {}
    todo: list[tuple[int, tuple[int, int] | None]] = [(k, None) for k, it in enumerate(items) if it.span is None]
    todo += [(k, w) for k, ws in windows.items() for w in ws]
    while todo:
        requests = []
        for k, w in todo:
            item = items[k]
            params = item.params if w is None else [{**item.params[0], "fromBlock": hex(w[0]), "toBlock": hex(w[1])}]
            requests.append((RPCEndpoint(item.method), params))
        try:
            responses = provider.make_batch_request(requests)  # type: ignore[attr-defined]
        except RpcError:
            raise
        except Exception as exc:  # a provider other than ours: say what, never where
            raise RpcError(f"the RPC node did not answer ({type(exc).__name__})") from None
        if not isinstance(responses, list):
            raise RpcError(f"the RPC node refused the batch: {_error_text(responses)}")
        again: list[tuple[int, tuple[int, int] | None]] = []
        for (k, w), resp in zip(todo, responses, strict=True):
            message = _error_text(resp) if isinstance(resp, dict) and "error" in resp else ""
            if w is not None and message and _LOG_REFUSAL.search(message) and w[1] > w[0]:
                limit = limit_in(message) if re.search(r"block|range", message, re.I) else None
                width = w[1] - w[0] + 1
                smaller = limit if limit is not None and limit < width else max(width // 2, 1)
                if "range" in message.lower():  # the span was refused (not the density): remember it
                    learned.log_range = min(learned.log_range, smaller)
                parts = _windows(w, smaller)
                if isinstance(provider, EndpointPool):
                    provider.current.stats.log_splits += 1
                elif isinstance(provider, EndpointProvider):
                    provider.stats.log_splits += 1
                ws = windows[k]
                at = ws.index(w)
                windows[k] = ws[:at] + parts + ws[at + 1 :]
                again += [(k, p) for p in parts]
            else:
                got[(k, w)] = resp
        todo = again
    out: list[Any] = []
    for k, item in enumerate(items):
        if item.span is None:
            out.append(got[(k, None)])
            continue
        pieces = [got[(k, w)] for w in windows[k]]
        failed = next((r for r in pieces if "error" in r), None)
        out.append(failed or {"result": [log for r in pieces for log in (r.get("result") or [])]})
    return out


def _windows(span: tuple[int, int] | None, width: int) -> list[tuple[int, int]]:
    assert span is not None
    lo, hi = span
    width = max(width, 1)
    return [(s, min(s + width - 1, hi)) for s in range(lo, hi + 1, width)]


def _error_text(resp: Any) -> str:
    if isinstance(resp, dict) and isinstance(resp.get("error"), dict):
        return str(resp["error"].get("message", "error"))
    return "error"


def _decode(item: _Item, resp: Any) -> Any:
    if "error" in resp:
        return RpcError(f"{item.label}: {_error_text(resp)}")
    try:
        return item.decode(resp.get("result"))
    except RpcError as exc:
        return exc
    except Exception as exc:
        return UndecodableAnswer(f"{item.label}: cannot decode the answer ({type(exc).__name__})")


def value(result: Any) -> Any:
    """A batch result, raising the read's RpcError when it failed."""
    if isinstance(result, RpcError):
        raise result
    return result
