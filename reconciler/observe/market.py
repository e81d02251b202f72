"""Observe the market of the desired state's models (the shell of `reconcile market` and the page's panel):
read every model's bids and the provider's standing at one block, then build the report (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler import FileUnusable, ReconcileError
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.market_reader import read_markets, read_standing
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.rpc import connect_all
from reconciler.desired.model import Desired
from reconciler.market.ids import norm_hex
from reconciler.market.rating import (
    DEFAULT_WEIGHTS,
    RatingConfigError,
    Weights,
    allowlist_from_config,
    weights_from_config,
)
from reconciler.market.report import MarketModel, Standing, market_report

MAX_RATING_CONFIG_BYTES = 1 << 20  # a router's rating config is a few hundred bytes, an allow list a few KB
DEFAULT_RATING_SOURCE = "the router's default weights"


@dataclass(frozen=True)
class RatingConfig:
    """The weights (and allow list) a buyer's router scores with: its RATING_CONFIG_PATH file, or the defaults."""

    weights: Weights = DEFAULT_WEIGHTS
    allowlist: frozenset[str] | None = None
    source: str = DEFAULT_RATING_SOURCE

    @property
    def is_default(self) -> bool:
        """No rating config named on this host: the router's defaults (what the page and `status` need not say)."""
        return self.source == DEFAULT_RATING_SOURCE


def load_rating_config(path: Path | None) -> RatingConfig:
    """A router rating-config JSON file (`{"algorithm": "default", "params": {"weights": {...}}}`)."""
    if path is None:
        return RatingConfig()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_RATING_CONFIG_BYTES + 1)
        if len(raw) > MAX_RATING_CONFIG_BYTES:
            raise FileUnusable(f"--weights {path}: larger than {MAX_RATING_CONFIG_BYTES} bytes, not read")
        config = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise FileUnusable(f"--weights {path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise FileUnusable(f"--weights {path}: not JSON: {exc}") from None
    try:
        return RatingConfig(weights_from_config(config), allowlist_from_config(config), f"weights from {path.name}")
    except RatingConfigError as exc:
        raise FileUnusable(f"--weights {path}: {exc}") from None


def market_models(desired: Desired) -> list[MarketModel]:
    """The desired state's models (own and existing), in their order; models declared absent are left out."""
    return [
        MarketModel(model_id=norm_hex(m.model_id), name=m.name or m.key, own=m.managed)
        for m in desired.models
        if not m.absent
    ]


def market_document(
    desired: Desired,
    network: Network | None = None,
    rating: RatingConfig = RatingConfig(),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The market document of every model of the desired state, read at the latest block."""
    network = network or resolve_network(desired.network, environ)
    w3 = connect_all(network.endpoints())
    market = w3.eth.contract(address=Web3.to_checksum_address(network.diamond), abi=load_artifact("Marketplace").abi)
    block = int(w3.eth.block_number)
    models = market_models(desired)
    ids = [m.model_id for m in models]
    markets = read_markets(w3, market, ids, block, ours=desired.provider.address)
    stake, stats = read_standing(w3, market, desired.provider.address, ids, block)
    return market_report(
        desired.provider.address,
        models,
        markets,
        Standing(stake, stats),
        rating.weights,
        rating.source,
        rating.allowlist,
        block,
    )


def market_for_page(desired: Desired, network: Network, rating: RatingConfig) -> dict[str, Any] | None:
    """The market document for the status page, ranked with the host's `rating` (market_input.host_rating, as the
    plan's policies rank), or None when it cannot be read now (the page is reporting only: a market it cannot
    read is left out, never a failure of the page or of a watcher's run)."""
    try:
        return market_document(desired, network, rating)
    except ReconcileError:
        return None
