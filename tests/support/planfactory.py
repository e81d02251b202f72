"""Builders for planner tests: a desired state from YAML text and an observed world as plain values."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.references import fingerprint
from reconciler.observe.model import ChainState, MarketParams, Observed, ResolvedRefs
from reconciler.plan.model import Action, ActionKind, ProxyFile, ProxyFileRef

MOR = 10**18
PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SIGNER_DELEGATE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
MARKET = MarketParams(
    provider_min_stake=2 * MOR // 10,
    model_min_stake=MOR // 10,
    bid_fee=3 * MOR // 10,
    min_price_per_second=5 * 10**15,
    max_price_per_second=2 * 10**19,
)
NOW = 1_800_000_000

BASE_YAML = f"""
network:
  preset: base-sepolia
  rpcUrl: env:RPC
signer:
  address: "{PROVIDER}"
  privateKey: env:SIGNER_KEY
provider:
  address: "{PROVIDER}"
  endpoint: provider.example.com:3333
  stake: "0.2 MOR"
upstreams:
  venice:
    baseUrl: https://api.venice.ai/api/v1
    apiKey: env:VENICE_API_KEY
    resaleAllowed: true
models:
  - name: llama
    upstream: venice
    upstreamModel: llama-3.3-70b
    stake: "0.1 MOR"
    bid:
      pricePerSecond: "0.01 MOR"
  - name: qwen
    upstream: venice
    upstreamModel: qwen-2.5
    stake: "0.1 MOR"
    bid:
      pricePerSecond: "0.02 MOR"
proxy:
  modelsConfigPath: /tmp/never-written/forwarder.json
policy:
  maxSpendPerApply: "10 MOR"
"""

VENICE_KEY = "venice-test-key"


def desired_from(text: str = BASE_YAML, **replacements: str) -> Desired:
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "state.yaml"
        p.write_text(text)
        desired, _ = load_desired(p)
    return desired


def empty_chain(**kw: Any) -> ChainState:
    base: dict[str, Any] = dict(
        chain_id=84532,
        block_number=100,
        block_hash="0x" + "ab" * 32,
        block_timestamp=NOW,
        market=MARKET,
        provider=None,
        payer_balance=1000 * MOR,
        payer_allowance=0,
        signer_eth_balance=10**18,
        fee_per_gas=10**9,
    )
    base.update(kw)
    return ChainState(**base)


def refs(**extra: str | None) -> ResolvedRefs:
    fps: dict[str, str | None] = {"env:VENICE_API_KEY": fingerprint(VENICE_KEY)}
    fps.update({k: v for k, v in extra.items()})
    return ResolvedRefs(fingerprints=fps)


def observed(chain: ChainState | None = None, **kw: Any) -> Observed:
    kw.setdefault("refs", refs())
    kw.setdefault("now", NOW)
    return Observed(chain=chain or empty_chain(), **kw)


def overflowing_actions(count: int = 2000, *, with_values: bool = False) -> tuple[Action, ...]:
    """Proxy reloads with long reasons, enough to carry a plan's Markdown past a pull-request comment's limit;
    `with_values`: each with a before and an after too."""
    return tuple(
        Action(
            id=f"proxy.x{i}",
            kind=ActionKind.PROXY_RELOAD,
            target=f"t{i}",
            reason="r" * 200,
            subject=ProxyFileRef(ProxyFile.FORWARDER),
            **({"before": {"a": i}, "after": {"a": i + 1}} if with_values else {}),
        )
        for i in range(count)
    )
