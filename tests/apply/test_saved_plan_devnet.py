"""Saved plans written by format_version 1 still apply: the golden files in tests/fixtures/ were written by
`reconcile plan --out` at commit 28ae66a (before the plan model was split into one reference type per subject)
and stand for what v1 wrote; never regenerate them with newer code (tests/plan/test_codec.py reads them too).

They were made by this module's devnet test with RECONCILE_WRITE_GOLDEN=1 (the same steps, saving each plan
instead of only reading it). The steps are deterministic: anvil's well-known accounts and the same deployment
give the same addresses and ids, and the blocks after the deployment get fixed timestamps (T0, T0+1, ...), so
the state each plan was made against, and its fingerprint, come back exactly.

Stage 1 (from nothing, one undeclared forwarder entry): mor.approve, provider.register, model.register, the
forwarder's write and reload, bid.post, and the unmanaged entry. Stage 2 (after stage 1): mor.approve,
provider.update, model.update, model.register, model.deregister, bid.post (new and a repost), bid.delete,
proxy.remove, the forwarder's write and reload, and the unmanaged entry.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.devnet import local as devnet
from reconciler.pipeline import make_plan
from reconciler.plan.codec import plan_from_json
from reconciler.plan.model import Action, Plan
from tests.support.apply_helpers import DevnetCase, example_in, forwarder_process
from tests.support.fwd_helpers import ADMIN_TOKEN
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet  # anvil, started here (not through a tests/conftest.py fixture)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = {1: FIXTURES / "saved-plan-v1-create.json", 2: FIXTURES / "saved-plan-v1-change.json"}
WRITE = os.environ.get("RECONCILE_WRITE_GOLDEN") == "1"
T0 = 2_000_000_000  # the first block after the deployment; each later block one second on
UNDECLARED = {
    "modelId": "0x" + "ab" * 32,
    "modelName": "kept-by-hand",
    "apiType": "openai",
    "apiUrl": "http://127.0.0.1:8099/v1/chat/completions",
    "apiKey": "a-key-set-by-hand",
}
# stage 2's desired state: the endpoint moves, chat's stake and price rise, embeddings go, a second chat comes
STAGE_2 = [
    ("endpoint: 127.0.0.1:3333", "endpoint: 127.0.0.1:3334"),
    ('    stake: "0.1 MOR"\n    fee: "0 MOR"', '    stake: "0.2 MOR"\n    fee: "0 MOR"'),
    ('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"'),
    ("    upstreamModel: text-embedding-3-small\n", "    upstreamModel: text-embedding-3-small\n    absent: true\n"),
    (
        "\nproxy:\n",
        "  - name: demo-chat-2\n    upstream: local-stub\n    upstreamModel: qwen-2.5\n    endpoint: chat\n"
        '    stake: "0.1 MOR"\n    concurrentSlots: 2\n    bid:\n      pricePerSecond: "0.01 MOR"\n\nproxy:\n',
    ),
]


def golden(stage: int) -> dict[str, Any]:
    return dict(json.loads(GOLDEN[stage].read_text()))


@dataclass
class Golden:
    case: DevnetCase
    env: dict[str, str]

    def reconcile(self, *args: str) -> tuple[int, str]:
        r = self.case.reconcile(*args, extra_env=self.env)
        return r.returncode, r.stdout + r.stderr

    def fresh(self) -> Plan:
        return make_plan(self.case.yaml, {**os.environ, **self.case.env(**self.env)})[1]


@asynccontextmanager
async def reproduced(tmp_path: Path) -> AsyncIterator[Golden]:
    """The devnet, desired state and running forwarder the golden plans were made against."""
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = await asyncio.to_thread(devnet.up, d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        for method, params in (("evm_setNextBlockTimestamp", [T0]), ("anvil_setBlockTimestampInterval", [1])):
            case.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        port, admin = free_port(), free_port()
        case.edit(
            "proxy:\n",
            f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN\n",
        )
        config = work / "forwarder-models.json"
        config.write_text(json.dumps({"models": [UNDECLARED]}, indent=2) + "\n")
        config.chmod(0o600)
        async with forwarder_process(config, port, admin):
            yield Golden(case, {"MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN})
    finally:
        await asyncio.to_thread(devnet.down, d)


def _same_actions(saved: tuple[Action, ...], fresh: tuple[Action, ...]) -> None:
    """What apply compares, and more: everything but the targets (they name this run's paths and ports)."""

    def key(a: Action) -> Any:
        return (a.id, a.kind, a.status, a.subject, a.value, a.before, a.after, a.cost.fee, a.cost.stake, a.depends_on)

    assert [key(a) for a in saved] == [key(a) for a in fresh]


async def test_the_golden_plans_apply_on_the_state_they_were_made_against(tmp_path: Path) -> None:
    async with reproduced(tmp_path) as g:
        for stage in sorted(GOLDEN):
            if stage == 2:
                for old, new in STAGE_2:
                    g.case.edit(old, new)
            if WRITE:
                code, out = await asyncio.to_thread(g.reconcile, "plan", str(g.case.yaml), "--out", str(GOLDEN[stage]))
                assert code == 0, out
            saved, fresh = plan_from_json(golden(stage)), await asyncio.to_thread(g.fresh)
            assert saved.observed_fingerprint == fresh.observed_fingerprint
            _same_actions(saved.actions, fresh.actions)
            args = ("apply", "--plan", str(GOLDEN[stage]), str(g.case.yaml), "--auto-approve")
            code, out = await asyncio.to_thread(g.reconcile, *args, "--state-dir", str(g.case.state))
            assert code == 0 and "converged" in out, out
        code, out = await asyncio.to_thread(g.reconcile, "plan", str(g.case.yaml), "--detailed-exitcode")
        assert code == 0, out
