"""The pure planner, without a chain: creates, updates, deletes, order, costs, guards, drain, proxy."""

from __future__ import annotations

import re
from dataclasses import replace

from reconciler.desired.modelsconfig import forwarder_entries
from reconciler.desired.references import fingerprint
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
from reconciler.plan.gas import GAS_BY_KIND
from reconciler.plan.model import ActionKind, Plan, Status
from reconciler.plan.planner import plan
from reconciler.plan.simulate import simulate
from tests.support.planfactory import (
    MOR,
    NOW,
    PROVIDER,
    SIGNER_DELEGATE,
    VENICE_KEY,
    desired_from,
    empty_chain,
    observed,
    refs,
)


def kinds(p: Plan, status: Status | None = Status.PENDING) -> list[str]:
    return [a.kind.value for a in p.actions if status is None or a.status is status]


def converged_world(desired_text: str | None = None):  # type: ignore[no-untyped-def]
    d = desired_from() if desired_text is None else desired_from(desired_text)
    o = observed()
    p = plan(d, o)
    return d, simulate(o, p)


def test_from_nothing_creates_in_order_with_costs() -> None:
    d = desired_from()
    p = plan(d, observed())
    assert kinds(p) == [
        "mor.approve",
        "provider.register",
        "model.register",
        "model.register",
        "proxy.write-config",
        "bid.post",
        "bid.post",
    ]
    s = p.summary()
    assert (s.create, s.update, s.delete) == (5, 2, 0)
    assert s.fees == 2 * 3 * MOR // 10
    assert s.stake == 2 * MOR // 10 + 2 * MOR // 10
    approve = p.actions[0]
    assert approve.after is not None and approve.after["allowance"] == s.fees + s.stake
    assert s.gas == sum(GAS_BY_KIND[a.kind] for a in p.actions if a.kind in GAS_BY_KIND)
    assert s.gas_wei == s.gas * 10**9
    bid = next(a for a in p.actions if a.kind is ActionKind.BID_POST)
    assert "proxy.write-config:forwarder" in bid.depends_on
    assert any(dep.startswith("model.register") for dep in bid.depends_on)
    assert not p.has_errors


def test_converged_world_has_nothing_pending() -> None:
    d, o = converged_world()
    p = plan(d, o)
    assert p.pending == ()
    assert p.actions == ()


def test_price_change_is_one_post_that_replaces_the_bid() -> None:
    _d, o = converged_world()
    d2 = desired_from(**{'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.012 MOR"'})
    o = replace(o, now=NOW + 7200)
    p = plan(d2, o)
    assert kinds(p) == ["mor.approve", "bid.post"]
    post = p.pending[1]
    assert (
        post.before is not None
        and "replaces bid" in post.reason
        and "pays the" in post.reason
        and "(kept by the marketplace)" in post.reason
    )
    assert post.cost.fee == 3 * MOR // 10


def test_churn_guard_holds_small_and_early_changes() -> None:
    _d, o = converged_world()
    small = desired_from(**{'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.0104 MOR"'})
    p = plan(small, replace(o, now=NOW + 7200))
    assert kinds(p) == [] and kinds(p, Status.HELD) == ["bid.post"]
    assert "4.00%" in p.actions[0].reason
    early = desired_from(**{'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.02 MOR"'})
    p = plan(early, replace(o, now=NOW + 60))
    held = p.actions[0]
    assert held.status is Status.HELD and held.until == NOW + 3600


def test_stake_decrease_is_an_error() -> None:
    d, o = converged_world()
    chain = replace(o.chain, provider=replace(o.chain.provider, stake=MOR))  # type: ignore[arg-type]
    p = plan(d, replace(o, chain=chain))
    assert p.has_errors
    action = next(a for a in p.actions if a.kind is ActionKind.PROVIDER_UPDATE)
    assert "cannot decrease" in action.errors[0]


def test_stake_increase_adds_the_difference() -> None:
    _d, o = converged_world()
    d2 = desired_from(**{'  stake: "0.2 MOR"': '  stake: "0.5 MOR"'})
    p = plan(d2, o)
    up = next(a for a in p.pending if a.kind is ActionKind.PROVIDER_UPDATE)
    assert up.cost.stake == 3 * MOR // 10


