"""Desired state as plain, typed, frozen values: what the planner, the docs and the tests talk about.

Money is int wei. Secrets are `Reference`s, never values. Every value knows where it was written
(`Location`) so later errors (plan-time) can still name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from reconciler.desired.diagnostics import Location
from reconciler.desired.references import Reference

NOWHERE = Location("")


class Endpoint(StrEnum):
    """What the upstream endpoint does; decides the URL path and the default health-probe tag."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    AUDIO_SPEECH = "audio-speech"
    AUDIO_TRANSCRIPTION = "audio-transcription"
    IMAGE = "image"
    VIDEO = "video"
    DECISIONS = "decisions"


ENDPOINT_PATHS: dict[Endpoint, str] = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.EMBEDDINGS: "/embeddings",
    Endpoint.AUDIO_SPEECH: "/audio/speech",
    Endpoint.AUDIO_TRANSCRIPTION: "/audio/transcriptions",
}
DEFAULT_TAGS: dict[Endpoint, str] = {
    Endpoint.CHAT: "llm",
    Endpoint.EMBEDDINGS: "embedding",
    Endpoint.AUDIO_SPEECH: "tts",
    Endpoint.AUDIO_TRANSCRIPTION: "stt",
    # Tags the router's health probe does not read: a probe would send these models a chat request.
    Endpoint.IMAGE: "image",
    Endpoint.VIDEO: "video",
    Endpoint.DECISIONS: "decisions",
}
# Served by the router's own adapters (reconciler.desired.apitypes), never probed with a chat request.
MEDIA_ENDPOINTS = frozenset({Endpoint.IMAGE, Endpoint.VIDEO, Endpoint.DECISIONS})


@dataclass(frozen=True)
class NetworkSpec:
    preset: str | None
    chain_id: int | None
    diamond: str | None
    mor: str | None
    rpc_url: Reference | None
    devnet_dir: str | None = None
    log_block_range: int = 10_000
    from_block: int = 0
    l1_data_fee: bool | None = None  # None: decided by the chain (OP-stack presets)
    rpc_urls: tuple[Reference, ...] = ()  # rpcUrls; a lone rpcUrl is a list of one
    confirmations: int | None = None  # None: the preset's default


@dataclass(frozen=True)
class SignerSpec:
    address: str
    private_key: Reference | None = None
    keystore: str | None = None
    password: Reference | None = None


@dataclass(frozen=True)
class ProviderSpec:
    address: str
    endpoint: str
    stake: int
    absent: bool = False
    location: Location = NOWHERE


@dataclass(frozen=True)
class UpstreamSpec:
    name: str
    base_url: str
    api_key: Reference | None  # None: no key (only for apiTypes that need none, e.g. decisions)
    api_type: str = "openai"
    api_stack: str | None = None
    max_concurrency: int | None = None
    location: Location = NOWHERE


@dataclass(frozen=True)
class TokenPrices:
    """A metered upstream account (`perToken`): what a token costs, and how many a busy second uses."""

    tokens_per_second: Fraction
    input_usd: Fraction
    output_usd: Fraction
    input_share: Fraction = Fraction(3, 10)
    cached_input_usd: Fraction | None = None  # a prompt token read from the upstream's cache; None: input_usd
    cache_write_usd: Fraction | None = None  # a prompt token written to it; None: input_usd
    measured: bool = False  # `tokensPerSecond: measured`: the forwarder's rate; tokens_per_second is the fallback


@dataclass(frozen=True)
class Subscription:
    """A flat-priced upstream account: what a month costs, and the seconds a month it is expected to be busy."""

    usd_per_month: Fraction
    utilized_seconds_per_month: int


@dataclass(frozen=True)
class CostModel:
    """Computes a bid price: cost in USD per second, divided by MOR's USD price, plus a margin, rounded up.
    `per_token` or `subscription` keeps what the cost per second was made of (margins use them)."""

    usd_per_second: Fraction
    mor_usd: Fraction | Reference
    margin: Fraction = Fraction(0)
    utilized_seconds_per_year: int | None = None
    description: str = ""
    per_token: TokenPrices | None = None
    subscription: Subscription | None = None


@dataclass(frozen=True)
class PolicyKnobs:
    """When a market policy's new price is worth a repost (reconciler.market.policy.decide)."""

    min_gain_percent: Fraction = Fraction(5)  # the price must move at least this much
    hysteresis_percent: Fraction = Fraction(2)  # and a raise this much more (a cut answers a competitor, a raise
    # invites the next cut)
    payback_days: Fraction = Fraction(7)  # the bid fee must come back within this, at the expected utilisation
    max_reposts_per_day: int = 4  # per model, rolling 24 hours


