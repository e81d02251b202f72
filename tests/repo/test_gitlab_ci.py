"""The GitLab CI example runs for real: gitlab-ci-local (pinned in tools/test/package.json) executes its validate
and plan jobs in shell mode against a devnet, in a scratch git repository laid out as an operator's would be.

Needs Debian's rsync (gitlab-ci-local copies the project with it); `make test` installs it when missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"
GCL = ROOT / "tools" / "test" / "node_modules" / ".bin" / "gitlab-ci-local"
PROVIDER = dev_accounts()[1]


def _desired(dep: Deployment) -> str:
    return (
        "network:\n"
        f"  chainId: {dep.chain_id}\n  diamond: '{dep.diamond}'\n  mor: '{dep.mor}'\n"
        "  rpcUrl: env:MORPHEUS_RPC_URL\n"
        f"signer:\n  address: '{PROVIDER.address}'\n  privateKey: env:MORPHEUS_SIGNER_KEY\n"
        f"provider:\n  address: '{PROVIDER.address}'\n  endpoint: provider.example.org:3333\n"
        '  stake: "0.2 MOR"\n'
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:UPSTREAM_KEY\n"
        "    resaleAllowed: true\n"
        'models:\n  - name: chat-a\n    upstream: u\n    upstreamModel: a-up\n    stake: "0.1 MOR"\n'
        '    bid:\n      pricePerSecond: "0.006 MOR"\n'
        "proxy:\n  modelsConfigPath: /nonexistent/forwarder-models.json\n"
        'policy:\n  maxSpendPerApply: "2 MOR"\n'
    )


def _repo(tmp: Path, desired: str) -> Path:
    repo = tmp / "provider-repo"
    (repo / "desired-state").mkdir(parents=True)
    shutil.copy(EXAMPLE, repo / ".gitlab-ci.yml")
    (repo / "desired-state" / "provider.yaml").write_text(desired)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://gitlab.example.org/provider/desired.git"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "desired state"], check=True)
    return repo


def _run(repo: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    if not GCL.exists():
        pytest.fail("gitlab-ci-local is not installed; `make test` installs tools/test/package.json")
    if shutil.which("rsync") is None:
        pytest.fail("rsync is missing; `make test` installs it (Debian package rsync)")
    env = {
        **os.environ,
        # the runner has the reconciler on PATH, so the job skips its pip install
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "HOME": str(repo.parent / "home"),
    }
    return subprocess.run(
        [
            str(GCL),
            "--variable", "CI_PIPELINE_SOURCE=merge_request_event",
            "--variable", f"MORPHEUS_RPC_URL={rpc_url}",
            "--no-color",
        ],
        capture_output=True, text=True, env=env, timeout=300, cwd=repo,
    )  # fmt: skip


def test_the_plan_jobs_never_get_a_signer_key_nor_apply() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    text = EXAMPLE.read_text()
    assert "apply" not in doc and "SIGNER" not in text.replace("# No signer key", "")
    scripts = [line for job in ("validate", "plan") for line in doc[job]["script"]]
    assert not any("echo $" in s or "printenv" in s or "set -x" in s for s in scripts)
    assert doc["plan"]["artifacts"]["paths"] == ["plan.md"] and doc["plan"]["allow_failure"] == {"exit_codes": [2]}


def test_gitlab_example_validates_and_plans_a_devnet_provider(
    anvil: Anvil, deployed: Deployment, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, _desired(deployed))
    proc = _run(repo, anvil.rpc_url)
    out = proc.stdout + proc.stderr
    # changes pending (nothing registered yet): plan exits 2, allowed, so the pipeline passes with a warning
    assert proc.returncode == 0, out
    assert "desired-state: valid (1 models" in out and "PASS  validate" in out
    assert "WARN 2" in out  # the plan job's exit code 2 (changes pending), allowed
    md = (repo / ".gitlab-ci-local" / "artifacts" / "plan" / "plan.md").read_text()  # the job's artifact
    assert (repo / "plan.md").read_text() == md  # also copied back to the project, as GitLab would expose it
    assert md.startswith("### `reconcile plan`: custom (chain 31337)")
    assert "`+ provider.register`" in md and "`+ bid.post` `bid on chat-a" in md  # the target in a code span
    assert "**Cost:** fees 0.3 MOR paid (kept by the marketplace), stake +0.3 MOR" in md
    assert anvil.rpc_url not in out and anvil.rpc_url not in md  # a CI variable, never printed


def test_gitlab_example_fails_on_an_invalid_desired_state(anvil: Anvil, deployed: Deployment, tmp_path: Path) -> None:
    repo = _repo(tmp_path, _desired(deployed).replace('stake: "0.2 MOR"', 'stake: "lots"'))
    proc = _run(repo, anvil.rpc_url)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "stake" in out and not (repo / "plan.md").exists()
