"""The one parser of the Prometheus text exposition the forwarder serves on its admin plane (`/metrics`).

Why one: `reconcile status` reads the slot gauges from it and the status page the counters and the latency
histogram; both read the same lines the same way. Pure: comments, blank and foreign lines are skipped, label
values are unescaped, a value that is not a number drops its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class MetricSample:
    """One line of the exposition: a metric's name, its labels and its value."""

    name: str
    labels: Mapping[str, str]
    value: float


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse(text: str) -> list[MetricSample]:
    """Pure: every sample line of an exposition, in order."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        try:
            value = float(m["value"])
        except ValueError:
            continue
        out.append(MetricSample(m["name"], {k: _unescape(v) for k, v in _LABEL.findall(m["labels"] or "")}, value))
    return out
