"""Plans speak in types: subjects and values, never ids parsed back; saved plans from before still read."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.plan.codec import plan_from_json, plan_to_json
from reconciler.plan.model import (
    ActionKind,
    Allowance,
    BidRef,
    BidValues,
    ModelRef,
    Plan,
    ProviderRef,
    ProxyEntryRef,
    ProxyFile,
    ProxyFileRef,
    Status,
)
from reconciler.plan.planner import plan
from reconciler.plan.simulate import simulate
from reconciler.render.text import render_text
from tests.support.planfactory import desired_from, observed

ROOT = Path(__file__).resolve().parents[2]
# an id taken apart (`a.id.split(":")`, `.partition`, `.startswith("proxy.")`...) or one built (`id=f"..."`)
ID_HANDLING = re.compile(
    r"\.id\.(split|rsplit|partition|rpartition|startswith|endswith)\(|\bid=f[\"']|\[\"id\"\]\.split"
)


def removal_world() -> tuple[Plan, Plan]:
    """(the plan from nothing, the plan that removes one model once the first ran)."""
    d = desired_from()
    first = plan(d, observed())
    gone = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    return first, plan(gone, simulate(observed(), first))


def test_no_code_outside_plan_builds_or_parses_an_action_id() -> None:
    offenders = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        if path.parent.name == "plan":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if ID_HANDLING.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_id_pattern_catches_what_it_is_meant_to() -> None:
    assert ID_HANDLING.search('bid_id = a.id.split(":", 1)[1]')
    assert ID_HANDLING.search('if a.id.startswith("proxy.remove"):')
    assert ID_HANDLING.search('Action(id=f"bid.post:{m}")')
    assert not ID_HANDLING.search("self.inflight[a.id] = rec")


def test_values_are_typed_and_after_is_their_plain_form() -> None:
    first, removal = removal_world()
    approve = next(a for a in first.actions if a.kind is ActionKind.MOR_APPROVE)
    assert isinstance(approve.value, Allowance) and approve.after == approve.value.as_after()
    post = next(a for a in first.actions if a.kind is ActionKind.BID_POST)
    assert isinstance(post.value, BidValues) and post.value.price_per_second == post.after["pricePerSecond"]  # type: ignore[index]
    assert post.subject.model_id == post.value.model_id
    remove = next(a for a in removal.pending if a.kind is ActionKind.PROXY_REMOVE)
    assert remove.subject.proxy is ProxyFile.FORWARDER and remove.subject.model_id is not None
    assert remove.verb == "delete" and remove.after is None
    delete = next(a for a in removal.pending if a.kind is ActionKind.BID_DELETE)
    assert delete.subject.bid_id == delete.before["bidId"]  # type: ignore[index]


def test_a_plan_saved_before_subjects_reads_the_same() -> None:
    for p in removal_world():
        data = json.loads(json.dumps(plan_to_json(p)))
        for a in data["actions"]:  # the file as format_version 1 wrote it before this change
            del a["subject"]
            if a["kind"] == "proxy.remove":
                a["kind"] = "proxy.write-config"
        old = plan_from_json(data)
        assert [(a.kind, a.value, a.after) for a in old.actions] == [(a.kind, a.value, a.after) for a in p.actions]
        assert old == p


SUBJECT_OF = {
    ActionKind.MOR_APPROVE: ProviderRef,
    ActionKind.PROVIDER_REGISTER: ProviderRef,
    ActionKind.PROVIDER_UPDATE: ProviderRef,
    ActionKind.PROVIDER_DEREGISTER: ProviderRef,
    ActionKind.MODEL_REGISTER: ModelRef,
    ActionKind.MODEL_UPDATE: ModelRef,
    ActionKind.MODEL_DEREGISTER: ModelRef,
    ActionKind.BID_POST: ModelRef,
    ActionKind.BID_DELETE: BidRef,
    ActionKind.PROXY_WRITE_CONFIG: ProxyFileRef,
    ActionKind.PROXY_RELOAD: ProxyFileRef,
    ActionKind.PROXY_RESTART_REQUIRED: ProxyFileRef,
    ActionKind.PROXY_REMOVE: ProxyEntryRef,
    ActionKind.PROXY_UNMANAGED: ProxyEntryRef,
}


def test_each_kind_acts_on_one_reference_type() -> None:
    golden = [
        plan_from_json(json.loads(p.read_text()))
        for p in sorted((ROOT / "tests" / "fixtures").glob("saved-plan-v*.json"))
    ]
    plans = [*removal_world(), *golden]
    seen = {a.kind for p in plans for a in p.actions}
    assert ActionKind.PROXY_UNMANAGED in seen and ActionKind.PROXY_REMOVE in seen
    for p in plans:
        for a in p.actions:
            assert type(a.subject) is SUBJECT_OF[a.kind], a.id


def test_an_unmanaged_entry_is_a_kind_of_its_own_shown_and_saved_as_before() -> None:
    for p in removal_world():
        data = plan_to_json(p)
        for a, saved in zip(p.actions, data["actions"], strict=True):
            assert saved["kind"] == a.kind.shown
    data = json.loads((ROOT / "tests" / "fixtures" / "saved-plan-v1-create.json").read_text())
    kept = next(a for a in plan_from_json(data).actions if a.status is Status.UNMANAGED)
    assert kept.kind is ActionKind.PROXY_UNMANAGED and not kept.pending and kept.verb == "update"
    assert kept.kind.shown == "proxy.write-config" and f"? proxy.write-config {kept.target}" in render_text(
        plan_from_json(data), color=False
    )
