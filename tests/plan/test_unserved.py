"""policy.unserved: with `withdraw`, the bids of models nothing serves are deleted after a grace period and posted
again only once the model has been served for a declared time; with `alert` (the default) bids stay. Pure: the
watcher's memory of since when each model is (not) served is plain data given to the planner."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.loader import load_desired
from reconciler.observe.model import Observed
from reconciler.plan.context import utc
from reconciler.plan.model import ActionKind, Plan, Status
from reconciler.plan.planner import plan
from reconciler.plan.simulate import simulate
from tests.support.planfactory import BASE_YAML, MARKET, NOW, desired_from, observed

WITHDRAW = {
    'maxSpendPerApply: "10 MOR"': (
        'maxSpendPerApply: "10 MOR"\n  unserved: withdraw\n  unservedGraceSeconds: 600\n'
        "  unservedRepostAfterSeconds: 900"
    )
}
LLAMA = desired_from().models[0].model_id


def _world() -> Observed:
    """The base desired state applied: both models registered and bid on, wall clock at NOW."""
    d = desired_from()
    o = observed(wall_clock=NOW)
    return simulate(o, plan(d, o))


def _serving(down: bool, since: int):  # type: ignore[no-untyped-def]
    from reconciler.plan.unserved import Serving, Since

    return Serving(forwarder=Since(down=down, at=since))


def _bid_actions(p: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.status.value) for a in p.actions if a.kind in (ActionKind.BID_POST, ActionKind.BID_DELETE)]


def test_the_policy_is_read_with_its_defaults_and_checked() -> None:
    assert desired_from().policy.unserved == "alert"
    p = desired_from(**WITHDRAW).policy
    assert (p.unserved, p.unserved_grace_seconds, p.unserved_repost_after_seconds) == ("withdraw", 600, 900)
    defaults = desired_from(**{'maxSpendPerApply: "10 MOR"': 'maxSpendPerApply: "10 MOR"\n  unserved: withdraw'})
    assert (defaults.policy.unserved_grace_seconds, defaults.policy.unserved_repost_after_seconds) == (600, 600)
    with pytest.raises(ValidationFailed):
        desired_from(**{'maxSpendPerApply: "10 MOR"': 'maxSpendPerApply: "10 MOR"\n  unserved: pause'})


def test_down_beyond_the_grace_deletes_the_bids_and_holds_their_posts() -> None:
    o = _world()
    d = desired_from(**WITHDRAW)
    since = NOW - 601
    p = plan(d, o, _serving(down=True, since=since))
    deletes = [a for a in p.pending if a.kind is ActionKind.BID_DELETE]
    assert len(deletes) == 2
    assert all(a.reason.startswith(f"unserved since {utc(since)}") for a in deletes)
    held = [a for a in p.actions if a.kind is ActionKind.BID_POST]
    assert [a.status for a in held] == [Status.HELD, Status.HELD]
    assert all(a.reason.startswith("held (unserved)") for a in held)
    assert all(a.cost.fee == MARKET.bid_fee for a in held)
    # applied: nothing is pending any more while it stays down, the posts are held
    after = simulate(o, p)
    again = plan(d, after, _serving(down=True, since=since))
    assert again.pending == () and _bid_actions(again) == [("bid.post", "held"), ("bid.post", "held")]


def test_down_within_the_grace_changes_nothing() -> None:
    o = _world()
    p = plan(desired_from(**WITHDRAW), o, _serving(down=True, since=NOW - 599))
    assert p.pending == () and _bid_actions(p) == []


def test_the_default_alert_policy_keeps_the_bids() -> None:
    o = _world()
    p = plan(desired_from(), o, _serving(down=True, since=NOW - 86_400))
    assert p.pending == () and _bid_actions(p) == []


def _withdrawn() -> Observed:
    """The world after the bids were withdrawn."""
    o = _world()
    d = desired_from(**WITHDRAW)
    return simulate(o, plan(d, o, _serving(down=True, since=NOW - 3600)))


def test_up_again_but_not_long_enough_holds_the_post_saying_what_it_costs() -> None:
    o = _withdrawn()
    up_since = NOW - 300
    p = plan(desired_from(**WITHDRAW), o, _serving(down=False, since=up_since))
    assert p.pending == ()
    posts = [a for a in p.actions if a.kind is ActionKind.BID_POST]
    assert len(posts) == 2 and all(a.status is Status.HELD for a in posts)
    post = next(a for a in posts if LLAMA in a.id)
    assert post.reason.startswith("held (unserved)")
    assert post.until == up_since + 900
    assert "0.3 MOR" in post.reason  # what the repost costs: the bid fee
    assert post.cost.fee == MARKET.bid_fee


def test_up_long_enough_posts_the_bids_again() -> None:
    o = _withdrawn()
    p = plan(desired_from(**WITHDRAW), o, _serving(down=False, since=NOW - 900))
    assert [a.kind for a in p.pending if a.kind is ActionKind.BID_POST] == [ActionKind.BID_POST] * 2


def test_a_model_of_its_own_down_is_withdrawn_alone() -> None:
    from reconciler.plan.unserved import Serving, Since

    o = _world()
    serving = Serving(forwarder=None, models={LLAMA: Since(down=True, at=NOW - 3600)})
    p = plan(desired_from(**WITHDRAW), o, serving)
    deletes = [a for a in p.pending if a.kind is ActionKind.BID_DELETE]
    assert len(deletes) == 1 and deletes[0].subject.model_id == LLAMA  # type: ignore[union-attr]


def test_without_memory_the_plan_is_unchanged() -> None:
    o = replace(_world(), wall_clock=NOW + 10**6)
    assert plan(desired_from(**WITHDRAW), o).actions == ()


def test_a_grace_without_withdraw_is_a_warning(tmp_path: Path) -> None:
    text = BASE_YAML.replace('maxSpendPerApply: "10 MOR"', 'maxSpendPerApply: "10 MOR"\n  unservedGraceSeconds: 60')
    (tmp_path / "state.yaml").write_text(text)
    _desired, warnings = load_desired(tmp_path / "state.yaml")
    assert any(
        "policy.unservedGraceSeconds has no effect unless policy.unserved is withdraw" in str(w) for w in warnings
    )
