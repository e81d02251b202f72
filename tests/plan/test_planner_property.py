"""Property: planning against the state a plan describes yields no pending actions (plan is idempotent)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.desired.model import (
    BidSpec,
    ChurnGuard,
    Desired,
    ModelSpec,
    NetworkSpec,
    PolicySpec,
    ProviderSpec,
    ProxySpec,
    RouterSpec,
    SignerSpec,
    UpstreamSpec,
)
from reconciler.desired.modelsconfig import forwarder_entries
from reconciler.desired.references import Reference
from reconciler.market import ids
from reconciler.observe.model import (
    BidState,
    ForwarderState,
    LiveSession,
    ModelsConfigState,
    ModelState,
    ProviderState,
    RouterState,
)
from reconciler.plan.planner import plan
from reconciler.plan.simulate import simulate
from tests.support.planfactory import MARKET, MOR, NOW, PROVIDER, VENICE_KEY, empty_chain, observed, refs

OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
prices = st.integers(MARKET.min_price_per_second, MARKET.min_price_per_second * 10)
stakes = st.integers(MARKET.model_min_stake, 3 * MARKET.model_min_stake)


@st.composite
def model_specs(draw: st.DrawFn, i: int) -> ModelSpec:
    managed = draw(st.booleans()) or i == 0
    base = "0x" + f"{i + 1:064x}"
    mid = ids.model_id(PROVIDER, base) if managed else "0x" + f"{i + 1000:064x}"
    bid = draw(st.one_of(st.none(), prices.map(lambda p: BidSpec(price_per_second=p))))
    return ModelSpec(
        key=f"m{i}" if managed else mid,
        model_id=mid,
        managed=managed,
        name=f"m{i}",
        base_model_id=base if managed else None,
        fee=draw(st.sampled_from([0, 10**15])) if managed else 0,
        stake=draw(stakes) if managed else 0,
        tags=draw(st.sampled_from([("llm",), ("llm", "fast")])) if managed else (),
        upstream="up",
        upstream_model=f"upstream-{i}-{draw(st.sampled_from(['a', 'b']))}",
        concurrent_slots=draw(st.sampled_from([None, 0, 2])),
        bid=bid,
        absent=draw(st.booleans()),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Desired, object]:
    n = draw(st.integers(0, 4))
    models = tuple(draw(model_specs(i)) for i in range(n))
    desired = Desired(
        network=NetworkSpec("base-sepolia", None, None, None, Reference("env", "RPC")),
        signer=SignerSpec(PROVIDER, Reference("env", "K")),
        provider=ProviderSpec(PROVIDER, "p.example.com:3333", draw(st.integers(2, 6)) * MOR // 10),
        upstreams=(UpstreamSpec("up", "https://up.example/v1", Reference("env", "VENICE_API_KEY")),),
        models=models,
        proxy=ProxySpec("/tmp/never/forwarder.json"),
        policy=PolicySpec(
            prune=draw(st.booleans()),
            allow_empty=True,
            churn=draw(st.sampled_from([ChurnGuard(), ChurnGuard(0, 0, "test")])),
        ),
    )
    # an observed world partly matching the desired one, plus strays
    chain_models, bids, entries = [], [], []
    for m in models:
        if m.managed and draw(st.booleans()):
            chain_models.append(
                ModelState(
                    m.model_id,
                    PROVIDER,
                    draw(st.sampled_from([m.name or "x", "old-name"])),
                    m.tags,
                    m.fee,
                    draw(st.integers(MARKET.model_min_stake, m.stake)),
                    is_deleted=draw(st.booleans()),
                )
            )
        if not m.managed:
            chain_models.append(ModelState(m.model_id, OTHER, "shared", ("llm",), 0, MOR // 10))
        registered = not m.managed or (chain_models and chain_models[-1].model_id == m.model_id)
        if registered and draw(st.booleans()):
            sessions = draw(st.sampled_from([(), (LiveSession("0x" + "01" * 32, NOW + 100),)]))
            bids.append(
                BidState(
                    ids.bid_id(PROVIDER, m.model_id, 0),
                    PROVIDER,
                    m.model_id,
                    draw(prices),
                    0,
                    NOW - 10_000,
                    0,
                    sessions,
                )
            )
        if draw(st.booleans()):
            entries.append(
                forwarder_entries(replace(desired, models=(replace(m, absent=False),)), refs().fingerprints)[0]
            )
    if draw(st.booleans()):
        stray = ids.model_id(PROVIDER, "0x" + "99" * 32)
        chain_models.append(ModelState(stray, PROVIDER, "by-hand", ("llm",), 0, MOR // 10))
        bids.append(BidState(ids.bid_id(PROVIDER, stray, 0), PROVIDER, stray, 10**16, 0, NOW - 5))
    provider = draw(
        st.sampled_from(
            [None, ProviderState(PROVIDER, "old:1", 2 * MOR // 10), ProviderState(PROVIDER, "x:1", 0, is_deleted=True)]
        )
    )
    chain = empty_chain(
        provider=provider,
        models=tuple(chain_models),
        bids=tuple(bids),
        payer_allowance=draw(st.sampled_from([0, MOR, 100 * MOR])),
    )
    file = ModelsConfigState("file", True, "v0", tuple(entries)) if entries or draw(st.booleans()) else None
    admin = draw(st.booleans())
    proxy = ForwarderState(file=file, served=file if admin else None, admin_configured=admin, reachable=admin or None)
    spec = ProxySpec("/tmp/never/f.json")
    if admin:
        spec = ProxySpec("/tmp/never/f.json", "http://127.0.0.1:9", Reference("env", "A"))
    router_kind = draw(st.sampled_from(["none", "reload", "restart"]))
    router_state = RouterState()
    if router_kind != "none":
        spec = replace(
            spec,
            client_token=Reference("env", "C"),
            forwarder_url="http://127.0.0.1:8090",
            router=RouterSpec(
                "/tmp/never/r.json",
                url="http://127.0.0.1:8082",
                admin_url="http://127.0.0.1:8082" if router_kind == "reload" else None,
                admin_auth=Reference("env", "B") if router_kind == "reload" else None,
            ),
        )
        loaded = frozenset(m.model_id for m in models if draw(st.booleans()))
        router_state = RouterState(loaded_model_ids=loaded)
    desired = replace(desired, proxy=spec)
    return desired, observed(chain, proxy=proxy, router=router_state, refs=refs(**{"env:C": "c0ffeec0ffee"}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_planning_the_planned_world_leaves_nothing_pending(world: tuple[Desired, object]) -> None:
    desired, obs = world
    first = plan(desired, obs)  # type: ignore[arg-type]
    assume(not first.has_errors)
    after = simulate(obs, first)  # type: ignore[arg-type]
    second = plan(desired, after)
    assert second.pending == (), [(a.id, a.reason) for a in second.pending]
    assert not second.has_errors
    assert VENICE_KEY not in repr(first)
