"""A tiny Prometheus text-format registry (counters, gauges, histograms) with no dependency.

Updates are dict operations on the hot path; rendering happens only when /metrics is scraped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in items) + "}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Counter:
    def __init__(self, name: str, help_: str, kind: str = "counter") -> None:
        self.name, self.help, self.kind = name, help_, kind
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(labels)} {_num(v)}"


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_, buckets
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., then sum, then count

    def observe(self, labels: Labels, value: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.buckets):
            s[i] += 1
        s[-2] += value
        s[-1] += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, s in sorted(self.series.items()):
            cumulative = 0.0
            for i, bound in enumerate(self.buckets):
                cumulative += s[i]
                yield f"{self.name}_bucket{_fmt_labels(labels, (('le', _num(bound)),))} {_num(cumulative)}"
            yield f"{self.name}_bucket{_fmt_labels(labels, (('le', '+Inf'),))} {_num(s[-1])}"
            yield f"{self.name}_sum{_fmt_labels(labels)} {s[-2]!r}"
            yield f"{self.name}_count{_fmt_labels(labels)} {_num(s[-1])}"


class Metrics:
    """Every metric the forwarder exports; gauges that mirror live state are filled at scrape time."""

    def __init__(self) -> None:
        self.requests = Counter("morpheus_proxy_requests_total", "Requests answered, by model, kind and status.")
        self.latency = Histogram("morpheus_proxy_request_duration_seconds", "Request duration, accept to last byte.")
        self.ttfb = Histogram("morpheus_proxy_upstream_ttfb_seconds", "Upstream time to first byte.")
        self.overhead = Histogram(
            "morpheus_proxy_overhead_seconds",
            "Time inside the proxy before the upstream request is sent.",
            (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
        )
        self.rejections = Counter("morpheus_proxy_rejections_total", "Requests refused before forwarding, by reason.")
        self.upstream_errors = Counter("morpheus_proxy_upstream_errors_total", "Upstream failures, by model and kind.")
        self.tokens = Counter(
            "morpheus_proxy_tokens_total",
            "Tokens reported by upstreams, by model and type (prompt, completion; of the prompt tokens: cached "
            "read from the upstream's prompt cache, cache_write written to it).",
        )
        self.served_seconds = Counter(
            "morpheus_proxy_served_seconds_total",
            "Seconds an upstream request was open, by model (added when the request ends).",
        )
        self.job_polls = Counter(
            "morpheus_proxy_job_polls_total",
            "Image job polls relayed (they hold no slot of their own), by model and status.",
        )
        self.reloads = Counter("morpheus_proxy_config_reloads_total", "Config reload attempts, by trigger and result.")
        self.in_flight = Counter("morpheus_proxy_in_flight", "Requests holding a slot, by model.", "gauge")
        self.buffered_bytes = Counter(
            "morpheus_proxy_buffered_answer_bytes",
            "Bytes of buffered (non-stream) answers held now, all models (at most max_buffered_bytes).",
            "gauge",
        )
        self.answers_cut = Counter(
            "morpheus_proxy_answers_cut_total",
            "Buffered answers not written in full to their client, by model and reason "
            "(write_timeout, total_timeout, client_gone).",
        )
        self.capacity = Counter("morpheus_proxy_capacity", "Concurrent slots per model (0 = unlimited).", "gauge")
        self.config_info = Counter("morpheus_proxy_config_info", "The loaded config version (value 1).", "gauge")
        self.config_loaded = Counter(
            "morpheus_proxy_config_last_reload_success", "1 if the last reload succeeded.", "gauge"
        )
        self.upstream_connections = Counter(
            "morpheus_proxy_upstream_connections", "Upstream connections, by upstream and state (busy, idle).", "gauge"
        )
        self.upstream_connects = Counter(
            "morpheus_proxy_upstream_connects_total", "Upstream connections opened, by upstream (churn shows here)."
        )
        self.offloaded = Counter(
            "morpheus_proxy_offloaded_bodies_total",
            "Big request bodies given to a worker process, by result (prepared, refused, busy: 503 at once).",
        )
        self.client_connections = Counter(
            "morpheus_proxy_client_connections", "Open client connections on the data plane.", "gauge"
        )
        self.client_connections_cap = Counter(
            "morpheus_proxy_client_connections_cap",
            "The data plane's cap on open client connections (0 = none).",
            "gauge",
        )
        self.client_connections_at_cap = Counter(
            "morpheus_proxy_client_connections_at_cap",
            "1 while the data plane holds its cap of client connections (new ones are closed at once).",
            "gauge",
        )
        self.client_connections_closed = Counter(
            "morpheus_proxy_client_connections_closed_total",
            "Client connections the forwarder closed unanswered, by reason (cap, head_timeout).",
        )
        self.accept_errors = Counter(
            "morpheus_proxy_accept_errors_total", "Failed accepts (out of descriptors), by plane and errno name."
        )
        self.collectors: list[Callable[[], None]] = []

    def render(self) -> str:
        for collect in self.collectors:
            collect()
        metrics = (
            self.requests, self.latency, self.ttfb, self.overhead, self.rejections, self.upstream_errors,
            self.tokens, self.served_seconds, self.job_polls, self.reloads, self.in_flight, self.capacity, self.config_info, self.config_loaded,
            self.upstream_connections, self.upstream_connects, self.buffered_bytes, self.answers_cut,
            self.client_connections, self.client_connections_cap, self.client_connections_at_cap,
            self.client_connections_closed, self.accept_errors, self.offloaded,
        )  # fmt: skip
        lines: list[str] = []
        for m in metrics:
            lines.extend(m.render())
        return "\n".join(lines) + "\n"
