"""Which blocks carry a given timestamp: a search over block timestamps, every search in lockstep.

A fact only a log holds (the transaction that registered a model) is found where it can be: the model's
`createdAt` is its registering block's timestamp, so a few block headers narrow the search to a window of
WINDOW blocks and one narrow `eth_getLogs` finds it, instead of a scan of the whole chain.

Each round probes one block per unresolved timestamp (two once a block with that very timestamp is found, to
bracket the run of blocks that share it), all in one batch, and every probe serves every search. The probe is
interpolated between the known timestamps around the target (block times are nearly regular, so a real chain
answers in a few rounds) with a bisection every third round, which bounds the worst case. Blocks below the
chain's first block ("earliest": a node or devnet started at a height) are answered null and count as older.
"""

from __future__ import annotations

from collections.abc import Iterable

from web3 import Web3

from reconciler.chain.rpc import Batch

WINDOW = 1_000  # blocks: the widest range handed to eth_getLogs (narrower endpoints split it)
MAX_ROUNDS = 80


def blocks_at(
    w3: Web3, times: Iterable[int], head: int, head_ts: int, window: int = WINDOW
) -> dict[int, tuple[int, int]]:
    """For each timestamp, blocks [lo, hi] (about `window` wide, wider only by a run of blocks sharing that
    timestamp) holding every block with it."""
    wanted = sorted(set(times))
    if not wanted:
        return {}
    known: dict[int, int | None] = {head: head_ts}
    b = Batch(w3)
    b.add("eth_getBlockByNumber", ["earliest", False], label="earliest block")
    earliest = b.run()[0]
    first = int(earliest["number"], 16) if earliest else 0
    if earliest:
        known[first] = int(earliest["timestamp"], 16)
    steps = dict.fromkeys(wanted, 0)
    for _ in range(MAX_ROUNDS):
        probes: set[int] = set()
        for t in wanted:
            new = _probes(t, known, first, head, steps[t], window) - set(known)
            if new:
                steps[t] += 1
                probes |= new
        if not probes:
            break
        b = Batch(w3)
        order = sorted(probes)
        for p in order:
            b.add("eth_getBlockByNumber", [hex(p), False], label=f"block {p}")
        for p, blk in zip(order, b.run(), strict=True):
            known[p] = int(blk["timestamp"], 16) if blk else None
    return {t: _window(t, known, first, head) for t in wanted}


def _bracket(t: int, known: dict[int, int | None], first: int, head: int) -> tuple[int, int, list[int]]:
    """(a, b, equal): the newest block known older than t, the oldest known newer, those known at t."""
    a, b, equal = first - 1, head + 1, []
    for block, ts in known.items():
        if ts is None or ts < t:
            a = max(a, block)
        elif ts > t:
            b = min(b, block)
        else:
            equal.append(block)
    return a, b, sorted(equal)


def _probes(t: int, known: dict[int, int | None], first: int, head: int, step: int, window: int) -> set[int]:
    a, b, equal = _bracket(t, known, first, head)
    half = window // 2
    if equal:  # bracket the run of blocks at t from both sides
        out = set()
        if equal[0] - a - 1 > half:
            out.add(max(equal[0] - half, a + 1))
        if b - equal[-1] - 1 > half:
            out.add(min(equal[-1] + half, b - 1))
        return out
    if b - a - 1 <= window:
        return set()
    ts_a, ts_b = known.get(a), known.get(b)
    if step % 3 != 2 and ts_a is not None and ts_b is not None and ts_b > ts_a:
        p = a + (t - ts_a) * (b - a) // (ts_b - ts_a)
    else:
        p = (a + b) // 2
    return {min(max(p, a + 1), b - 1)}


def _window(t: int, known: dict[int, int | None], first: int, head: int) -> tuple[int, int]:
    a, b, _ = _bracket(t, known, first, head)
    return max(a + 1, first, 0), min(b - 1, head)
