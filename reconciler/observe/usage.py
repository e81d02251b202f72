"""What the forwarder measured per model, read from its Prometheus `/metrics`: tokens by type and seconds served.

The forwarder counts `morpheus_proxy_tokens_total` (labels `model`, `model_id`, `type`: prompt, completion,
cached, cache_write) and `morpheus_proxy_served_seconds_total` (`model`, `model_id`) since it started; margins
(reconciler.market.margin) turn them into cost. Pure: the samples come from the one fetch of `/metrics`
(reconciler.observe.slots).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction

from reconciler.market.ids import norm_hex
from reconciler.market.margin import Usage
from reconciler.observe.prometheus import MetricSample

TOKENS = "morpheus_proxy_tokens_total"
SERVED = "morpheus_proxy_served_seconds_total"
_FIELDS = {"prompt": "prompt", "completion": "completion", "cached": "cached", "cache_write": "cache_write"}


def usage_of(samples: Iterable[MetricSample]) -> dict[str, Usage]:
    """Pure: the forwarder's counters per model id (lower 0x hex); samples without a model id (a forwarder
    older than these labels) or with a value that is not a finite non-negative number are left out."""
    out: dict[str, Usage] = {}
    for s in samples:
        if s.name not in (TOKENS, SERVED):
            continue
        model_id = s.labels.get("model_id")
        if not model_id or not math.isfinite(s.value) or s.value < 0:
            continue
        mid = norm_hex(model_id)
        u = out.get(mid, Usage())
        if s.name == SERVED:
            out[mid] = replace(u, seconds=u.seconds + Fraction(round(s.value * 1000), 1000))
        elif (field := _FIELDS.get(s.labels.get("type", ""))) is not None:
            out[mid] = replace(u, **{field: getattr(u, field) + int(s.value)})
    return out