@dataclass(frozen=True)
class MarketPolicy:
    """`bid.market`: the price from the competing bids, between a floor and a ceiling.

    The floor is a fixed price or a cost model's price; the target is exactly one of `rank` (the highest price
    still ranking N-th by score), `percentile` (of the competing prices weighted by quality) or `follow` (a
    provider's price plus `offset`, wei, may be negative)."""

    ceiling: int
    utilized_seconds_per_day: int | None  # None: measured from the model's sessions (sessions/utilisation.py)
    floor_price: int | None = None
    floor_cost_model: CostModel | None = None
    rank: int | None = None
    percentile: Fraction | None = None
    follow: str | None = None  # lower-case 0x address
    offset: int = 0
    knobs: PolicyKnobs = PolicyKnobs()
    utilisation_from: str = "declared"  # "declared", "cost model" (the floor's) or "measured"

    def target_label(self) -> str:
        if self.rank is not None:
            return f"rank {self.rank}"
        if self.percentile is not None:
            return f"percentile {float(self.percentile):g}"
        return f"follow {self.follow}"


@dataclass(frozen=True)
class BidSpec:
    """Exactly one of `price_per_second` (wei), `cost_model` and `market`."""

    price_per_second: int | None = None
    cost_model: CostModel | None = None
    market: MarketPolicy | None = None

    @property
    def rate_cost_model(self) -> CostModel | None:
        """The cost model whose morUsd this bid needs: its own, or its market policy's floor."""
        return self.cost_model or (self.market.floor_cost_model if self.market else None)


@dataclass(frozen=True)
class ModelSpec:
    """One model. `managed` = our own model (registered and staked by the provider); else an existing one."""

    key: str
    model_id: str
    managed: bool
    name: str | None
    base_model_id: str | None = None
    ipfs_cid: str = "0x" + "00" * 32
    fee: int = 0
    stake: int = 0
    tags: tuple[str, ...] = ()
    upstream: str | None = None
    upstream_model: str | None = None
    upstream_url: str | None = None  # the full upstream URL, instead of the upstream's baseUrl + the type's path
    endpoint: Endpoint = Endpoint.CHAT
    api_type: str = "openai"
    concurrent_slots: int | None = None
    capacity_policy: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    bid: BidSpec | None = None
    absent: bool = False
    location: Location = NOWHERE


@dataclass(frozen=True)
class RouterSpec:
    models_config_path: str
    url: str | None = None
    admin_url: str | None = None
    admin_auth: Reference | None = None


@dataclass(frozen=True)
class ProxySpec:
    models_config_path: str
    admin_url: str | None = None
    admin_token: Reference | None = None
    client_token: Reference | None = None
    forwarder_url: str | None = None
    router: RouterSpec | None = None


@dataclass(frozen=True)
class ChurnGuard:
    min_price_change_percent: Fraction = Fraction(5)
    min_repost_interval_seconds: int = 3600
    reason: str | None = None


DEFAULT_CHURN = ChurnGuard()


@dataclass(frozen=True)
class PolicySpec:
    prune: bool = False
    allow_empty: bool = False
    max_spend_per_apply: int | None = None
    churn: ChurnGuard = DEFAULT_CHURN
    auto_claim: bool = False  # apply/watch also collect ended sessions' earnings (reconciler.sessions.claim.claim_all)
    max_spend_per_day: int | None = None  # watch: rolling 24 h budget (fees + stake), tally in the state dir
    standing_allowance: int | None = None  # policy.allowance: None = "exact" (approve what the plan spends)
    suspend: bool = False  # watch: auto-apply becomes alert-only while true
    min_signer_eth: int | None = None  # watch: low-funds alert thresholds (wei)
    min_provider_mor: int | None = None
    unserved: str = "alert"  # alert | withdraw: the bids of models nothing serves (reconciler.plan.unserved)
    unserved_grace_seconds: int = 600  # withdraw: unserved this long, the bid is deleted
    unserved_repost_after_seconds: int = 600  # withdraw: served again this long, the bid is posted again


DEFAULT_POLICY = PolicySpec()


@dataclass(frozen=True)
class Desired:
    network: NetworkSpec
    signer: SignerSpec
    provider: ProviderSpec
    upstreams: tuple[UpstreamSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    proxy: ProxySpec | None = None
    policy: PolicySpec = DEFAULT_POLICY
    sources: tuple[str, ...] = field(default=())

    @property
    def delegate_mode(self) -> bool:
        """The signer acts for another address (delegate.xyz rights; funds come from the provider)."""
        return self.signer.address.lower() != self.provider.address.lower()

    def upstream(self, name: str | None) -> UpstreamSpec | None:
        return next((u for u in self.upstreams if u.name == name), None)
