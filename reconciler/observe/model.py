"""What the world looks like: plain, frozen values read by the observers and consumed by the planner.

Nothing here holds a secret: models-config entries carry the key's fingerprint, never the key, and
references are represented by what they resolved to (a fingerprint, or a non-secret value such as a price).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class MarketParams:
    """Owner-set values read from the chain (never hard-coded)."""

    provider_min_stake: int
    model_min_stake: int
    bid_fee: int
    min_price_per_second: int
    max_price_per_second: int


@dataclass(frozen=True)
class ProviderState:
    address: str
    endpoint: str
    stake: int
    created_at: int = 0
    limit_period_earned: int = 0
    is_deleted: bool = False
    limit_period_end: int = 0


@dataclass(frozen=True)
class ModelState:
    model_id: str
    owner: str
    name: str
    tags: tuple[str, ...]
    fee: int
    stake: int
    ipfs_cid: str = "0x" + "00" * 32
    created_at: int = 0
    is_deleted: bool = False


@dataclass(frozen=True)
class LiveSession:
    """A session still open on a bid (closedAt == 0 and now < endsAt)."""

    session_id: str
    ends_at: int


@dataclass(frozen=True)
class SessionState:
    """One session of the provider as getSession gives it, with its bid's model and (immutable) price."""

    session_id: str
    bid_id: str
    model_id: str
    user: str
    stake: int
    price_per_second: int
    provider_withdrawn: int
    opened_at: int
    ends_at: int
    closed_at: int = 0
    direct_payment: bool = False
    dispute: bool = False

    def live(self, now: int) -> bool:
        """Buyers are still being served: not closed and endsAt not reached (session_rules.is_live)."""
        return self.closed_at == 0 and now < self.ends_at


@dataclass(frozen=True)
class ModelStats:
    """getProviderModelStats(modelId, provider): what buyers see of this provider on this model."""

    model_id: str
    tps_scaled1000: int
    ttft_ms: int
    total_duration: int
    success_count: int
    total_count: int


@dataclass(frozen=True)
class BidState:
    bid_id: str
    provider: str
    model_id: str
    price_per_second: int
    nonce: int
    created_at: int
    deleted_at: int = 0
    live_sessions: tuple[LiveSession, ...] = ()

    @property
    def active(self) -> bool:
        return self.deleted_at == 0


@dataclass(frozen=True)
class ChainState:
    """One consistent reading of the chain, taken at `block_number`/`block_hash`."""

    chain_id: int
    block_number: int
    block_hash: str
    block_timestamp: int
    market: MarketParams
    provider: ProviderState | None
    models: tuple[ModelState, ...] = ()
    bids: tuple[BidState, ...] = ()
    payer_balance: int = 0
    payer_allowance: int = 0
    signer_eth_balance: int = 0
    delegation: Mapping[str, bool] | None = None  # right name -> granted; None when the signer is the provider
    fee_per_gas: int = 0
    l1_fee_by_kind: Mapping[str, int] = field(default_factory=lambda: EMPTY)  # quoted kinds; others cost as bid.post
    rpc_round_trips: int = 0
    max_session_duration: int = 0
    sessions: tuple[SessionState, ...] = ()  # newest first, back to the first opened > max duration ago
    sessions_total: int = 0  # every session the provider ever had (the lists are never pruned)
    model_stats: tuple[ModelStats, ...] = ()
    network_name: str = ""
    diamond: str = ""
    mor: str = ""
    notes: tuple[str, ...] = ()  # what others wrote that was skipped or shown repaired (chain/structs.py)

    def model(self, model_id: str) -> ModelState | None:
        return next((m for m in self.models if m.model_id == model_id), None)

    def active_bids(self, model_id: str | None = None) -> list[BidState]:
        return [b for b in self.bids if b.active and (model_id is None or b.model_id == model_id)]

    def live_sessions(self, model_id: str | None = None) -> list[SessionState]:
        """Sessions still served at the block's time, on active and deleted bids alike."""
        return [
            s for s in self.sessions if s.live(self.block_timestamp) and (model_id is None or s.model_id == model_id)
        ]

    def stats(self, model_id: str) -> ModelStats | None:
        return next((m for m in self.model_stats if m.model_id == model_id), None)