def test_min_stake_price_bounds_balance_errors() -> None:
    d = desired_from(
        **{
            '  stake: "0.2 MOR"': '  stake: "0.1 MOR"',
            'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.001 MOR"',
            'stake: "0.1 MOR"\n    bid:\n      pricePerSecond: "0.02 MOR"': 'stake: "0.05 MOR"\n    bid:\n      pricePerSecond: "0.02 MOR"',
        }
    )
    p = plan(d, observed(empty_chain(payer_balance=MOR // 10)))
    errors = {a.kind.value: a.errors for a in p.actions if a.errors}
    assert "below the provider minimum" in errors["provider.register"][0]
    assert "outside the on-chain bounds" in errors["bid.post"][0]
    assert "below the model minimum" in errors["model.register"][0]
    assert "holds 0.1 MOR" in errors["mor.approve"][0]
    assert p.has_errors


def test_delegate_mode_approve_is_manual_and_rights_are_checked() -> None:
    d = desired_from(**{f'  address: "{PROVIDER}"\n  privateKey': f'  address: "{SIGNER_DELEGATE}"\n  privateKey'})
    assert d.delegate_mode
    chain = empty_chain(delegation={"provider": True, "model": True, "marketplace": False})
    p = plan(d, observed(chain))
    approve = next(a for a in p.actions if a.kind is ActionKind.MOR_APPROVE)
    assert approve.status is Status.MANUAL and "reconcile approve" in approve.reason
    posts = [a for a in p.actions if a.kind is ActionKind.BID_POST]
    assert all("marketplace" in a.errors[0] for a in posts)
    assert not next(a for a in p.actions if a.kind is ActionKind.PROVIDER_REGISTER).errors


def test_a_standing_allowance_is_asked_once_and_covers_later_spends() -> None:
    standing = desired_from(
        **{'  maxSpendPerApply: "10 MOR"\n': '  maxSpendPerApply: "10 MOR"\n  allowance: "25 MOR"\n'}
    )
    assert standing.policy.standing_allowance == 25 * MOR and desired_from().policy.standing_allowance is None
    p = plan(standing, observed())
    approve = next(a for a in p.actions if a.kind is ActionKind.MOR_APPROVE)
    assert approve.after is not None and approve.after["allowance"] == 25 * MOR
    assert "standing 25 MOR" in approve.reason
    # after the apply, 25 MOR less what it spent is left: a later spend needs no approve
    o = simulate(observed(), p)
    assert o.chain.payer_allowance == 25 * MOR - p.summary().mor_out
    policy = (
        '  maxSpendPerApply: "10 MOR"\n  bidChurn: {minPriceChangePercent: 0, minRepostIntervalSeconds: 0, reason: t}\n'
    )
    for allowance, approve_again in (('  allowance: "25 MOR"\n', False), ("  allowance: exact\n", True)):
        changed = desired_from(**{'  maxSpendPerApply: "10 MOR"\n': policy + allowance, '"0.01 MOR"': '"0.015 MOR"'})
        later = plan(changed, o if not approve_again else replace(o, chain=replace(o.chain, payer_allowance=0)))
        assert "bid.post" in kinds(later)
        assert ("mor.approve" in kinds(later)) is approve_again


def test_absent_model_deletes_bid_then_model_then_leaves_proxy() -> None:
    _d, o = converged_world()
    d2 = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    p = plan(d2, o)
    assert kinds(p) == ["bid.delete", "proxy.remove", "model.deregister"]
    remove, dereg = p.pending[1], p.pending[2]
    assert remove.id.startswith("proxy.remove:forwarder:") and p.pending[0].id in remove.depends_on
    assert dereg.cost.stake == -(MOR // 10)
    assert p.pending[0].id in dereg.depends_on


def test_live_sessions_keep_a_deleted_model_in_the_proxy() -> None:
    d, o = converged_world()
    qwen = d.models[1].model_id
    bids = tuple(
        replace(b, live_sessions=(LiveSession("0x" + "01" * 32, NOW + 600),)) if b.model_id == qwen else b
        for b in o.chain.bids
    )
    o = replace(o, chain=replace(o.chain, bids=bids))
    d2 = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    p = plan(d2, o)
    assert kinds(p) == ["bid.delete", "model.deregister"]
    draining = [a for a in p.actions if a.status is Status.DRAINING]
    assert len(draining) == 1 and draining[0].until == NOW + 600 and "draining until" in draining[0].reason
    after = simulate(o, p)
    p2 = plan(d2, after)
    assert p2.pending == () and [a.status for a in p2.actions] == [Status.DRAINING]
    p3 = plan(d2, replace(after, now=NOW + 601))
    assert kinds(p3) == ["proxy.remove"]


def test_unmanaged_models_and_bids_are_reported_or_pruned() -> None:
    d, o = converged_world()
    stray = ids.model_id(PROVIDER, "0x" + "77" * 32)
    bid = ids.bid_id(PROVIDER, stray, 0)
    chain = replace(
        o.chain,
        models=(*o.chain.models, ModelState(stray, PROVIDER, "by-hand", ("llm",), 0, MOR // 10)),
        bids=(*o.chain.bids, BidState(bid, PROVIDER, stray, 10**16, 0, NOW - 10)),
    )
    o = replace(o, chain=chain)
    p = plan(d, o)
    assert p.pending == () and kinds(p, Status.UNMANAGED) == ["bid.delete", "model.deregister"]
    pruned = desired_from(**{'  maxSpendPerApply: "10 MOR"': '  maxSpendPerApply: "10 MOR"\n  prune: true'})
    p = plan(pruned, o)
    assert kinds(p) == ["bid.delete", "model.deregister"]


def test_allow_empty_guard() -> None:
    _d, o = converged_world()
    text = desired_from.__defaults__[0]  # type: ignore[index]
    emptied = text.replace('    bid:\n      pricePerSecond: "0.01 MOR"\n', "    absent: true\n").replace(
        '    bid:\n      pricePerSecond: "0.02 MOR"\n', "    absent: true\n"
    )
    p = plan(desired_from(emptied), o)
    assert any("delete every model and bid" in e for e in p.errors)
    allowed = emptied.replace('  maxSpendPerApply: "10 MOR"', '  maxSpendPerApply: "10 MOR"\n  allowEmpty: true')
    assert not plan(desired_from(allowed), o).errors


def test_budget_error() -> None:
    d = desired_from(**{'  maxSpendPerApply: "10 MOR"': '  maxSpendPerApply: "0.5 MOR"'})
    p = plan(d, observed())
    assert any("maxSpendPerApply" in e for e in p.errors)


def test_proxy_key_rotation_and_unknown_key() -> None:
    d, o = converged_world()
    rotated = replace(o, refs=refs(**{"env:VENICE_API_KEY": fingerprint("new-key")}))
    p = plan(d, rotated)
    assert kinds(p) == ["proxy.write-config"]
    assert "apiKey fingerprint" in p.actions[0].reason
    assert "new-key" not in repr(p) and VENICE_KEY not in repr(p)
    unknown = replace(o, refs=refs(**{"env:VENICE_API_KEY": None}))
    p = plan(d, unknown)
    assert p.pending == ()
    assert any("fingerprint is unknown" in w for w in p.warnings)


def test_admin_api_reload_when_forwarder_serves_old_version() -> None:
    d = desired_from(
        **{
            "  modelsConfigPath: /tmp/never-written/forwarder.json": "  modelsConfigPath: /tmp/never-written/forwarder.json\n"
            "  adminUrl: http://127.0.0.1:9\n  adminToken: env:ADMIN"
        }
    )
    o = observed(proxy=ForwarderState(admin_configured=True, reachable=True))
    p = plan(d, o)
    assert "proxy.reload" in kinds(p)
    after = simulate(o, p)
    stale = replace(after, proxy=replace(after.proxy, served=ModelsConfigState("admin", True, "0" * 64)))
    p2 = plan(d, stale)
    assert kinds(p2) == ["proxy.reload"] and "serves version" in p2.actions[0].reason
    assert after.proxy.file is not None  # the reload line shows the version to be served, not the replaced one
    assert p2.actions[0].after == {"version": after.proxy.file.version}
    unreachable = replace(after, proxy=replace(after.proxy, reachable=False, note="connection refused"))
    p3 = plan(d, unreachable)
    assert p3.pending == () and not p3.proxy_observed
    assert any("could not be reached" in w for w in p3.warnings)


ROUTER = """  modelsConfigPath: /tmp/never-written/forwarder.json
  clientToken: env:CLIENT_TOKEN
  forwarderUrl: http://127.0.0.1:8090
  router:
    modelsConfigPath: /tmp/never-written/router.json
    url: http://127.0.0.1:8082"""


def test_router_without_reload_holds_new_bids_until_restart() -> None:
    d = desired_from(**{"  modelsConfigPath: /tmp/never-written/forwarder.json": ROUTER})
    o = observed(router=RouterState(loaded_model_ids=frozenset()), refs=refs(**{"env:CLIENT_TOKEN": "c0ffee"}))
    p = plan(d, o)
    assert kinds(p, Status.RESTART_REQUIRED) == ["proxy.restart-required"]
    assert kinds(p, Status.HELD) == ["bid.post", "bid.post"]
    assert all("waiting for the router" in a.reason for a in p.actions if a.status is Status.HELD)
    router_write = next(a for a in p.pending if a.id == "proxy.write-config:router")
    entry = router_write.after["entries"][0]  # type: ignore[index]
    assert entry["modelName"] == entry["modelId"] and entry["apiUrl"] == "http://127.0.0.1:8090/v1/chat/completions"
    after = simulate(o, p)
    still = plan(d, after)
    assert kinds(still, Status.RESTART_REQUIRED) == ["proxy.restart-required"]
    assert any("has not loaded 2 model(s)" in a.reason for a in still.actions)
    loaded = frozenset(m.model_id for m in d.models)
    p2 = plan(d, replace(after, router=replace(after.router, loaded_model_ids=loaded)))
    assert kinds(p2) == ["mor.approve", "bid.post", "bid.post"]


def test_cost_model_with_mor_usd_reference() -> None:
    text = desired_from.__defaults__[0]  # type: ignore[index]
    text = text.replace(
        '      pricePerSecond: "0.01 MOR"\n',
        "      costModel:\n        subscription: {usdPerMonth: 100, utilizedSecondsPerMonth: 1000}\n"
        "        morUsd: env:MOR_USD\n",
    )
    d = desired_from(text)
    p = plan(d, observed())
    post = next(a for a in p.actions if a.kind is ActionKind.BID_POST)
    assert "morUsd reference env:MOR_USD has no value" in post.errors[0]
    o = observed(refs=replace(refs(), values={"env:MOR_USD": "4"}))
    p = plan(d, o)
    post = next(a for a in p.actions if a.kind is ActionKind.BID_POST)
    assert post.after is not None and post.after["pricePerSecond"] == 25 * 10**15  # 0.1 USD/s / 4
    assert any("projected yearly earnings" in w for w in p.warnings)  # 12000 s/yr * 0.025 MOR = 300 MOR > 0.2
    stake_warning = next(w for w in p.warnings if "projected yearly earnings" in w)
    assert not re.search(r"\d\.\d{3,} MOR", stake_warning), stake_warning  # rounded up to 0.01 MOR


def test_existing_model_only_bid_and_proxy() -> None:
    foreign = "0x" + "cd" * 32
    text = desired_from.__defaults__[0]  # type: ignore[index]
    text = text.replace("  - name: qwen\n", f'  - modelId: "{foreign}"\n').replace(
        '    upstreamModel: qwen-2.5\n    stake: "0.1 MOR"\n', "    upstreamModel: qwen-2.5\n"
    )
    d = desired_from(text)
    p = plan(d, observed())
    post = next(a for a in p.actions if a.kind is ActionKind.BID_POST and a.after and a.after["modelId"] == foreign)
    assert "not an active model" in post.errors[0]
    chain = empty_chain(models=(ModelState(foreign, SIGNER_DELEGATE, "shared", ("llm",), 0, MOR // 10),))
    p = plan(d, observed(chain))
    assert kinds(p).count("model.register") == 1 and not p.has_errors


def test_forwarder_entries_shape() -> None:
    d = desired_from()
    entries = forwarder_entries(d, refs().fingerprints)
    assert entries[0].api_url == "https://api.venice.ai/api/v1/chat/completions"
    assert entries[0].model_name == "llama-3.3-70b"
    assert entries[0].api_key_fingerprint == fingerprint(VENICE_KEY)


def test_provider_update_endpoint() -> None:
    d, o = converged_world()
    chain = replace(o.chain, provider=ProviderState(PROVIDER, "old.example.com:3333", 2 * MOR // 10))
    p = plan(d, replace(o, chain=chain))
    assert kinds(p) == ["provider.update"] and "endpoint" in p.actions[0].reason
    assert p.actions[0].cost.stake == 0


def test_plan_is_deterministic() -> None:
    d = desired_from()
    o = observed()
    assert plan(d, o) == plan(d, o)


def test_low_gas_funds_warn() -> None:
    p = plan(desired_from(), observed(empty_chain(signer_eth_balance=1)))
    assert any("less than the" in w for w in p.warnings)
    assert not any("less than the" in w for w in plan(desired_from(), observed()).warnings)


def test_fingerprint_changes_when_a_bid_gains_its_first_live_session_not_with_each_session() -> None:
    from reconciler.plan.planner import observed_fingerprint

    _d, o = converged_world()
    first = o.chain.bids[0]

    def with_sessions(n: int) -> str:
        live = tuple(LiveSession(f"0x{i:064x}", NOW + 600 + i) for i in range(n))
        bids = tuple(replace(b, live_sessions=live) if b.bid_id == first.bid_id else b for b in o.chain.bids)
        return observed_fingerprint(replace(o, chain=replace(o.chain, bids=bids)))

    assert with_sessions(0) != with_sessions(1)
    assert with_sessions(1) == with_sessions(5)


def test_a_deleted_bid_with_a_live_session_keeps_both_configs_draining() -> None:
    """After the bid is gone on chain, only the session (read from the deleted bid) holds the removals."""
    text = desired_from.__defaults__[0].replace(  # type: ignore[index]
        "  modelsConfigPath: /tmp/never-written/forwarder.json", ROUTER
    )
    tokens = refs(**{"env:CLIENT_TOKEN": "c0ffee"})
    d = desired_from(text)
    loaded = RouterState(loaded_model_ids=frozenset(m.model_id for m in d.models))
    o = observed(router=loaded, refs=tokens)
    o = simulate(o, plan(d, o))
    qwen = d.models[1].model_id
    gone = tuple(
        replace(b, deleted_at=NOW, live_sessions=(LiveSession("0x" + "02" * 32, NOW + 900),))
        if b.model_id == qwen
        else b
        for b in o.chain.bids
    )
    o = replace(o, chain=replace(o.chain, bids=gone))
    d2 = desired_from(text.replace("    upstreamModel: qwen-2.5\n", "    upstreamModel: qwen-2.5\n    absent: true\n"))
    p = plan(d2, o)
    draining = {a.id: a for a in p.actions if a.status is Status.DRAINING}
    assert set(draining) == {f"proxy.remove:forwarder:{qwen}", f"proxy.remove:router:{qwen}"}
    assert all(a.until == NOW + 900 and "1 live session(s)" in a.reason for a in draining.values())
    assert not any(a.kind is ActionKind.BID_DELETE for a in p.actions)
    later = plan(d2, replace(o, now=NOW + 900))
    assert {a.id for a in later.pending if a.id.startswith("proxy.remove")} == set(draining)


def test_new_bids_are_held_when_the_router_cannot_be_checked() -> None:
    """Fail closed: the tool writes the router's file but cannot read its /healthcheck, so it cannot know the
    router serves the new models; their bids wait (a bid no router serves turns sessions into disputes)."""
    d = desired_from(**{"  modelsConfigPath: /tmp/never-written/forwarder.json": ROUTER})
    unreachable = RouterState(note="router /healthcheck unreachable (ConnectError)")
    o = observed(router=unreachable, refs=refs(**{"env:CLIENT_TOKEN": "c0ffee"}))
    p = plan(d, o)
    held = [a for a in p.actions if a.kind is ActionKind.BID_POST]
    assert [a.status for a in held] == [Status.HELD, Status.HELD]
    assert all("cannot check: router /healthcheck unreachable" in a.reason for a in held)
    after = simulate(o, p)
    assert kinds(plan(d, after), Status.HELD) == ["bid.post", "bid.post"], "still held: nothing was checked"
    loaded = frozenset(m.model_id for m in d.models)
    answering = plan(d, replace(after, router=RouterState(file=after.router.file, loaded_model_ids=loaded)))
    assert kinds(answering) == ["mor.approve", "bid.post", "bid.post"]
    # a live bid's repost is not held: the router serves that model already, only new ones are unknown
    served = simulate(after, answering)
    repriced = desired_from(
        desired_from.__defaults__[0]  # type: ignore[index]
        .replace("  modelsConfigPath: /tmp/never-written/forwarder.json", ROUTER)
        .replace('pricePerSecond: "0.01 MOR"', 'pricePerSecond: "0.02 MOR"', 1)
    )
    repost = plan(repriced, replace(served, router=unreachable, now=NOW + 7200))
    assert [a.status for a in repost.actions if a.kind is ActionKind.BID_POST] == [Status.PENDING]


def test_new_bids_warn_when_no_router_is_managed() -> None:
    p = plan(desired_from(), observed())
    posts = [a for a in p.actions if a.kind is ActionKind.BID_POST]
    assert posts and all(any("proxy-router is not managed here" in w for w in a.warnings) for a in posts)


def test_a_manual_approve_is_not_counted_among_updates() -> None:
    """Issue 21: the summary's create/update/delete count what apply would do; a manual step is counted apart."""
    d = desired_from(**{f'  address: "{PROVIDER}"\n  privateKey': f'  address: "{SIGNER_DELEGATE}"\n  privateKey'})
    rights = {"provider": True, "model": True, "marketplace": True, "session": True}
    p = plan(d, observed(empty_chain(delegation=rights)))
    s = p.summary()
    assert s.manual == 1 and s.create + s.update + s.delete == len(p.pending)
    assert "mor.approve" not in {a.id for a in p.pending}
