"""The shipped CI examples are checked, not just written: zizmor audits the GitHub workflows offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "ci" / "github-actions").glob("*.yml"))


def zizmor() -> str:
    exe = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(exe).exists():
        pytest.fail("zizmor is not installed; `make setup` installs the dev extras")
    return exe


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing_at_medium_or_above(workflow: Path) -> None:
    proc = subprocess.run(
        [zizmor(), "--offline", "--min-severity", "medium", str(workflow)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout


def _steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in doc["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_hygiene(workflow: Path) -> None:
    doc = yaml.safe_load(workflow.read_text())
    on = doc.get(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    assert "pull_request_target" not in on
    assert doc["permissions"] == {}
    for _job, step in _steps(doc):
        assert "${{" not in step.get("run", ""), f"expression inside run: in {workflow.name}"
        if "uses" in step:
            ref = step["uses"].split("@", 1)[1]
            assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]


def test_plan_workflow_never_sees_the_signer_key() -> None:
    text = (ROOT / "examples" / "ci" / "github-actions" / "reconcile-plan.yml").read_text()
    assert "SIGNER" not in text and "apply" not in yaml.safe_load(text)["jobs"]
    assert "--detailed-exitcode" in text and "--format markdown" in text


def test_plan_workflow_gives_each_network_of_the_example_fleet_its_own_rpc_secret() -> None:
    """docs/ci.md: on a fleet folder each network's rpcUrl is its own reference, so the plan job holds one RPC
    secret per network: every `env:NAME` rpcUrl of examples/desired-state/fleet is in the Plan step's env, taken
    from the secret of that name (and a single provider's MORPHEUS_RPC_URL still is)."""
    fleet = ROOT / "examples" / "desired-state" / "fleet"
    refs = set()
    for provider in fleet.glob("*/provider.yaml"):
        url = yaml.safe_load(provider.read_text())["network"]["rpcUrl"]
        assert url.startswith("env:"), (provider, url)
        refs.add(url.removeprefix("env:"))
    assert len(refs) == 2  # Base and Base Sepolia
    doc = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions" / "reconcile-plan.yml").read_text())
    (plan,) = [step for _job, step in _steps(doc) if step.get("name") == "Plan"]
    for name in refs | {"MORPHEUS_RPC_URL"}:
        assert plan["env"].get(name) == "${{ secrets." + name + " }}", (name, plan["env"])
    assert (
        "fleet" in (fleet / "fleet.yaml").read_text()
        and "--provider base-east" not in (fleet / "fleet.yaml").read_text().split("providers:")[0]
    )  # the comment says what works now: plan plans the whole fleet
