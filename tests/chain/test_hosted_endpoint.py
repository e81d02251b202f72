"""The devnet example through a simulated hosted endpoint (batches of 100, 2,000-block log ranges, 40 requests
a second), on a chain at block 0 and on one standing at block 33,554,432: plan, apply and import cost the
same at both heights and stay within a hosted endpoint's limits; a fifth of requests failing does not stop a
plan."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from reconciler.market import ids
from tests.support.apply_helpers import example_in
from tests.support.rpcsim import Counts, EndpointSimulator, Limits

HIGH = 33_554_432  # 2**25: Base mainnet stood past it in 2025
HOSTED = Limits(max_batch=100, max_log_range=2_000, rate=40)
MAX_PLAN_HTTP, MAX_PLAN_CALLS, MAX_IMPORT_CALLS = 30, 400, 200


@dataclass
class Hosted:
    """A devnet at some height behind its own endpoint simulator, and the example pointed at the simulator."""

    height: int
    info: dict[str, Any]
    dir: Path
    sim: EndpointSimulator
    yaml: Path

    def env(self) -> dict[str, str]:
        return {
            "RECONCILE_DEVNET_DIR": str(self.dir),
            "RPC_URL": f"{self.sim.url}/v3/not-a-real-key",
            "DEMO_UPSTREAM_KEY": "demo-upstream-key",
            "DEVNET_PROVIDER_KEY": self.info["accounts"][1]["privateKey"],
        }

    def run(self, *args: str) -> tuple[Any, Counts]:
        """A command through the simulator, and what reached the simulator while it ran."""
        self.sim.reset_counts()
        r = CliRunner().invoke(cli, list(args), env=self.env())
        assert "not-a-real-key" not in r.output
        return r, self.sim.reset_counts()


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Hosted]]:
    cases: dict[int, Hosted] = {}
    try:
        for height in (0, HIGH):
            d = tmp_path_factory.mktemp(f"devnet-{height}")
            info, _ = devnet.up(d, port=free_port(), start_block=height)
            sim = EndpointSimulator(info["rpcUrl"], HOSTED).start()
            work = tmp_path_factory.mktemp(f"work-{height}")
            yaml = example_in(work)
            text = yaml.read_text().replace("  preset: devnet ", "  rpcUrl: env:RPC_URL\n  preset: devnet ")
            yaml.write_text(text)
            cases[height] = Hosted(height, info, d, sim, yaml)
        yield cases
    finally:
        for case in cases.values():
            case.sim.stop()
            devnet.down(case.dir)


def test_plan_apply_plan_cost_the_same_at_block_0_and_at_33_million(
    hosted: dict[int, Hosted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[int, tuple[int, int]] = {}
    for height, case in hosted.items():
        state = tmp_path / f"state-{height}"
        (tmp_path / str(height)).mkdir()
        monkeypatch.chdir(tmp_path / str(height))  # each chain its own ./.reconcile (both are 31337 at one address)
        r, counts = case.run("plan", str(case.yaml), "--detailed-exitcode")
        assert r.exit_code == 2, r.output
        assert counts.http_requests <= MAX_PLAN_HTTP and counts.calls <= MAX_PLAN_CALLS, counts
        assert counts.methods["eth_getLogs"] == 0
        seen[height] = (counts.http_requests, counts.calls)

        r, counts = case.run("apply", str(case.yaml), "--auto-approve", "--state-dir", str(state))
        assert r.exit_code == 0, r.output
        assert "converged" in r.output
        r, counts = case.run("plan", str(case.yaml), "--detailed-exitcode")
        assert r.exit_code == 0, r.output
        assert counts.http_requests <= MAX_PLAN_HTTP and counts.calls <= MAX_PLAN_CALLS, counts
        print(f"height {height}: plan {seen[height]}, converged plan {(counts.http_requests, counts.calls)}")
    assert seen[0] == seen[HIGH], seen


def test_import_recovers_base_ids_at_33_million_within_200_calls(hosted: dict[int, Hosted]) -> None:
    case = hosted[HIGH]
    provider = case.info["accounts"][1]["address"]
    args = ["import", "--network", "devnet", "--devnet-dir", str(case.dir), "--rpc-url", "env:RPC_URL"]
    r, counts = case.run(*args, "--provider", provider)
    if "is not a registered provider" in r.output:  # run alone: apply the example first
        r, _ = case.run("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.dir / "state"))
        assert r.exit_code == 0, r.output
        r, counts = case.run(*args, "--provider", provider)
    assert r.exit_code == 0, r.output
    for name in ("demo-chat", "demo-embeddings"):
        assert f'baseModelId: "{ids.base_model_id_for_name(name)}"' in r.output
    assert counts.calls <= MAX_IMPORT_CALLS, counts
    assert counts.refused_log_ranges == 0 and counts.log_blocks <= 2 * 1_001, counts  # two narrow windows
    print(f"import at {HIGH}: {counts}")
    assert f"({counts.http_requests} HTTP requests, {counts.calls} calls)" in r.stderr  # the client counts the same

    case.sim.set_limits(Limits(max_batch=100, max_log_range=2_000, rate=40, log_history=1))  # no old logs
    try:
        r, counts = case.run(*args, "--provider", provider)
    finally:
        case.sim.set_limits(HOSTED)
    assert r.exit_code == 0, r.output  # imported all the same, by modelId, saying why
    assert "# NOT MANAGED:" in r.output and "could not be read (" in r.output and "newest 1 blocks" in r.output


def test_plan_succeeds_when_a_fifth_of_requests_fail(hosted: dict[int, Hosted]) -> None:
    case = hosted[HIGH]
    for seed in range(5):
        case.sim.set_limits(Limits(max_batch=100, max_log_range=2_000, rate=40, fail_rate=0.2, seed=seed))
        try:
            r, counts = case.run("plan", str(case.yaml), "--detailed-exitcode")
        finally:
            case.sim.set_limits(HOSTED)
        assert r.exit_code in (0, 2), r.output
        assert counts.failed > 0 or seed < 4, counts
