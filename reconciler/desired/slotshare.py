"""`concurrentSlots: auto`: an upstream account's concurrency shared among the models on it, in whole slots.

Why: the proxy-router counts capacity per process, so an account resold by several hosts is over-promised as
soon as each host declares the account's whole concurrency. Sharing it by a declared weight keeps the sum at
the account's limit. The rule: every model first gets one slot; what is left is shared in proportion to the
weights by largest remainder (Hamilton's method): each gets the whole part of its exact share, and the slots
still left go one each to the largest fractional parts. A tie goes to the larger weight, then to the earlier
model (the order given: fleet.yaml's order of providers, then each provider's files' order).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def share_slots(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """`total` slots among models of these weights (each >= 1), in the same order; their sum is `total`.
    ValueError when there are more models than slots (each needs at least one)."""
    n = len(weights)
    if n == 0:
        return ()
    if any(w < 1 for w in weights):
        raise ValueError("every weight must be a positive integer")
    if n > total:
        raise ValueError(f"{n} models but only {total} slots: each needs at least 1")
    rest = total - n
    whole = sum(weights)
    exact = [Fraction(rest * w, whole) for w in weights]
    slots = [1 + int(q) for q in exact]  # int() of a non-negative Fraction is its floor
    left = total - sum(slots)
    order = sorted(range(n), key=lambda i: (-(exact[i] - int(exact[i])), -weights[i], i))
    for i in order[:left]:
        slots[i] += 1
    return tuple(slots)