@dataclass(frozen=True)
class ProxyEntry:
    """One models-config entry, as comparable data (the key only as its fingerprint)."""

    model_id: str
    model_name: str
    api_type: str
    api_url: str
    api_key_fingerprint: str | None = None
    concurrent_slots: int | None = None
    capacity_policy: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    api_stack: str | None = None
    model_family: str | None = None

    def comparable(self) -> dict[str, Any]:
        """Every field but the key, as a plain dict (for diffs and plan output)."""
        out: dict[str, Any] = {
            "modelId": self.model_id,
            "modelName": self.model_name,
            "apiType": self.api_type,
            "apiUrl": self.api_url,
        }
        if self.concurrent_slots is not None:
            out["concurrentSlots"] = self.concurrent_slots
        if self.capacity_policy is not None:
            out["capacityPolicy"] = self.capacity_policy
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.api_stack is not None:
            out["apiStack"] = self.api_stack
        if self.model_family is not None:
            out["modelFamily"] = self.model_family
        return out

    def as_plan_data(self) -> dict[str, Any]:
        return {**self.comparable(), "apiKeyFingerprint": self.api_key_fingerprint}


@dataclass(frozen=True)
class ModelsConfigState:
    """A models-config as a file on disk or as a running process serves it."""

    source: str
    exists: bool
    version: str | None = None
    entries: tuple[ProxyEntry, ...] = ()
    error: str | None = None

    def entry(self, model_id: str) -> ProxyEntry | None:
        return next((e for e in self.entries if e.model_id == model_id), None)


@dataclass(frozen=True)
class ForwarderState:
    """The forwarder: its file, and (with adminUrl, when reachable) what it serves."""

    file: ModelsConfigState | None = None
    served: ModelsConfigState | None = None
    admin_configured: bool = False
    reachable: bool | None = None
    note: str | None = None
    untrusted: str | None = None  # the admin API's host, not asked: the token goes only to trusted hosts


@dataclass(frozen=True)
class RouterState:
    """The Morpheus proxy-router: its file and the model ids its /healthcheck says are loaded; `answered`: its
    /healthcheck answered 2xx (None: not asked, no router URL), which is also its health (observe.router_health)."""

    file: ModelsConfigState | None = None
    loaded_model_ids: frozenset[str] | None = None
    note: str | None = None
    answered: bool | None = None


@dataclass(frozen=True)
class ResolvedRefs:
    """What references resolved to where the plan runs: secrets as fingerprints, prices as values."""

    fingerprints: Mapping[str, str | None] = field(default_factory=lambda: EMPTY)
    values: Mapping[str, str | None] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class Observed:
    chain: ChainState
    proxy: ForwarderState = ForwarderState()
    router: RouterState = RouterState()
    refs: ResolvedRefs = ResolvedRefs()
    now: int = 0  # unix seconds the plan reasons with (the block's timestamp by default)
    wall_clock: int = 0  # unix seconds when it was read (0: not known), for ages a person reads and our own guards
    # the forwarder's tokens per served second by model id (lower 0x hex), for `tokensPerSecond: measured` bids
    # (reconciler.market.margin.measured_rate); a model not in it is priced at its fallback
    measured_tps: Mapping[str, Fraction] = field(default_factory=dict)
    measured_note: str = ""  # why the forwarder's rates could not be read ("" when they were, or not needed)

    @property
    def clock(self) -> int:
        """The later of the chain's time and the wall clock: a devnet's or a quiet chain's last block can be
        minutes old, and a devnet's clock moved forward is ahead of the wall's."""
        return max(self.now, self.wall_clock)
