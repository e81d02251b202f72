"""Finding the blocks at a timestamp on a real anvil: a chain started at a height, regular and irregular block
times, runs of blocks sharing one timestamp; every window holds every block at its timestamp, few headers read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from reconciler.chain.blocktime import blocks_at
from reconciler.chain.endpoint import EndpointProvider
from reconciler.devnet.anvil import Anvil

START = 1_000_000
WINDOW = 50  # small, so a short chain (mining is slow) still needs a real search


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Web3, Web3]]:
    """(direct, through the endpoint client): 600 blocks 2 s apart, then 300 blocks in one second, then 400
    blocks 12 s apart, on a chain whose first block is START."""
    with Anvil(start_block=START) as node:
        direct = Web3(Web3.HTTPProvider(node.rpc_url))
        direct.provider.make_request("anvil_mine", [hex(600), hex(2)])  # type: ignore[arg-type]
        direct.provider.make_request("anvil_mine", [hex(300), hex(0)])  # type: ignore[arg-type]
        direct.provider.make_request("anvil_mine", [hex(400), hex(12)])  # type: ignore[arg-type]
        yield direct, Web3(EndpointProvider(node.rpc_url, "test"))


def _blocks_with(direct: Web3, ts: int, around: int) -> list[int]:
    """Every block at timestamp ts, walking out from one known to have it."""
    out = [around]
    for step in (-1, 1):
        n = around + step
        while START <= n <= direct.eth.block_number and direct.eth.get_block(n)["timestamp"] == ts:
            out.append(n)
            n += step
    return sorted(out)


def test_windows_hold_every_block_at_the_timestamp_and_cost_a_few_headers(chain: tuple[Web3, Web3]) -> None:
    direct, w3 = chain
    head = direct.eth.get_block("latest")
    targets = [START + 1, START + 234, START + 599, START + 750, START + 1_100, head["number"] - 1]
    times = {direct.eth.get_block(n)["timestamp"]: n for n in targets}
    p = w3.provider
    assert isinstance(p, EndpointProvider)
    windows = blocks_at(w3, times, head["number"], head["timestamp"], WINDOW)
    for ts, n in times.items():
        lo, hi = windows[ts]
        at = _blocks_with(direct, ts, n)
        assert lo <= at[0] and at[-1] <= hi, (ts, n, lo, hi, at[0], at[-1])
        assert hi - lo + 1 <= max(WINDOW, len(at) + WINDOW), (ts, lo, hi)
    assert p.stats.calls <= 8 * len(times), p.stats.calls  # interpolation: a few headers per timestamp
    assert p.stats.round_trips <= 20


def test_a_chain_with_nothing_below_its_first_block(chain: tuple[Web3, Web3]) -> None:
    """Blocks below START do not exist (null): the search starts from "earliest", not from block 0."""
    direct, w3 = chain
    head = direct.eth.get_block("latest")
    first = direct.eth.get_block(START + 3)
    assert (
        direct.eth.get_block_number() > START
        and direct.provider.make_request(  # type: ignore[arg-type]
            "eth_getBlockByNumber", [hex(START - 1), False]
        )["result"]
        is None
    )
    lo, hi = blocks_at(w3, [first["timestamp"]], head["number"], head["timestamp"], WINDOW)[first["timestamp"]]
    assert lo >= START and lo <= START + 3 <= hi
