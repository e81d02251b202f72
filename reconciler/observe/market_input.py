"""The market input of a plan, for the models priced by `bid.market`: read only when one is declared.

Each such model's competing bids (our own left out, so planning again after an apply proposes nothing), our
provider's standing on it (stake and stats, kept across reposts), our bid posts of the last 24 hours (counted
in the apply journal of the state directory: apply and watch both write it; without a state directory, none),
and, when the host configured one (`--price-command`, RECONCILE_PRICE_COMMAND) and the command may run here,
the operator's own price for each. `plan` never runs it: a pull request must not run code in CI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from reconciler.apply.writer import journal_path
from reconciler.chain.journal import Journal
from reconciler.chain.market_reader import read_markets, read_standing
from reconciler.chain.reader import ChainReader
from reconciler.desired.model import Desired, ModelSpec
from reconciler.market.ids import norm_hex
from reconciler.market.policy import REPOST_WINDOW_SECONDS, Commanded, MarketInputs
from reconciler.market.pricing import market_floor, to_fraction
from reconciler.market.rating import (
    DEFAULT_WEIGHTS,
    NO_PROVIDER_STATS,
    MarketBid,
    ModelMarket,
    ProviderModelStats,
    Weights,
    quality_of,
    rank_market,
)
from reconciler.observe.market import RatingConfig, load_rating_config
from reconciler.observe.model import Observed
from reconciler.observe.price_command import PRICE_COMMAND_ENV, PriceAnswers, PriceCommand

WEIGHTS_ENV = "RECONCILE_WEIGHTS"  # a router rating-config JSON file: the weights this host's policies price with


def market_models(desired: Desired) -> list[ModelSpec]:
    return [m for m in desired.models if not m.absent and m.bid is not None and m.bid.market is not None]


def observe_market(
    reader: ChainReader,
    desired: Desired,
    observed: Observed,
    state_dir: Path | None,
    command: PriceCommand | PriceAnswers | None,
    environ: Mapping[str, str],
) -> MarketInputs:
    """The market input for `plan()`; empty when no model has a market policy (nothing is read then)."""
    models = market_models(desired)
    if not models:
        return MarketInputs()
    rating = host_rating(environ)  # a bad file is said before the chain is read
    ids = [norm_hex(m.model_id) for m in models]
    block = observed.chain.block_number
    markets = read_markets(reader.w3, reader.market, ids, block)
    ours = desired.provider.address.lower()
    stake, own_stats = read_standing(reader.w3, reader.market, desired.provider.address, ids, block)
    competing = {}
    for m in models:
        full = markets[norm_hex(m.model_id)]
        competing[m.model_id] = ModelMarket(
            full.model_id, full.model_stats, full.min_stake, tuple(b for b in full.bids if competes(b, ours, rating))
        )
    stats = {m.model_id: own_stats.get(norm_hex(m.model_id), NO_PROVIDER_STATS) for m in models}
    notes: list[str] = []
    commanded: dict[str, Commanded] = {}
    answers = PriceAnswers.of(command)
    if answers is not None:
        for m in models:
            commanded[m.model_id] = answers.answer(
                m.model_id,
                partial(market_document, m, competing[m.model_id], observed, stake, stats[m.model_id], rating.weights),
            )
    elif environ.get(PRICE_COMMAND_ENV):
        notes.append(
            f"{PRICE_COMMAND_ENV} is set, but only apply and watch run a price command, `plan` and `status` never "
            "do (a pull request must not run code here): planned with each bid.market's own target between its "
            "floor and ceiling"
        )
    return MarketInputs(
        markets=competing,
        own_stats=stats,
        reposts_today=reposts_today(state_dir, observed.chain.chain_id, desired.provider.address),
        commanded=commanded,
        notes=tuple(notes),
        weights=rating.weights,
        weights_source=None if rating.is_default else rating.source,
    )


def with_weights(environ: Mapping[str, str], path: Path | None) -> Mapping[str, str]:
    """`environ` with `--weights FILE` as RECONCILE_WEIGHTS, for every plan of the command; the file (the flag's
    or the variable's) is checked now, so a bad one is said before anything is read."""
    if path is not None:
        environ = {**environ, WEIGHTS_ENV: str(path)}
    host_rating(environ)
    return environ


def host_rating(environ: Mapping[str, str], flag: Path | None = None) -> RatingConfig:
    """The rating config this host's buyers run: `--weights FILE` (`flag`), else RECONCILE_WEIGHTS (an empty one
    is unset), else the router's default weights. Host-side, never in the desired state; every consumer (the
    plan's market policies, `reconcile market`, `status` and the status page's market panel) resolves it here,
    so they all rank alike on one host."""
    path = flag if flag is not None else (Path(environ[WEIGHTS_ENV]) if environ.get(WEIGHTS_ENV) else None)
    return load_rating_config(path)


def competes(bid: MarketBid, ours: str, rating: RatingConfig) -> bool:
    """A bid buyers' routers would weigh against ours: another provider's, and on the config's allow list if any."""
    return bid.provider != ours and (rating.allowlist is None or bid.provider in rating.allowlist)


def reposts_today(state_dir: Path | None, chain_id: int, provider: str, now: float | None = None) -> dict[str, int]:
    """Our mined `bid.post` transactions of the last 24 hours per model id, from the apply journal."""
    if state_dir is None:
        return {}
    path = journal_path(state_dir / f"{chain_id}-{provider.lower()}")
    if not path.exists():
        return {}
    since = (time.time() if now is None else now) - REPOST_WINDOW_SECONDS
    counts: dict[str, int] = {}
    for tx in Journal(path).transactions():
        if tx.status == "mined" and tx.action_id.startswith("bid.post:") and tx.ts >= since:
            mid = tx.action_id.removeprefix("bid.post:")
            counts[mid] = counts.get(mid, 0) + 1
    return counts


def market_document(
    m: ModelSpec,
    market: ModelMarket,
    observed: Observed,
    stake: int,
    stats: ProviderModelStats,
    weights: Weights = DEFAULT_WEIGHTS,
) -> dict[str, Any]:
    """What the price command reads on stdin: the model's competing bids as buyers' routers rank them, our bid,
    standing and bounds. Amounts are strings of wei (exact in any language's JSON), scores and qualities floats."""
    assert m.bid is not None and m.bid.market is not None
    policy = m.bid.market
    cm = policy.floor_cost_model
    rate = None
    if cm is not None and not isinstance(cm.mor_usd, Fraction):
        raw = observed.refs.values.get(str(cm.mor_usd))
        try:
            rate = to_fraction(raw) if raw else None
        except (ValueError, ZeroDivisionError):
            rate = None
    floor = market_floor(policy, rate)
    current = next((b.price_per_second for b in observed.chain.active_bids(m.model_id)), None)
    return {
        "modelId": m.model_id,
        "model": m.name,
        "floor": None if floor is None else str(floor),
        "ceiling": str(policy.ceiling),
        "ours": {
            "pricePerSecond": None if current is None else str(current),
            "stake": str(stake),
            "quality": quality_of(stats, stake, market, weights),
        },
        "bidFee": str(observed.chain.market.bid_fee),
        "minStake": str(market.min_stake),
        "bids": [
            {
                "bidId": s.bid.bid_id,
                "provider": s.bid.provider,
                "pricePerSecond": str(s.bid.price_per_second),
                "stake": str(s.bid.stake),
                "quality": s.quality,
                "score": s.score,
                "rank": s.rank,
            }
            for s in rank_market(market, weights)
        ],
    }
