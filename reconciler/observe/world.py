"""Observe everything for one desired state: chain, forwarder, router, and what references resolve to."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from reconciler import DEFAULT_STATE_DIR, ReconcileError
from reconciler.chain.networks import Network
from reconciler.chain.reader import ChainReader
from reconciler.desired.model import Desired
from reconciler.desired.references import Reference, fingerprint, resolve
from reconciler.observe.measured import measured_rates
from reconciler.observe.model import ChainState, Observed, ResolvedRefs
from reconciler.observe.proxy import observe_proxy, observe_router


def resolve_refs(desired: Desired, environ: Mapping[str, str] | None = None) -> ResolvedRefs:
    """Secrets become fingerprints (or None when missing here); prices become their text value."""
    secrets: list[Reference] = [u.api_key for u in desired.upstreams if u.api_key is not None]
    if desired.proxy and desired.proxy.client_token:
        secrets.append(desired.proxy.client_token)
    fps: dict[str, str | None] = {}
    for ref in secrets:
        value = resolve(ref, environ)
        fps[str(ref)] = fingerprint(value) if value is not None else None
    values: dict[str, str | None] = {}
    for m in desired.models:
        cm = m.bid.rate_cost_model if m.bid else None
        if cm is not None and not isinstance(cm.mor_usd, Fraction):
            values[str(cm.mor_usd)] = resolve(cm.mor_usd, environ)
    return ResolvedRefs(fingerprints=fps, values=values)


def observe(
    desired: Desired,
    network: Network,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = DEFAULT_STATE_DIR,
) -> Observed:
    """`state_dir` keeps what the chain reader learned once (the registry's model ids and owners)."""
    return observe_with(ChainReader.connect(network, state_dir=state_dir), desired, environ)


def observe_with(
    reader: ChainReader, desired: Desired, environ: Mapping[str, str] | None = None, all_sessions: bool = False
) -> Observed:
    """Everything, the chain through a reader the caller keeps (`reconcile status` asks it for its endpoints'
    health after); `all_sessions` reads every session the provider ever had (what is claimable)."""
    return _observed(desired, reader.observe(desired, all_sessions=all_sessions), environ)


def observe_many(
    reader: ChainReader,
    desireds: Sequence[Desired],
    environ: Mapping[str, str] | None = None,
    all_sessions: bool = False,
) -> list[Observed | ReconcileError]:
    """Everything for several providers on the reader's network: their chain reading shared round by round
    (`ChainReader.observe_many`); a provider whose reading failed gets its error instead. `all_sessions` as for
    `observe_with`."""
    chains = reader.observe_many(desireds, all_sessions)
    return [
        chain if isinstance(chain, ReconcileError) else _observed(desired, chain, environ)
        for desired, chain in zip(desireds, chains, strict=True)
    ]


def _observed(desired: Desired, chain: ChainState, environ: Mapping[str, str] | None) -> Observed:
    rates, rates_note = measured_rates(desired, environ)
    return Observed(
        chain=chain,
        proxy=observe_proxy(desired, environ),
        router=observe_router(desired),
        refs=resolve_refs(desired, environ),
        now=chain.block_timestamp,
        wall_clock=int(time.time()),
        measured_tps=rates,
        measured_note=rates_note,
    )
