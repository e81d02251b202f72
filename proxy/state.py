"""The forwarder's live state: the current config snapshot, slots, failure budget, metrics, reload.

Requests take `state.config` once at their start and keep that snapshot, so a reload never changes the
route of a request in flight; slot gates live outside the snapshot so counts carry over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from proxy.browsers import BrowserRule
from proxy.budget import FailureBudget
from proxy.config import ModelsConfig, load_config
from proxy.exceptions import ConfigError
from proxy.metrics import Metrics
from proxy.settings import Settings
from proxy.slots import SlotRegistry
from proxy.upstream import UpstreamPool

log = logging.getLogger("morpheus_proxy")


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    version: str | None
    changed: bool
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ProxyState:
    """Everything the two planes share."""

    def __init__(
        self,
        config_path: str | Path,
        settings: Settings,
        *,
        client_token: str | None = None,
        admin_token: str | None = None,
        metrics_open: bool = True,
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
    ) -> None:
        self.config_path = Path(config_path)
        self.settings = settings
        self.client_token = client_token
        self.admin_token = admin_token
        self.metrics_open = metrics_open
        self.browsers = BrowserRule(allow_hosts, allow_origins)  # the data plane's rule without a client token
        self.config: ModelsConfig | None = None
        self.slots = SlotRegistry()
        self.budget = FailureBudget(settings.failure_budget, settings.failure_window)
        self.metrics = Metrics()
        self.metrics.collectors.append(self._collect)
        self.last_reload_error: str | None = None
        self.draining = False
        self.upstream: UpstreamPool | None = None

    def _install(self, cfg: ModelsConfig) -> None:
        self.slots.apply({r.model_id: r.slots for r in cfg.routes})
        self.config = cfg
        self.size_pool()
        for w in cfg.warnings:
            log.warning("%s: %s", cfg.source, w)

    def size_pool(self) -> None:
        """A capped upstream pool never holds fewer connections than the config has slots."""
        cap = self.settings.pool_limit
        if self.upstream is not None and cap:
            self.upstream.limit = max(cap, self.config.total_slots if self.config else 0)

    def load_initial(self) -> ModelsConfig:
        """Load the config at start; raises ConfigError (the caller refuses to start)."""
        cfg = load_config(self.config_path)
        self._install(cfg)
        self.metrics.config_loaded.set((), 1)
        log.info("loaded %s: version %s, %d models", cfg.source, cfg.version, len(cfg.routes))
        return cfg

    def reload(self, trigger: str) -> ReloadOutcome:
        """Validate the file fully, then swap; an invalid file keeps the old config serving."""
        old = self.config
        try:
            cfg = load_config(self.config_path)
        except ConfigError as exc:
            self.last_reload_error = "; ".join(exc.errors)
            self.metrics.reloads.inc((("trigger", trigger), ("result", "error")))
            self.metrics.config_loaded.set((), 0)
            log.error(
                "reload (%s) rejected, keeping version %s: %s",
                trigger,
                old.version if old else None,
                self.last_reload_error,
            )
            return ReloadOutcome(old.version if old else None, False, exc.errors)
        changed = old is None or cfg.version != old.version
        if changed:
            self._install(cfg)
        self.last_reload_error = None
        self.metrics.reloads.inc((("trigger", trigger), ("result", "changed" if changed else "unchanged")))
        self.metrics.config_loaded.set((), 1)
        log.info("reload (%s): version %s%s", trigger, cfg.version, "" if changed else " (unchanged)")
        return ReloadOutcome(cfg.version, changed)

    def _collect(self) -> None:
        m = self.metrics
        m.in_flight.values.clear()
        m.capacity.values.clear()
        m.config_info.values.clear()
        names = {r.model_id: r.model_name for r in self.config.routes} if self.config else {}
        for model_id, gate in self.slots.gates.items():
            labels = (("model", names.get(model_id, "")), ("model_id", "0x" + model_id))
            m.in_flight.set(labels, gate.in_flight)
            m.capacity.set(labels, gate.limit)
        if self.config:
            m.config_info.set((("version", self.config.version),), 1)
        m.upstream_connections.values.clear()
        if self.upstream is not None:
            for upstream, (busy, idle, opened) in self.upstream.stats().items():
                m.upstream_connections.set((("upstream", upstream), ("state", "busy")), busy)
                m.upstream_connections.set((("upstream", upstream), ("state", "idle")), idle)
                m.upstream_connects.set((("upstream", upstream),), opened)
