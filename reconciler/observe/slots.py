"""The forwarder's slots in use, read from its Prometheus `/metrics` on the admin plane.

The forwarder exports `morpheus_proxy_in_flight` and `morpheus_proxy_capacity` gauges per model (labels
`model`, `model_id`); `reconcile status` shows them as "in use / limit". Reading the gauges is pure; fetching
never raises: an unreachable forwarder gives a reading with a note, which status prints as "unknown".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.market.ids import norm_hex
from reconciler.market.margin import Usage
from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin
from reconciler.observe.prometheus import MetricSample, parse
from reconciler.observe.usage import usage_of

IN_FLIGHT = "morpheus_proxy_in_flight"
CAPACITY = "morpheus_proxy_capacity"


@dataclass(frozen=True)
class Slots:
    in_flight: int
    limit: int  # 0 = unlimited

    def text(self) -> str:
        return f"{self.in_flight}/{self.limit if self.limit else 'unlimited'}"


@dataclass(frozen=True)
class SlotsReading:
    """Slots per model id (lower 0x hex); `known` is False when the forwarder could not be read."""

    known: bool
    by_model: Mapping[str, Slots] = field(default_factory=dict)
    note: str = ""
    usage: Mapping[str, Usage] = field(default_factory=dict)  # what it measured since it started (observe.usage)


def slots_of(samples: Iterable[MetricSample]) -> dict[str, Slots]:
    """Pure: the in-flight and capacity gauges among an exposition's samples, per model id."""
    in_flight: dict[str, int] = {}
    capacity: dict[str, int] = {}
    for s in samples:
        model_id = s.labels.get("model_id")
        if s.name not in (IN_FLIGHT, CAPACITY) or not model_id or not math.isfinite(s.value):
            continue
        (in_flight if s.name == IN_FLIGHT else capacity)[norm_hex(model_id)] = int(s.value)
    return {mid: Slots(in_flight.get(mid, 0), capacity.get(mid, 0)) for mid in in_flight.keys() | capacity.keys()}


def parse_metrics(text: str) -> dict[str, Slots]:
    """Pure: the slots of a Prometheus text exposition, per model id."""
    return slots_of(parse(text))


def read_slots(
    admin_url: str | None, token: str | None, timeout: float = 5.0, trusted: frozenset[str] = frozenset()
) -> SlotsReading:
    """GET {adminUrl}/metrics (with the admin token when there is one: needed off loopback; sent only to loopback
    or a host in `trusted`, else the reading is "not checked")."""
    if not admin_url:
        return SlotsReading(False, note="proxy.adminUrl is not set")
    try:
        samples = ForwarderAdmin(admin_url, token, trusted).metrics(timeout)
    except AdminCallFailed as exc:
        return SlotsReading(False, note=str(exc))
    return SlotsReading(True, slots_of(samples), usage=usage_of(samples))
