"""What the forwarder's usage accounting costs per request (issue 31), next to what it cost before. Not a test.

Times, in one process, the accounting a request does when it ends: counting an answer's usage (before: prompt
and completion by model name; now: by model and model id, with the prompt tokens read from and written to the
upstream's cache) and adding the seconds the upstream request was open. The hot path's end-to-end A/B is
bench/ab_hotpath.py; this isolates the lines that changed, which the A/B cannot resolve on a shared box.

    .venv/bin/python bench/usage_accounting.py
"""

from __future__ import annotations

import asyncio
import timeit
from types import SimpleNamespace
from typing import Any

from proxy.hop import Trip
from proxy.metrics import Metrics

N = 200_000
OPENAI = {"prompt_tokens": 812, "completion_tokens": 256, "total_tokens": 1068}
CACHED = {**OPENAI, "prompt_tokens_details": {"cached_tokens": 512, "cache_write_tokens": 0}}


def before(trip: Any, usage: Any) -> None:
    """The accounting as it was: prompt and completion tokens by model name."""
    if isinstance(usage, dict):
        for kind in ("prompt_tokens", "completion_tokens"):
            n = usage.get(kind)
            if isinstance(n, int) and n > 0:
                tokens = trip.hop.state.metrics.tokens
                tokens.inc((("model", trip.route.model_name), ("type", kind.split("_")[0])), n)


def main() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    metrics = Metrics()
    route = SimpleNamespace(model_name="gpt-x", labels=(("model", "gpt-x"), ("model_id", "0x" + "ab" * 32)))
    trip: Any = SimpleNamespace(hop=SimpleNamespace(state=SimpleNamespace(metrics=metrics)), route=route)

    def ended() -> None:  # what Trip.end adds: the seconds an upstream request was open
        served = loop.time() - 1.0
        metrics.served_seconds.inc(route.labels, served)

    def per_call_ns(fn: Any) -> float:
        return min(timeit.repeat(fn, number=N, repeat=5)) / N * 1e9

    old = per_call_ns(lambda: before(trip, OPENAI))
    new = per_call_ns(lambda: Trip.count_usage(trip, OPENAI))
    new_cached = per_call_ns(lambda: Trip.count_usage(trip, CACHED))
    served = per_call_ns(ended)
    print(f"count usage, before (prompt, completion by name)    {old:7.0f} ns per request")
    print(f"count usage, now (by model id)                      {new:7.0f} ns per request")
    print(f"count usage, now, with cached tokens reported       {new_cached:7.0f} ns per request")
    print(f"seconds served (Trip.end)                            {served:7.0f} ns per request")
    print(f"added per request: {new - old + served:.0f} ns (without cache details), "
          f"{new_cached - old + served:.0f} ns (with)")  # fmt: skip
    loop.close()


if __name__ == "__main__":
    main()
