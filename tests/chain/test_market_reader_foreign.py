"""read_markets against what others wrote and what a node may answer (issue 31, hostile inputs), on a real loopback
JSON-RPC server that answers the Marketplace's reads from a table: a bid whose provider never registered (stake 0,
still scored), a deleted bid still listed and a bid of another model listed (both left out), a bid listed twice
(read once), a total of 2**256 - 1 bids (read up to the cap, the rest counted), and answers that are not the
struct (a clear MarketUnreadable, never another exception)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_abi import encode
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.market_reader import MarketUnreadable, read_markets
from reconciler.chain.rpc import connect_all
from reconciler.market.rating import NO_PROVIDER_STATS
from tests.support.ports import free_port

DIAMOND = "0x" + "d1" * 20
MODEL = "0x" + "11" * 32
OTHER_MODEL = "0x" + "22" * 32
MOR = 10**18
ABI = load_artifact("Marketplace").abi
BID = "(address,bytes32,uint256,uint256,uint128,uint128)"
PROVIDER = "(bytes,uint256,uint128,uint128,uint256,bool)"
Answer = Callable[[str, list[Any]], bytes]


def _bid(provider: str, model: str, price: int, deleted_at: int = 0) -> bytes:
    return encode([BID], [(provider, bytes.fromhex(model[2:]), price, 0, 1, deleted_at)])


def _provider(stake: int, registered: bool = True) -> bytes:
    return encode([PROVIDER], [(b"host:3333", stake, 1 if registered else 0, 0, 0, False)])


class _Node(BaseHTTPRequestHandler):
    answer: Answer

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        items = payload if isinstance(payload, list) else [payload]
        out = [self._one(item) for item in items]
        body = json.dumps(out if isinstance(payload, list) else out[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        method = item["method"]
        if method == "eth_chainId":
            result: Any = "0x7a69"
        elif method == "eth_blockNumber":
            result = "0x10"
        elif method == "eth_call":
            fn, args = CONTRACT.decode_function_input(item["params"][0]["data"])
            result = "0x" + type(self).answer(fn.fn_name, list(args.values())).hex()
        else:
            return {"jsonrpc": "2.0", "id": item["id"], "error": {"code": -32601, "message": "not here"}}
        return {"jsonrpc": "2.0", "id": item["id"], "result": result}

    def log_message(self, *args: object) -> None:
        pass


CONTRACT = Web3().eth.contract(address=Web3.to_checksum_address(DIAMOND), abi=ABI)


@pytest.fixture
def node() -> Iterator[Callable[[Answer], Web3]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> Web3:
        handler = type("Node", (_Node,), {"answer": staticmethod(answer)})
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return connect_all([(f"http://127.0.0.1:{server.server_address[1]}", "stub")], timeout=10)

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


A, B, C, D = ("0x" + f"{n:02x}" * 20 for n in (0xA1, 0xB2, 0xC3, 0xD4))
BIDS = {
    bytes([n]) * 32: bid for n, bid in enumerate([(A, MODEL, 0), (B, MODEL, 0), (C, MODEL, 9), (D, OTHER_MODEL, 0)], 1)
}


def _market(fn: str, args: list[Any], total: int = 4, listed: list[bytes] | None = None) -> bytes:
    if fn == "getProviderMinimumStake":
        return encode(["uint256"], [MOR // 5])
    if fn == "getModelActiveBids":
        ids = listed if listed is not None else [*BIDS, bytes([1]) * 32]  # the first listed twice
        offset, limit = args[1], args[2]
        return encode(["bytes32[]", "uint256"], [ids[offset : offset + limit], total])
    if fn == "getModelStats":
        return encode(["((int64,int64),(int64,int64),(int64,int64),uint32)"], [((0, 0), (0, 0), (0, 0), 0)])
    if fn == "getBid":
        provider, model, deleted = BIDS[bytes(args[0])]
        return _bid(provider, model, MOR // 1000, deleted)
    if fn == "getProvider":
        return _provider(MOR, registered=args[0].lower() != B)  # B bids without being registered
    if fn == "getProviderModelStats":
        return encode(["((int64,int64),(int64,int64),uint32,uint32,uint32)"], [((0, 0), (0, 0), 0, 0, 0)])
    raise AssertionError(fn)


def test_foreign_bids_are_read_as_the_router_would_and_a_flood_is_capped(node: Callable[[Answer], Web3]) -> None:
    w3 = node(_market)
    market = w3.eth.contract(address=Web3.to_checksum_address(DIAMOND), abi=ABI)
    [got] = read_markets(w3, market, [MODEL], page=2).values()
    # A's and B's bids (B never registered: stake 0); C's deleted bid and D's bid on another model left out
    assert [(b.provider, b.stake) for b in got.bids] == [(A, MOR), (B, 0)]
    assert all(b.stats == NO_PROVIDER_STATS for b in got.bids) and got.unread == 0

    flood = node(lambda fn, args: _market(fn, args, total=2**256 - 1))  # a node claiming every bid there is
    [capped] = read_markets(flood, market, [MODEL], page=2, limit=4).values()
    assert [b.provider for b in capped.bids] == [A, B] and capped.unread == 2**256 - 1 - 4


@pytest.mark.parametrize("broken", ["getBid", "getProvider", "getProviderModelStats", "getModelStats", "cut"])
def test_an_answer_that_is_not_the_struct_is_a_clear_refusal(node: Callable[[Answer], Web3], broken: str) -> None:
    def answer(fn: str, args: list[Any]) -> bytes:
        if fn == broken:
            return b"\x00" * 7  # not a word
        if broken == "cut" and fn == "getModelActiveBids":
            return _market(fn, args)[:40]
        return _market(fn, args)

    w3 = node(answer)
    market = w3.eth.contract(address=Web3.to_checksum_address(DIAMOND), abi=ABI)
    with pytest.raises(MarketUnreadable, match=r"getBid|getProvider|getModel|answer"):
        read_markets(w3, market, [MODEL])


OURS = "0x" + "ee" * 20
OUR_BID = b"\xee" * 32


def test_our_own_bid_past_the_cap_is_still_read(node: Callable[[Answer], Web3]) -> None:
    """A stranger's flood listed before our bid must not hide it: our provider's active bids are read in the same
    round as the first pages, and ours is ranked even past the cap (the count of bids not read is one less)."""
    flood = [bytes([n]) * 32 for n in (1, 2, 3, 4)] + [bytes([0x40 + n]) * 32 for n in range(10)] + [OUR_BID]

    def answer(fn: str, args: list[Any]) -> bytes:
        if fn == "getModelActiveBids":
            return _market(fn, args, total=len(flood), listed=flood)
        if fn == "getProviderActiveBids":
            assert args[0].lower() == OURS
            return encode(["bytes32[]", "uint256"], [[OUR_BID], 1])
        if fn == "getBid" and bytes(args[0]) == OUR_BID:
            return _bid(OURS, MODEL, MOR // 500)
        if fn == "getBid" and bytes(args[0])[0] >= 0x40:
            return _bid("0x" + bytes(args[0])[:20].hex(), MODEL, MOR // 1000)
        return _market(fn, args)

    w3 = node(answer)
    market = w3.eth.contract(address=Web3.to_checksum_address(DIAMOND), abi=ABI)
    [got] = read_markets(w3, market, [MODEL], page=2, limit=4, ours=OURS).values()
    assert [b.provider for b in got.bids] == [A, B, OURS]  # the two read (C deleted, D another model's), and ours
    assert got.unread == len(flood) - 4 - 1
