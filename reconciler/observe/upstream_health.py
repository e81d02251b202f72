"""Each model's upstream health, `up | degraded | down | unknown`, from two readings of the forwarder's /metrics.

Why between readings: the forwarder's counters (`morpheus_proxy_upstream_errors_total` by model and kind,
`morpheus_proxy_requests_total` by model and status) count since it started, so only what they gained since the
watcher's last run says how the upstream is now. Pure: the shell keeps the last reading and the last health.

The rules, per model, on what was counted since the last reading (docs/watch.md):
- `down`: the upstream refused the key (401/403) and nothing was answered well, or it could not be connected to
  and nothing was answered well;
- `degraded`: a quota or rate limit (429), a timeout, or any other failure (5xx, a cut connection, a refused key
  or an unreachable upstream while other requests were answered);
- `up`: answered with no failure; a model with neither requests nor failures keeps what it was (`up` if it was
  unknown), since there was nothing to judge;
- `unknown`: the first reading (nothing to compare with).
Each judgement says whether it was made on requests counted since the last reading (`fresh`): policy.unserved
counts a model as served again only on such evidence (reconciler.watch.serving).
A counter below its last reading (the forwarder restarted) counts from zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from reconciler.observe.health import DEGRADED, DOWN, UNKNOWN, UP, Judged
from reconciler.observe.prometheus import MetricSample

ERRORS = "morpheus_proxy_upstream_errors_total"
REQUESTS = "morpheus_proxy_requests_total"


@dataclass(frozen=True)
class Reading:
    """The counters the judgement needs, by model: the model's id where the forwarder labels it (`model_id`, so two
    models with one upstream model name stay apart), else its name."""

    counts: Mapping[tuple[str, str, str], float]  # (metric, model, kind or status) -> the counter's value
    names: Mapping[str, str]  # model -> the name the forwarder labels it with


@dataclass(frozen=True)
class UpstreamHealth(Judged):
    model: str  # the model's name as the forwarder labels it (its upstream's model name, modelName)
    state: str  # up | degraded | down | unknown
    why: str = ""  # what made it so, with counts (empty when up with answers)
    cause: str = ""  # the cause without counts (an alert is posted once per cause): key-refused, quota...
    model_id: str = ""  # 0x-prefixed lower-case, where the forwarder labels it
    fresh: bool = False  # judged on requests counted since the last reading (False: kept from before, or unknown)


def reading(samples: Iterable[MetricSample]) -> Reading:
    """The counters the judgement needs, summed by model and kind (errors) or status (requests)."""
    counts: dict[tuple[str, str, str], float] = {}
    names: dict[str, str] = {}
    for s in samples:
        if s.name not in (ERRORS, REQUESTS):
            continue
        name = s.labels.get("model", "")
        mid = s.labels.get("model_id", "")
        model = "0x" + mid.lower().removeprefix("0x") if mid else name
        if not model:
            continue
        names[model] = name
        key = (s.name, model, s.labels.get("kind" if s.name == ERRORS else "status", ""))
        counts[key] = counts.get(key, 0.0) + s.value
    return Reading(counts, names)


def _gained(before: Reading, now: Reading) -> dict[tuple[str, str, str], float]:
    out = {}
    for key, value in now.counts.items():
        last = before.counts.get(key, 0.0)
        out[key] = value if value < last else value - last  # below the last reading: the forwarder restarted
    return out


def _answered_well(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 400


def judge_upstreams(
    before: Reading | None, now: Reading, previous: Mapping[str, UpstreamHealth]
) -> dict[str, UpstreamHealth]:
    """Each model the forwarder counts now (by id, else name), judged on what its counters gained since `before`
    (None: the first reading, every model unknown); `previous` is the last judgement (kept for a model with
    nothing new)."""
    first = "first reading of the forwarder's counters"
    out = {}
    gained = _gained(before, now) if before is not None else {}
    for m in sorted(now.names):
        name, mid = now.names[m], m if m.startswith("0x") and m != now.names[m] else ""
        if before is None:
            out[m] = UpstreamHealth(name, UNKNOWN, first, model_id=mid)
        else:
            h = _judge(m, gained, previous.get(m))
            out[m] = replace(h, model=name, model_id=mid)
    return out


def _judge(model: str, gained: Mapping[tuple[str, str, str], float], previous: UpstreamHealth | None) -> UpstreamHealth:
    errors: dict[str, int] = {}
    ok = 0
    for (metric, m, kind), n in gained.items():
        if m != model or n <= 0:
            continue
        if metric == ERRORS:
            errors[kind] = errors.get(kind, 0) + int(n)
        elif _answered_well(kind):
            ok += int(n)
    if not errors:
        if ok:
            return UpstreamHealth(model, UP, fresh=True)
        if previous is not None and previous.state != UNKNOWN:
            return replace(previous, fresh=False)
        return UpstreamHealth(model, UP, "no requests since the last run")
    refused = {k: n for k, n in errors.items() if k in ("http_401", "http_403")}
    if refused:
        counts = ", ".join(f"{k[5:]} ×{n}" for k, n in sorted(refused.items()))
        if not ok:
            return UpstreamHealth(model, DOWN, f"the upstream refused the key ({counts})", "key-refused", fresh=True)
        why = f"the upstream refused the key on some requests ({counts})"
        return UpstreamHealth(model, DEGRADED, why, "key-refused", fresh=True)
    if errors.get("connect") and not ok:
        why = f"the upstream cannot be connected to (×{errors['connect']})"
        return UpstreamHealth(model, DOWN, why, "unreachable", fresh=True)
    if errors.get("http_429"):
        return UpstreamHealth(model, DEGRADED, f"quota or rate limit (429 ×{errors['http_429']})", "quota", fresh=True)
    timeouts = sum(n for k, n in errors.items() if k.startswith("timeout_"))
    if timeouts:
        return UpstreamHealth(model, DEGRADED, f"the upstream timed out (×{timeouts})", "timeout", fresh=True)
    counts = ", ".join(f"{k} ×{n}" for k, n in sorted(errors.items()))
    return UpstreamHealth(model, DEGRADED, f"upstream failures ({counts})", "failures", fresh=True)
