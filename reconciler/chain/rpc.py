"""JSON-RPC batches over web3's HTTP provider, with a count of HTTP round trips.

The chain reader queues every read of one step into a batch and sends it as ONE HTTP request, so the
number of round trips does not grow with the number of models and bids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak
from eth_utils.abi import get_abi_input_types, get_abi_output_types
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from reconciler import EndpointUnusable

MAX_BATCH = 1000


class RpcError(EndpointUnusable):
    """A read failed; the message never holds the RPC URL (it may embed an API key)."""


class CountingHTTPProvider(HTTPProvider):
    """An HTTPProvider that counts HTTP requests (single calls and batches alike)."""

    round_trips: int = 0

    def make_request(self, method: RPCEndpoint, params: Any) -> Any:
        self.round_trips += 1
        return super().make_request(method, params)

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        self.round_trips += 1
        return super().make_batch_request(batch_requests)


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


@dataclass
class Batch:
    """Queue reads, then `run()` sends them as one JSON-RPC batch (chunked at MAX_BATCH)."""

    w3: Web3
    items: list[_Item] = field(default_factory=list)
    defer_errors: bool = False  # True: failed reads come back as RpcError values, checked by `value()`

    def add(self, method: str, params: list[Any], decode: Callable[[Any], Any] = lambda r: r, label: str = "") -> int:
        self.items.append(_Item(method, params, decode, label or method))
        return len(self.items) - 1

    def call(self, contract: Contract, fn: str, args: list[Any], block: int | str, label: str = "") -> int:
        selector, in_types, types = _signature(contract, fn)
        codec = self.w3.codec
        data = "0x" + (selector + codec.encode(in_types, args)).hex()

        def decode(result: Any) -> Any:
            raw = bytes.fromhex(str(result).removeprefix("0x"))
            if not raw:
                raise RpcError(f"{label or fn}: empty answer (no contract code, or it does not implement {fn})")
            values = codec.decode(types, raw)
            return values[0] if len(values) == 1 else values

        block_param = hex(block) if isinstance(block, int) else block
        return self.add("eth_call", [{"to": contract.address, "data": data}, block_param], decode, label or fn)

    def run(self) -> list[Any]:
        if not self.items:
            return []
        provider = self.w3.provider
        out: list[Any] = []
        for start in range(0, len(self.items), MAX_BATCH):
            chunk = self.items[start : start + MAX_BATCH]
            try:
                responses = provider.make_batch_request([(RPCEndpoint(i.method), i.params) for i in chunk])  # type: ignore[attr-defined]
            except Exception as exc:  # connection refused, timeouts: say what, never where
                raise RpcError(f"the RPC node did not answer ({type(exc).__name__})") from None
            if not isinstance(responses, list):
                message = responses.get("error", {}).get("message", "error") if isinstance(responses, dict) else "?"
                raise RpcError(f"the RPC node refused the batch: {message}")
            for item, resp in zip(chunk, responses, strict=True):
                out.append(_decode(item, resp))
        self.items = []
        failed = next((x for x in out if isinstance(x, RpcError)), None)
        if failed is not None and not self.defer_errors:
            raise failed
        return out


def _decode(item: _Item, resp: Any) -> Any:
    if "error" in resp:
        return RpcError(f"{item.label}: {resp['error'].get('message', 'error')}")
    try:
        return item.decode(resp.get("result"))
    except RpcError as exc:
        return exc
    except Exception as exc:
        return RpcError(f"{item.label}: cannot decode the answer ({type(exc).__name__})")


def value(result: Any) -> Any:
    """A batch result, raising the read's RpcError when it failed."""
    if isinstance(result, RpcError):
        raise result
    return result
