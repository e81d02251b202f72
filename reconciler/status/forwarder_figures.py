"""The forwarder as the status page shows it: slots in use, requests and errors per minute, latency p50 per model,
from samples of its Prometheus `/metrics` taken in the background.

Why samples: rates and a recent p50 need two readings apart in time, and a page load must not wait on the
forwarder. A small thread reads `/metrics` (through reconciler.observe.forwarder_admin) every few seconds into a
short ring; the figures are computed from the ring by pure functions (the counters per model, then the difference
between the newest sample and the one about a minute older).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.market.ids import norm_hex
from reconciler.observe import prometheus
from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin
from reconciler.observe.prometheus import MetricSample

WINDOW = 60.0


@dataclass
class ModelCounters:
    name: str = ""
    requests: float = 0.0
    errors: float = 0.0  # answered with a status >= 500 (the upstream failed or timed out)
    in_flight: int = 0
    limit: int = 0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count of request durations


@dataclass(frozen=True)
class Sample:
    ts: float
    models: dict[str, ModelCounters]


def parse(text: str, ts: float) -> Sample:
    """Pure: the per-model counters of one `/metrics` exposition of the forwarder."""
    return counters(prometheus.parse(text), ts)


def counters(samples: Iterable[MetricSample], ts: float) -> Sample:
    """Pure: the per-model counters among an exposition's samples, taken at `ts`."""
    models: dict[str, ModelCounters] = {}
    for s in samples:
        labels = s.labels
        mid = labels.get("model_id")
        if not mid:
            continue
        c = models.setdefault(norm_hex(mid), ModelCounters())
        c.name = labels.get("model", c.name)
        if s.name == "morpheus_proxy_requests_total":
            c.requests += s.value
            if labels.get("status", "0").isdigit() and int(labels["status"]) >= 500:
                c.errors += s.value
        elif s.name == "morpheus_proxy_in_flight":
            c.in_flight = int(s.value)
        elif s.name == "morpheus_proxy_capacity":
            c.limit = int(s.value)
        elif s.name == "morpheus_proxy_request_duration_seconds_bucket" and labels.get("le") not in (None, "+Inf"):
            c.buckets[float(labels["le"])] = s.value
    return Sample(ts, models)


def _p50(buckets: dict[float, float]) -> float | None:
    """The median from cumulative histogram buckets (linear within the bucket), in seconds."""
    bounds = sorted(buckets)
    total = max(buckets.values(), default=0.0)
    if total <= 0:
        return None
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= total / 2:
            span = buckets[b] - prev_count
            frac = (total / 2 - prev_count) / span if span > 0 else 1.0
            return prev_bound + (b - prev_bound) * frac
        prev_bound, prev_count = b, buckets[b]
    return bounds[-1] if bounds else None


def figures(samples: list[Sample], window: float = WINDOW) -> list[dict[str, Any]]:
    """Pure: per model, slots now, requests and errors per minute and p50 over the last `window` seconds (or
    since the oldest sample when the ring is younger)."""
    if not samples:
        return []
    new = samples[-1]
    old = next((s for s in reversed(samples[:-1]) if new.ts - s.ts >= window), samples[0])
    minutes = (new.ts - old.ts) / 60.0
    out = []
    for mid, c in sorted(new.models.items(), key=lambda kv: kv[1].name):
        before = old.models.get(mid, ModelCounters()) if old is not new else None
        rate = None
        p50 = None
        if before is not None and minutes > 0:
            rate = (
                max(c.requests - before.requests, 0.0) / minutes,
                max(c.errors - before.errors, 0.0) / minutes,
            )
            delta = {b: max(v - before.buckets.get(b, 0.0), 0.0) for b, v in c.buckets.items()}
            p50 = _p50(delta)
        out.append(
            {
                "modelId": mid,
                "name": c.name,
                "inFlight": c.in_flight,
                "limit": c.limit,
                "requestsPerMinute": None if rate is None else round(rate[0], 2),
                "errorsPerMinute": None if rate is None else round(rate[1], 2),
                "latencyP50Ms": None if p50 is None else round(p50 * 1000, 1),
            }
        )
    return out


class Sampler:
    """Reads the forwarder's `/metrics` every `every` seconds into a ring, in a daemon thread; never raises."""

    def __init__(self, every: float = 5.0, keep: int = 64) -> None:
        self.every = every
        self.samples: deque[Sample] = deque(maxlen=keep)
        self.note = "forwarder not configured (proxy.adminUrl)"
        self._target: ForwarderAdmin | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a new target is read at once
        self._thread = threading.Thread(target=self._run, name="watch-forwarder-sampler", daemon=True)

    def target(self, admin: ForwarderAdmin | None) -> None:
        """Where to read (set by each run from the desired state); the token stays in memory only."""
        with self._lock:
            if admin != self._target:
                self.samples.clear()
                self._wake.set()
            self._target = admin

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def snapshot(self) -> tuple[list[Sample], str]:
        with self._lock:
            return list(self.samples), self.note

    def sample_once(self) -> None:
        with self._lock:
            target = self._target
        if target is None:
            return
        try:
            samples = target.metrics(timeout=3.0)
        except AdminCallFailed as exc:
            with self._lock:
                self.note = str(exc)
            return
        with self._lock:
            self.samples.append(counters(samples, time.time()))
            self.note = ""

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._wake.wait(self.every)
            self._wake.clear()
