"""A fleet's plan for people (issue 30): one text report grouped by provider with a fleet summary per network,
and one pull-request comment holding every provider, each truncated on its own when the comment would be too
long; a provider whose network could not be read is shown with its error."""

from __future__ import annotations

from dataclasses import replace

from reconciler.plan.fleet import FleetPlan, MemberPlan
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, render_fleet_markdown
from reconciler.render.text import render_fleet_text
from tests.support.planfactory import desired_from, empty_chain, observed, overflowing_actions


def _plans() -> tuple[Plan, Plan, Plan]:
    base = desired_from(**{"preset: base-sepolia": "preset: base"})
    sepolia = desired_from()
    a = plan(base, observed(empty_chain(chain_id=8453)))
    b = plan(base, observed(empty_chain(chain_id=8453)))
    c = plan(sepolia, observed())
    return a, b, c


def _fleet(with_failure: bool = False) -> FleetPlan:
    a, b, c = _plans()
    members = [MemberPlan("alpha", "base", a), MemberPlan("beta", "base", b)]
    if with_failure:
        members.append(MemberPlan("gamma", "base-sepolia", None, "env:SEPOLIA_RPC_URL: the RPC node did not answer"))
    else:
        members.append(MemberPlan("gamma", "base-sepolia", c))
    return FleetPlan(tuple(members))


def test_text_groups_by_provider_and_sums_fees_stakes_and_gas_per_network() -> None:
    fleet = _fleet()
    a, b, c = _plans()  # equal to the fleet's
    text = render_fleet_text(fleet)
    heads = [text.index(f"== provider {name} ") for name in ("alpha", "beta", "gamma")]
    assert heads == sorted(heads)
    assert text.count("Plan: 5 to create, 2 to update") == 3  # each provider's own summary line
    totals = fleet.totals()
    assert [t.network for t in totals] == ["base", "base-sepolia"]
    base, sepolia = totals
    assert base.providers == 2 and sepolia.providers == 1
    assert base.fees == a.summary().fees + b.summary().fees and base.stake == 2 * a.summary().stake
    assert base.gas == a.summary().gas + b.summary().gas and sepolia.gas == c.summary().gas
    tail = text[text.index("Fleet:") :]
    assert "base: 2 providers" in tail and "base-sepolia: 1 provider" in tail
    assert "fees 1.2 MOR" in tail and "fees 0.6 MOR" in tail  # 0.6 MOR of bid fees per provider
    assert tail.rstrip().splitlines()[-1].startswith("Fleet plan: 15 to create, 6 to update, 0 to delete")
    assert fleet.pending and not fleet.failed and not fleet.has_errors


def test_a_failed_network_shows_its_providers_error_and_the_others() -> None:
    from reconciler.render.markdown import render_fleet_markdown

    fleet = _fleet(with_failure=True)
    text = render_fleet_text(fleet)
    assert "== provider gamma" in text and "error: env:SEPOLIA_RPC_URL: the RPC node did not answer" in text
    assert text.count("Plan: 5 to create") == 2
    assert "1 provider could not be planned: gamma" in text
    assert fleet.has_errors and [m.name for m in fleet.failed] == ["gamma"]
    md = render_fleet_markdown(fleet)
    assert "`gamma`" in md and "could not be planned" in md and "SEPOLIA_RPC_URL" in md


def test_markdown_holds_every_provider_and_truncates_each_on_its_own() -> None:
    fleet = _fleet()
    md = render_fleet_markdown(fleet)
    assert md.startswith("### `reconcile plan`: fleet of 3 providers")
    for name in ("alpha", "beta", "gamma"):
        assert f"| `{name}` |" in md  # the summary table
        assert f"#### provider `{name}`" in md
    assert "truncated" not in md
    filler = overflowing_actions()
    members = list(fleet.members)
    alpha_plan = _plans()[0]
    members[0] = replace(members[0], plan=replace(alpha_plan, actions=alpha_plan.actions + filler))
    big = render_fleet_markdown(replace(fleet, members=tuple(members)))
    assert len(big) <= GITHUB_COMMENT_LIMIT
    alpha = big[big.index("#### provider `alpha`") : big.index("#### provider `beta`")]
    assert "details truncated" in alpha
    rest = big[big.index("#### provider `beta`") :]
    assert "truncated" not in rest and rest.count("All 7 actions") == 2  # the others are whole
