"""What the watcher alerts on about what serves its models: the forwarder down or degraded, posted once per
cause, and `forwarder-up` once when it serves again after a `forwarder-down`; and since when it has (not) served,
which the planner's policy.unserved reads (reconciler.plan.unserved); each model's upstream likewise
(`upstream-down`, `upstream-up`, `upstream-degraded`, one alert naming every model in that state, and since when
each model's upstream has (not) served, for the same policy), and the managed router (`router-down`,
`router-up`). Pure, on WatchState's memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler.observe.forwarder_health import DEGRADED, DOWN, ForwarderHealth
from reconciler.observe.router_health import RouterHealth
from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.plan.unserved import Serving, Since
from reconciler.watch.state import Alert, WatchState

DOWN_EVENT, UP_EVENT, DEGRADED_EVENT = "forwarder-down", "forwarder-up", "forwarder-degraded"
ROUTER_DOWN, ROUTER_UP = "router-down", "router-up"
UPSTREAM_DOWN, UPSTREAM_UP, UPSTREAM_DEGRADED = "upstream-down", "upstream-up", "upstream-degraded"


def forwarder_seen(state: WatchState, health: ForwarderHealth) -> tuple[WatchState, tuple[Alert, ...]]:
    """The alerts this reading raises (`WatchState.notice` then posts each once per key)."""
    if health.state == DOWN:
        summary = (
            f"the forwarder is down ({health.why}): its models' bids still sell sessions nothing serves, and each "
            "failed session lowers the provider's success ratio"
        )
        return state, (Alert(DOWN_EVENT, summary, key=health.why),)
    if not health.up:  # unknown: nothing to say either way
        return state, ()
    alerts: list[Alert] = []
    if DOWN_EVENT in state.alerted:
        alerts.append(Alert(UP_EVENT, "the forwarder serves again", key=None))
    state = state.cleared(DOWN_EVENT)
    if health.state == DEGRADED:
        alerts.append(Alert(DEGRADED_EVENT, f"the forwarder is degraded: {health.why}", key=health.why))
    else:
        state = state.cleared(DEGRADED_EVENT)
    return state, tuple(alerts)


def served_since(memory: Serving, health: ForwarderHealth, now: int) -> Serving:
    """The memory after a reading at `now`: down since the first down reading; served again since the first
    serving reading after a down (never seen down: nothing, so nothing is held back); unknown changes nothing."""
    was = memory.forwarder
    if health.state == DOWN:
        return memory if was is not None and was.down else replace(memory, forwarder=Since(down=True, at=now))
    if health.up and was is not None and was.down:
        return replace(memory, forwarder=Since(down=False, at=now))
    return memory


def upstreams_served_since(memory: Serving, healths: Mapping[str, UpstreamHealth], now: int) -> Serving:
    """The memory after a judgement of the models' upstreams at `now`, by model id (a model the forwarder labels
    by name only is left out): down since its first down judgement; served again since the first judgement after
    a down made on new requests (up or degraded, `fresh`). A judgement kept from before, made with nothing to
    judge (no request since: a restarted watcher's first readings) or unknown changes nothing, so a model is
    never taken as served again without a request answered."""
    models = dict(memory.models)
    for h in healths.values():
        if not h.model_id:
            continue
        mid, was = h.model_id.lower(), models.get(h.model_id.lower())
        if h.state == DOWN and not (was is not None and was.down):
            models[mid] = Since(down=True, at=now)
        elif h.up and h.fresh and was is not None and was.down:
            models[mid] = Since(down=False, at=now)
    return memory if models == memory.models else replace(memory, models=models)


def declared_only(memory: Serving, model_ids: Iterable[str]) -> Serving:
    """The memory of the models still declared (and not absent): a model dropped and declared again later starts
    with no memory, instead of being held as unserved since before it was dropped."""
    keep = {m.lower() for m in model_ids}
    models = {m: s for m, s in memory.models.items() if m in keep}
    return memory if len(models) == len(memory.models) else replace(memory, models=models)


def upstreams_seen(state: WatchState, healths: Mapping[str, UpstreamHealth]) -> tuple[WatchState, tuple[Alert, ...]]:
    """The alerts a judgement of the models' upstreams raises: one `upstream-down` naming every model that is down,
    posted again only when the set of models or their causes change; `upstream-up` once when none is down after
    it; `upstream-degraded` likewise. Unknown models say nothing."""
    alerts: list[Alert] = []
    down = _in_state(healths, DOWN)
    if down:
        alerts.append(_models_alert(UPSTREAM_DOWN, down, "upstream down for {}: their bids sell sessions that fail"))
    else:
        if UPSTREAM_DOWN in state.alerted:
            alerts.append(Alert(UPSTREAM_UP, "every model's upstream answers again", key=None))
        state = state.cleared(UPSTREAM_DOWN)
    degraded = _in_state(healths, DEGRADED)
    if degraded:
        alerts.append(_models_alert(UPSTREAM_DEGRADED, degraded, "upstream degraded for {}"))
    else:
        state = state.cleared(UPSTREAM_DEGRADED)
    return state, tuple(alerts)


def _in_state(healths: Mapping[str, UpstreamHealth], state: str) -> list[UpstreamHealth]:
    return sorted((h for h in healths.values() if h.state == state), key=lambda h: h.model)


def _models_alert(event: str, healths: list[UpstreamHealth], text: str) -> Alert:
    """One alert naming every model in `healths` (`text` takes their summary); its key changes with the set of
    models or their causes, so it is posted again only then."""
    summary = "; ".join(f"{h.model}: {h.why}" for h in healths)
    key = ",".join(f"{h.model}={h.cause}" for h in healths)
    return Alert(event, text.format(summary), key=key, extra={"models": [h.model for h in healths]})


def router_seen(state: WatchState, health: RouterHealth) -> tuple[WatchState, tuple[Alert, ...]]:
    """The managed router down (once per cause) and back up (once after a `router-down`); unknown says nothing."""
    if health.state == DOWN:
        summary = f"the router is down ({health.why}): buyers cannot open sessions on the provider's models"
        return state, (Alert(ROUTER_DOWN, summary, key=health.why),)
    if not health.up:
        return state, ()
    alerts = (Alert(ROUTER_UP, "the router answers again", key=None),) if ROUTER_DOWN in state.alerted else ()
    return state.cleared(ROUTER_DOWN), alerts
