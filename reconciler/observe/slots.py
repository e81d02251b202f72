"""The forwarder's slots in use, read from its Prometheus `/metrics` on the admin plane.

The forwarder exports `morpheus_proxy_in_flight` and `morpheus_proxy_capacity` gauges per model (labels
`model`, `model_id`); `reconcile status` shows them as "in use / limit". Parsing is pure; fetching never
raises: an unreachable forwarder gives a reading with a note, which status prints as "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from reconciler.market.ids import norm_hex

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
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


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_metrics(text: str) -> dict[str, Slots]:
    """Pure: the in-flight and capacity gauges of a Prometheus text exposition, per model id."""
    in_flight: dict[str, int] = {}
    capacity: dict[str, int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None or m["name"] not in (IN_FLIGHT, CAPACITY):
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m["labels"] or "")}
        model_id = labels.get("model_id")
        if not model_id:
            continue
        try:
            number = int(float(m["value"]))
        except ValueError:
            continue
        (in_flight if m["name"] == IN_FLIGHT else capacity)[norm_hex(model_id)] = number
    return {mid: Slots(in_flight.get(mid, 0), capacity.get(mid, 0)) for mid in in_flight.keys() | capacity.keys()}


def read_slots(admin_url: str | None, token: str | None, timeout: float = 5.0) -> SlotsReading:
    """GET {adminUrl}/metrics (with the admin token when there is one: needed off loopback)."""
    if not admin_url:
        return SlotsReading(False, note="proxy.adminUrl is not set")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(admin_url.rstrip("/") + "/metrics", headers=headers, timeout=timeout)
        r.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return SlotsReading(False, note=f"forwarder /metrics answered {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return SlotsReading(False, note=f"forwarder /metrics unreachable ({type(exc).__name__})")
    return SlotsReading(True, parse_metrics(r.text))
